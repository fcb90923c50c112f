// HTTP types shared by the listeners and handlers, and helpers to build JSON answers.
#pragma once
#include <boost/beast/http.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "proto/api_error.hpp"

namespace herald::gateway {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

response json_response(http::status status, std::string body);
response error_response(const proto::api_error& e);
response no_content();

// The target split into a path and decoded query parameters.
struct target {
  std::string path;
  std::map<std::string, std::string> query;
  bool bad = false;  // malformed percent-encoding
  std::optional<std::string> param(const std::string& name) const;
};
target parse_target(std::string_view raw);

// "Bearer X" -> X; empty when absent or of another scheme.
std::string_view bearer_token(const request& req);

// A notification id in a path or a query parameter: decimal digits only, from 1 to 2^53 - 1 (the
// ids JSON carries exactly). Anything else (empty, a sign, a space, zero, past the bound) is none.
std::optional<std::uint64_t> parse_id(std::string_view s);

}  // namespace herald::gateway
