#include "gateway/state_events.hpp"

#include <charconv>

#include "gateway/event_targets.hpp"
#include "proto/server_frames.hpp"

namespace herald::gateway {

namespace {
constexpr std::uint64_t max_safe = (std::uint64_t{1} << 53) - 1;

cm::event with_frame(const proto::state_change& c) {
  cm::event e;
  e.type = cm::event_type::state;
  e.id = c.id;
  e.seq = c.seq;
  e.payload = std::make_shared<const std::string>(proto::encode_state(c));
  return e;
}
}  // namespace

cm::event state_event_for_user(std::uint64_t user_id, const proto::state_change& c) {
  cm::event e = with_frame(c);
  e.target = cm::event_target::users;
  e.users = {user_id};
  e.audience = c.audience;
  return e;
}

bool state_visible(const std::string& audience, const proto::group_set& groups) {
  if (audience.empty()) return true;
  std::string why;
  const auto a = proto::audience::parse(audience, &why);
  return a && a->matches(groups);
}

cm::event state_event_for_item(const persistence::item_ref& ref, proto::removal_reason reason) {
  proto::state_change c;
  c.type = proto::change_type::removed;
  c.id = ref.id;
  c.reason = reason;
  c.seq = ref.seq;
  cm::event e = with_frame(c);
  const cm::event target = event_for(e.type, ref.kind, ref.user_id, ref.audience);
  e.target = target.target;
  e.users = target.users;
  e.group = target.group;
  return e;
}

std::string encode_sync_page(std::span<const proto::notification> items, bool items_more,
                             const std::optional<persistence::change_page>& changes) {
  if (!changes) return proto::encode_sync(items, items_more);
  return proto::encode_sync_with_changes(items, changes->changes, items_more || changes->more,
                                         changes->reset);
}

std::optional<std::string> parse_changes_since(const std::optional<std::string>& raw,
                                               bool has_since, std::optional<std::uint64_t>& out) {
  out.reset();
  if (!raw) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), v);
  if (raw->empty() || ec != std::errc() || p != raw->data() + raw->size() || v > max_safe) {
    return "changes_since must be a non-negative integer seq";
  }
  if (!has_since) return "changes_since needs since";
  out = v;
  return std::nullopt;
}

}  // namespace herald::gateway
