// What a WebSocket session and the inbox commands need from the daemon, and nothing more: the
// limits, the store's pool and readers, the registry, the metrics, the token verifier and a way
// to tell a user's connections to recount. The server implements it; tests may too.
// Thread safety: every member may be called from any thread.
#pragma once
#include <chrono>
#include <cstdint>

#include "connection_manager/registry.hpp"
#include "gateway/config.hpp"
#include "gateway/metrics.hpp"
#include "gateway/token_verifier.hpp"
#include "persistence/read_batcher.hpp"
#include "persistence/store_pool.hpp"
#include "proto/state_frames.hpp"

namespace herald::gateway {

class session_services {
 public:
  virtual ~session_services() = default;
  virtual const config& cfg() const = 0;
  virtual bool draining() const = 0;
  virtual persistence::store_pool& pool() = 0;
  virtual persistence::read_batcher& readers() = 0;
  virtual cm::registry& registry() = 0;
  virtual gateway::metrics& stats() = 0;
  virtual const token_verifier& tokens() const = 0;
  // Every connection of the user, on every node, recounts (after a read, delete or read-all).
  virtual void user_count_changed(std::uint64_t user_id) = 0;
  // Every connection of the user, on every node, gets the change's state frame (call it before
  // user_count_changed so that the frame precedes the count).
  virtual void user_state_changed(std::uint64_t user_id, const proto::state_change& c) {
    (void)user_id, (void)c;
  }
  // How long after connecting events for a new user may still miss this node (a cluster bus
  // subscribing to the user's channel); zero on a single node.
  virtual std::chrono::milliseconds subscription_settle() const = 0;
  // Receipts: the client acked these ids (batched; ids the viewer cannot see are ignored).
  virtual void acked(const persistence::viewer&, const std::vector<std::uint64_t>&) {}
  // A registered connection of the viewer opened / closed (webhook presence).
  virtual void user_presence(const persistence::viewer&, bool /*opened*/) {}
  // Open WebSocket sessions, for the drain.
  virtual void session_opened() = 0;
  virtual void session_closed() = 0;
};

}  // namespace herald::gateway
