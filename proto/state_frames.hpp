// State frames (API.md v1.1 "State events"): what changed about an item a user can see, with
// the change's seq, and the sync frame that carries missed changes. Pure; thread-safe.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proto/notification.hpp"

namespace herald::proto {

enum class change_type { read, read_all, removed };
enum class removal_reason { deleted, retracted, expired };

struct state_change {
  change_type type = change_type::read;
  std::uint64_t id = 0;  // the item; for read_all the highest id it covers (up_to)
  removal_reason reason = removal_reason::deleted;
  std::uint64_t seq = 0;
  // Not part of the frame: the item's audience when a user's change is to a group item (only
  // that user's connections in the audience get the frame); empty otherwise.
  std::string audience{};
};

std::string_view to_string(removal_reason r);

// {"type":"changed","id":N,"read":true,"seq":S}, {"type":"read_all","up_to":ID,"seq":S} or
// {"type":"removed","id":N,"reason":"…","seq":S}.
void encode_state(const state_change& c, std::string& out);
std::string encode_state(const state_change& c);

// {"type":"sync","notifications":[…],"changes":[…],"more":bool[,"reset":true]}
std::string encode_sync_with_changes(std::span<const notification> items,
                                     std::span<const state_change> changes, bool more, bool reset);

}  // namespace herald::proto
