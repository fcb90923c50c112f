// Puts a node's notification events in id order before they reach its sessions. Ids commit in
// increasing order across every node (persistence/sql_store_writes.cpp), but each node
// publishes through Redis on its own, so a node may see id 11 from one node before id 10 from
// another, however late. Notification events are therefore held until an order fence says
// nothing lower can still come: for each round the sequencer asks every other node (through
// the bus) and this node's own writer to answer once everything they committed before the
// question has been published; an answer travels after those events (each node publishes on
// one connection, in order), so once every answer of a round is in, every event with an id
// below one held when the round was asked has arrived, and those held go out in id order.
// Rounds run one at a time, each covering what arrived before it was asked. `window` caps the
// hold: an event not released by a round within it goes out anyway (lowest id first), and a
// round not answered within it is given up (a node that died, a bus that is down; a node not
// heard from for a few seconds is no longer asked). Without a fence the window alone orders
// (events held `window`, then released in id order); with a window of zero (one node, whose
// writer publishes in commit order) everything passes at once. Other events pass at once (the
// count logic does not depend on their order).
// Thread safety: push() and confirmed() from any thread; `deliver` and the fence's functions
// run on the sequencer's strand.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "connection_manager/event.hpp"

namespace herald::gateway {

class event_sequencer {
 public:
  using deliver_fn = std::function<void(std::shared_ptr<const cm::event>)>;
  struct fence {
    // The other nodes of the moment (each must answer a round).
    std::function<std::vector<std::string>()> peers;
    // Asks those nodes and this node's writer to answer `round`; the answers come back through
    // confirmed() (this node's with an empty name).
    std::function<void(std::uint64_t round)> ask;
  };
  event_sequencer(boost::asio::io_context& io, std::chrono::milliseconds window, deliver_fn deliver,
                  fence f = {});

  void push(std::shared_ptr<const cm::event> e);
  // `node` (empty: this node's writer) answered `round`. Call it after the events that node
  // published before answering have been pushed.
  void confirmed(std::string node, std::uint64_t round);

  // Events held at the moment (for tests and metrics).
  std::size_t held() const { return held_count_.load(std::memory_order_relaxed); }
  // Events that went out at the window's end rather than after a round (metrics): each may
  // have overtaken a lower id that was still on its way.
  std::uint64_t released_at_window() const { return at_window_.load(std::memory_order_relaxed); }
  // Rounds given up at the window's end (metrics).
  std::uint64_t rounds_given_up() const { return given_up_.load(std::memory_order_relaxed); }

 private:
  struct entry {
    std::chrono::steady_clock::time_point due;
    std::uint64_t arrival = 0;
    std::shared_ptr<const cm::event> e;
  };
  void start_round();
  void finish_round();
  void on_timer();
  void arm();
  void release(std::multimap<std::uint64_t, entry>::iterator it);

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::chrono::milliseconds window_;
  deliver_fn deliver_;
  fence fence_;
  boost::asio::steady_timer timer_;
  // Strand only.
  std::multimap<std::uint64_t, entry> held_;  // by id
  std::uint64_t arrivals_ = 0;
  std::uint64_t rounds_ = 0;
  std::uint64_t round_ = 0;            // the round asked and not answered yet, 0 when none
  std::uint64_t round_covers_ = 0;     // arrivals up to here were held when it was asked
  std::set<std::string> round_waits_;  // who has not answered it yet
  std::chrono::steady_clock::time_point round_deadline_;
  bool armed_ = false;
  std::chrono::steady_clock::time_point armed_at_;
  std::uint64_t timer_gen_ = 0;
  std::atomic<std::size_t> held_count_{0};
  std::atomic<std::uint64_t> at_window_{0};
  std::atomic<std::uint64_t> given_up_{0};
};

}  // namespace herald::gateway
