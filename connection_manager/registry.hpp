// Who is connected to this node: user id -> sessions, sharded by user over the I/O threads.
// Every session of a user lives on the shard (io_context, one thread) its user id hashes to, so
// a personal event costs one post and a shard's maps are touched by its own thread only: no
// locks. Broadcasts loop over each shard's sessions on that shard's thread, sharing one encoded
// frame. Thread safety: add/remove/on-shard queries on the session's shard thread only; deliver,
// count, presence and totals from any thread.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "connection_manager/event.hpp"
#include "connection_manager/session.hpp"

namespace herald::cm {

struct node_totals {
  std::size_t connections = 0;
  std::size_t users = 0;
};

class registry {
 public:
  registry(std::vector<boost::asio::io_context*> shards, std::size_t max_per_user);

  std::size_t shard_count() const { return shards_.size(); }
  std::size_t shard_for(std::uint64_t user_id) const;
  boost::asio::io_context& context(std::size_t index) { return *shards_[index]->ctx; }

  // Called on a shard thread when a user's first local session arrives / last one leaves (the
  // Redis bus subscribes to the user's channel meanwhile). Set before any session is added.
  void set_user_hooks(std::function<void(std::uint64_t)> first,
                      std::function<void(std::uint64_t)> last) {
    on_first_ = std::move(first);
    on_last_ = std::move(last);
  }

  // On the user's shard thread. Past the per-user cap the oldest sessions get close_with(1008).
  void add(session& s);
  void remove(session& s);
  // On the session's shard thread: its token was refreshed with these groups; group events
  // follow them from now on.
  void regroup(session& s, proto::group_set groups);

  // Delivers e to the matching local sessions; `done(matched)` runs afterwards on one of the
  // shard threads (post it onward as needed).
  void deliver(std::shared_ptr<const event> e, std::function<void(std::size_t)> done = {});
  // Closes the user's local sessions with 4003 `revoked`; `done(closed)` as for deliver().
  void close_user(std::uint64_t user_id, std::function<void(std::size_t)> done = {});
  // How many local sessions e would reach (its type is ignored).
  void count(std::shared_ptr<const event> e, std::function<void(std::size_t)> done);
  void presence(std::uint64_t user_id, std::function<void(std::size_t)> done);
  void totals(std::function<void(node_totals)> done);
  // This node's user -> connection count, gathered over the shards.
  void snapshot(std::function<void(std::unordered_map<std::uint64_t, std::uint32_t>)> done);
  // Calls on_tick(now_s) on every session, each on its shard thread, without copying lists.
  void tick(std::int64_t now_s);
  // Every session, on its shard thread (shutdown, resync).
  void for_each(std::function<void(session&)> fn, std::function<void()> done = {});
  // Calls on_bus_lost() on every session, and on each one added until bus_back_all(): the bus
  // lost its subscription. Then on_bus_back() on every session: events flow again. Any thread.
  void bus_lost_all();
  void bus_back_all();
  // Calls on_resync() on every session (after a bus outage); `done` after the last call.
  void resync_all(std::function<void()> done = {});

 private:
  struct shard {
    boost::asio::io_context* ctx = nullptr;
    std::vector<session*> all;
    std::unordered_map<std::uint64_t, std::vector<session*>> by_user;
    std::unordered_map<std::string, std::unordered_set<session*>> by_pair;  // "kind/id"
    std::uint64_t next_seq = 0;
  };
  // Calls fn(s) for every session of `sh` that e targets; returns how many.
  std::size_t visit(shard& sh, const event& e, const std::function<void(session&)>* fn);
  template <class Fn>
  std::size_t visit_matching(shard& sh, const event& e, Fn&& fn);

  std::vector<std::unique_ptr<shard>> shards_;
  std::size_t max_per_user_;
  std::function<void(std::uint64_t)> on_first_, on_last_;
  std::atomic<bool> bus_lost_{false};
};

}  // namespace herald::cm
