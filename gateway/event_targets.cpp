#include "gateway/event_targets.hpp"

namespace herald::gateway {

cm::event event_for(cm::event_type type, proto::item_kind kind, std::uint64_t user_id,
                    const std::string& audience) {
  cm::event e;
  e.type = type;
  switch (kind) {
    case proto::item_kind::personal:
      e.target = cm::event_target::users;
      e.users = {user_id};
      break;
    case proto::item_kind::broadcast:
      e.target = cm::event_target::everyone;
      break;
    case proto::item_kind::group:
      e.target = cm::event_target::group;
      e.group = audience;
      break;
  }
  return e;
}

cm::event event_for(cm::event_type type, const proto::notify_request& r) {
  switch (r.target) {
    case proto::target_kind::users: {
      cm::event e = event_for(type, proto::item_kind::personal, 0, {});
      e.users = r.user_ids;
      return e;
    }
    case proto::target_kind::everyone:
      return event_for(type, proto::item_kind::broadcast, 0, {});
    case proto::target_kind::group:
      return event_for(type, proto::item_kind::group, 0, r.group->canonical());
    case proto::target_kind::user:
      break;
  }
  return event_for(type, proto::item_kind::personal, r.user_id, {});
}

}  // namespace herald::gateway
