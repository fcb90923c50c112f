// The cluster bus over Redis pub/sub (HERALD_BUS=redis://host:port). A node delivers its own
// events locally at once and publishes them; it delivers what other nodes publish and ignores
// its own messages, so each event reaches each session once. Channels (see README.md):
//   <prefix>bus:all         everyone, group and large users events; every node subscribes
//   <prefix>bus:user:<id>   events for one user; only nodes holding that user subscribe
//   <prefix>bus:resync      a node id: that node's publisher is back after an outage, so its
//                           events of the meantime were lost; every other node resyncs
//   <prefix>bus:fence       the order fence (gateway/event_sequencer.hpp): each node's heartbeat,
//                           its questions "has everything you committed before now been
//                           published?", and the other nodes' answers; every node subscribes
// One publishing and one subscribing hiredis connection, driven by the node's io_context and
// reconnected with capped backoff. Events published while Redis is down reach local sessions
// only; on_lost tells the node when its own subscription is gone (its sessions then take what
// they are sent through the store, see gateway/unread_tracker.hpp), and on_reconnect tells it
// to resynchronise its sessions from the store, when its own subscription comes back and when
// another node's publisher does.
// Thread safety: every member may be called from any thread; the event handler, on_lost and
// on_reconnect run on the bus strand (the handler also on the publishing thread, for local
// delivery). Destroy the bus before its io_context.
#pragma once
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "connection_manager/bus.hpp"

namespace herald::cm {

class redis_bus final : public bus {
 public:
  struct options {
    std::string url;      // redis://[:password@]host[:port]
    std::string node_id;  // must differ between nodes
    std::string prefix = "herald:";
    // A users event with more users than this crosses Redis once on the shared channel
    // instead of once per user channel.
    std::size_t per_user_limit = 64;
    // How long a user channel stays subscribed after the user's last local session left, so
    // that a reload does not unsubscribe and resubscribe.
    std::chrono::milliseconds unsubscribe_after{10000};
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{5000};
    // Two unanswered PINGs reconnect: a frozen Redis is seen within about 3 s.
    std::chrono::milliseconds ping_interval{1000};
    // Each node says it is there on the fence channel this often; a node not heard from for
    // peer_timeout is no longer asked (peers()).
    std::chrono::milliseconds heartbeat_interval{1000};
    std::chrono::milliseconds peer_timeout{3500};
  };
  struct counters {
    std::uint64_t published = 0;  // messages handed to Redis
    std::uint64_t dropped = 0;    // messages not sent because Redis was down
    std::uint64_t received = 0;   // events from other nodes delivered to the handler
    std::uint64_t malformed = 0;  // messages that did not decode
  };

  // Throws std::invalid_argument for a bad URL or an empty node id.
  redis_bus(boost::asio::io_context& io, options opts);
  ~redis_bus() override;

  void start(handler on_event) override;
  void publish(const event& e) override;
  bool healthy() const override;
  void stop() override;

  // Runs whenever events could have been missed: this node's subscription comes back after a
  // lost connection or a failed first attempt, or another node announces that its publisher
  // is back. Set before start().
  void set_on_reconnect(std::function<void()> f);
  // Runs when this node's subscription is lost (the subscribing connection went away, or the
  // publisher found Redis unresponsive): from then on events of other nodes may be missed,
  // until on_reconnect. Set before start().
  void set_on_lost(std::function<void()> f);
  // Runs once the subscription has been back for the longest reconnect backoff (backoff_max
  // and its jitter) + 1 s without being lost again:
  // by then every other node's publisher has had time to reconnect too (and to announce it).
  // Set before start().
  void set_on_settled(std::function<void()> f);
  // This node's subscription is confirmed (events of other nodes reach it).
  bool subscribed() const;
  // Call on each local session's open and close: the bus subscribes to the user's channel
  // while the node holds at least one of their sessions.
  void user_connected(std::uint64_t user);
  void user_disconnected(std::uint64_t user);
  // The order fence. fence_request asks every other node to answer `round` once what it
  // committed before the question arrived has been published; each one's on_fence_request
  // (bus strand) gets the asking node and the round, and its fence_answer, called after those
  // publishes (from the same thread or strand as them), reaches the asker after them (one
  // publishing connection, in order) as on_fence_answer(answering node, round) on the bus
  // strand. Set the handlers before start().
  using fence_fn = std::function<void(const std::string& node, std::uint64_t round)>;
  void set_on_fence_request(fence_fn f);
  void set_on_fence_answer(fence_fn f);
  void fence_request(std::uint64_t round);
  void fence_answer(const std::string& to, std::uint64_t round);
  // The other nodes heard on the fence channel within peer_timeout. Any thread.
  std::vector<std::string> peers() const;
  // Channels currently confirmed by Redis (the shared one included).
  std::size_t subscribed_channels() const;
  counters stats() const;

 private:
  struct core;
  std::shared_ptr<core> core_;
};

}  // namespace herald::cm
