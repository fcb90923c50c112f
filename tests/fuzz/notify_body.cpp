// Notify and batch bodies: the depth pre-scan, then nlohmann's parse and Herald's validation.
// Whatever the bytes, an accepted request respects the contract's sizes.
#include <cstdint>
#include <string_view>

#include "proto/json_text.hpp"
#include "proto/notify_request.hpp"

using namespace herald::proto;

namespace {
void check(const notify_request& r) {
  if (utf8_code_points(r.title) < 1 || utf8_code_points(r.title) > 200) __builtin_trap();
  if (r.content.size() > 16384 || r.data_json.size() > 4096) __builtin_trap();
  if (r.target == target_kind::users && (r.user_ids.empty() || r.user_ids.size() > 1000))
    __builtin_trap();
  if (r.target == target_kind::user && (r.user_id == 0 || r.user_id > max_safe_id))
    __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto one = parse_notify(body);
  if (auto* r = std::get_if<notify_request>(&one)) {
    check(*r);
    std::vector<std::uint64_t> ids(r->user_ids.size(), 1);
    (void)encode_notify_answer(*r, ids, 1);
  } else if (std::get<api_error>(one).status != 400) {
    __builtin_trap();
  }
  auto batch = parse_notify_batch(body);
  if (auto* entries = std::get_if<std::vector<notify_parse_result>>(&batch)) {
    if (entries->empty() || entries->size() > 1000) __builtin_trap();
    for (const auto& e : *entries) {
      if (auto* r = std::get_if<notify_request>(&e)) check(*r);
    }
  }
  return 0;
}
