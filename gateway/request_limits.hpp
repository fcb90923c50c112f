// What a request head allows before its body is read: the route's body limit, or an answer
// from the head alone (an unknown route, no valid API key) without reading the body. Pure
// functions of the settings and the head; thread-safe.
#pragma once
#include <cstddef>

#include "gateway/config.hpp"
#include "gateway/http_types.hpp"

namespace herald::gateway {

struct body_plan {
  std::size_t limit = 0;
  bool answer_without_body = false;
};
body_plan plan_body(const config& cfg, bool internal, const request& head, const target& t);

// The request carries one of the configured API keys (compared in constant time).
bool api_key_ok(const config& cfg, const request& req);

// Routes of the public listener that take a body; internal routes that need no key; the console.
bool public_api_route(const config& cfg, const target& t);
bool open_internal_route(const config& cfg, const target& t);
bool admin_page(const target& t);

}  // namespace herald::gateway
