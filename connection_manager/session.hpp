// What the connection manager knows of a connected WebSocket: who it is for and how to hand it
// frames. Every member is used on the session's shard thread only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "proto/audience.hpp"

namespace herald::cm {

class session {
 public:
  session(std::uint64_t user_id, proto::group_set groups)
      : user_id_(user_id), groups_(std::move(groups)) {}
  virtual ~session() = default;
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  std::uint64_t user_id() const { return user_id_; }
  const proto::group_set& groups() const { return groups_; }

  // A persisted item for this session: `prefix` is proto::encode_notification_prefix.
  virtual void on_notification(std::uint64_t id,
                               const std::shared_ptr<const std::string>& prefix) = 0;
  // A whole frame to send as is (desktop).
  virtual void on_frame(const std::shared_ptr<const std::string>& frame) = 0;
  // A state frame (changed, read_all, removed) with its seq and, for a user's change to a group
  // item, the item's audience (empty otherwise). By default the frame is sent as is.
  virtual void on_state(const std::shared_ptr<const std::string>& frame, std::uint64_t /*seq*/,
                        const std::string& /*audience*/) {
    on_frame(frame);
  }
  // The session's unread count may have changed: recount from the store.
  virtual void on_count_changed() = 0;
  // Close with a WebSocket close code (evicted past the per-user cap, shutdown).
  virtual void close_with(std::uint16_t code, const char* reason) = 0;
  // Once a second (keep-alive pings).
  virtual void on_tick(std::int64_t /*now_s*/) {}
  // Events for this session may have been lost (the bus was down): send from the store what it
  // missed, in id order, then its count. By default only the count.
  virtual void on_resync() { on_count_changed(); }
  // The node's bus subscription is lost: events of other nodes may be missed from now until
  // on_bus_back (on_resync repairs what was missed meanwhile). By default nothing.
  virtual void on_bus_lost() {}
  virtual void on_bus_back() {}
  // None of these may unregister the session synchronously: the registry may be iterating.

 private:
  friend class registry;
  std::uint64_t user_id_;
  proto::group_set groups_;
  std::size_t slot_ = 0;             // index in its shard's list of sessions
  std::uint64_t connected_seq_ = 0;  // order of arrival, for evicting the oldest
};

}  // namespace herald::cm
