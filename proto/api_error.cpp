#include "proto/api_error.hpp"

#include "proto/json_text.hpp"

namespace herald::proto {
namespace {

api_error make(int status, const char* code, std::string message, std::string field = {}) {
  return api_error{status, code, std::move(message), std::move(field)};
}

}  // namespace

api_error invalid_argument(std::string field, std::string message) {
  return make(400, "invalid_argument", std::move(message), std::move(field));
}
api_error unauthenticated(std::string message) {
  return make(401, "unauthenticated", std::move(message));
}
api_error forbidden(std::string message) { return make(403, "forbidden", std::move(message)); }
api_error not_found(std::string message) { return make(404, "not_found", std::move(message)); }
api_error method_not_allowed(std::string message) {
  return make(405, "method_not_allowed", std::move(message));
}
api_error too_large(std::string message) { return make(413, "too_large", std::move(message)); }
api_error unavailable(std::string message) { return make(503, "unavailable", std::move(message)); }
api_error internal_error(std::string message) { return make(500, "internal", std::move(message)); }

std::string encode_error(const api_error& e) {
  std::string out;
  out.reserve(48 + e.code.size() + e.message.size() + e.field.size());
  out.append(R"({"error":{"code":)");
  append_json_string(out, e.code);
  out.append(R"(,"message":)");
  append_json_string(out, e.message);
  if (!e.field.empty()) {
    out.append(R"(,"field":)");
    append_json_string(out, e.field);
  }
  out.append("}}");
  return out;
}

}  // namespace herald::proto
