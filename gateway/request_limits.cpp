#include "gateway/request_limits.hpp"

namespace herald::gateway {

bool api_key_ok(const config& cfg, const request& req) {
  const std::string_view presented = bearer_token(req);
  if (presented.empty()) return false;
  bool ok = false;
  // Compare every key in full so that timing does not tell which prefix matched.
  for (const auto& key : cfg.api_keys) {
    if (key.size() != presented.size()) continue;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < key.size(); ++i)
      diff |= static_cast<unsigned char>(key[i] ^ presented[i]);
    ok = ok || diff == 0;
  }
  return ok;
}

bool public_api_route(const config& cfg, const target& t) {
  return t.path == "/v1/ws" || t.path.rfind("/v1/inbox", 0) == 0 ||
         (t.path == "/v1/dev/token" && cfg.dev);
}

bool open_internal_route(const config& cfg, const target& t) {
  return t.path == "/healthz" || t.path == "/readyz" || t.path == "/metrics" ||
         (t.path == "/v1/dev/config" && cfg.dev);
}

bool admin_page(const target& t) { return t.path == "/admin" || t.path.rfind("/admin/", 0) == 0; }

body_plan plan_body(const config& cfg, bool internal, const request& head, const target& t) {
  body_plan plan{cfg.max_body_bytes, false};
  if (!internal) {
    // Only API routes take a body; static pages and unknown routes answer from the head.
    plan.answer_without_body = !public_api_route(cfg, t);
    return plan;
  }
  if (admin_page(t)) {
    plan.answer_without_body = true;
    return plan;
  }
  if (!open_internal_route(cfg, t) && !api_key_ok(cfg, head)) {
    plan.answer_without_body = true;  // 401 before a byte of the body is read
    return plan;
  }
  if (head.method() == http::verb::post && t.path == "/v1/notify/batch")
    plan.limit = cfg.max_batch_bytes;
  return plan;
}

}  // namespace herald::gateway
