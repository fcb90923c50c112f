// Puts a node's notification events back in id order before they reach its sessions. Ids
// commit in increasing order across every node, but two nodes publish through Redis
// independently, so a node may see id 11 from one before id 10 from another. Each
// notification event is held for a short window and released in id order; other events pass
// at once (the count logic does not depend on their order). With a window of zero (one node,
// whose writer publishes in commit order) everything passes at once.
// Thread safety: push() from any thread; `deliver` runs on the sequencer's strand.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <queue>
#include <vector>

#include "connection_manager/event.hpp"

namespace herald::gateway {

class event_sequencer {
 public:
  using deliver_fn = std::function<void(std::shared_ptr<const cm::event>)>;
  event_sequencer(boost::asio::io_context& io, std::chrono::milliseconds window,
                  deliver_fn deliver);

  void push(std::shared_ptr<const cm::event> e);
  // Events held at the moment (for tests and metrics).
  std::size_t held() const { return held_count_.load(std::memory_order_relaxed); }

 private:
  struct entry {
    std::chrono::steady_clock::time_point due;
    std::shared_ptr<const cm::event> e;
  };
  struct later_id {
    bool operator()(const entry& a, const entry& b) const { return a.e->id > b.e->id; }
  };
  void release();
  void arm();

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::chrono::milliseconds window_;
  deliver_fn deliver_;
  boost::asio::steady_timer timer_;
  std::priority_queue<entry, std::vector<entry>, later_id> heap_;
  std::atomic<std::size_t> held_count_{0};
  bool armed_ = false;
};

}  // namespace herald::gateway
