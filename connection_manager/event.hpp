// What travels on the bus between the code that changes notifications and every node's
// sessions. Small and self-contained so that it serialises to one Redis message. Pure values.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace herald::cm {

enum class event_type : std::uint8_t {
  notification,   // a persisted item was created: push the `notification` frame, count +1
  desktop,        // a transient popup: push the `desktop` frame as is
  count_changed,  // the matching sessions' counts may have changed: recount from the store
  revoke,         // close the matching sessions with 4003 `revoked` (a user cut off)
  state,          // a state frame (changed, read_all, removed): push `payload` as is
};

enum class event_target : std::uint8_t {
  users,     // users[]
  everyone,  // every session
  group,     // sessions whose token groups contain every pair of `group`
};

struct event {
  event_type type = event_type::notification;
  event_target target = event_target::users;
  std::vector<std::uint64_t> users;
  std::string group;     // canonical audience path, for event_target::group
  std::uint64_t id = 0;  // notification id (notification events; 0 otherwise)
  // notification: the encoded frame prefix (proto::encode_notification_prefix);
  // desktop, state: the whole frame; count_changed, revoke: unused.
  std::shared_ptr<const std::string> payload;
  // state: the change's seq (sessions hold a count that reflects a change until its state
  // frame went out), and for a user's change to a group item that item's audience (only the
  // user's sessions whose groups are in it get the frame). 0 / empty otherwise.
  std::uint64_t seq = 0;
  std::string audience{};
};

}  // namespace herald::cm
