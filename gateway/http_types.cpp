#include "gateway/http_types.hpp"

#include <charconv>

#include "proto/notify_request.hpp"

namespace herald::gateway {

response json_response(http::status status, std::string body) {
  response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response error_response(const proto::api_error& e) {
  return json_response(static_cast<http::status>(e.status), proto::encode_error(e));
}

response no_content() {
  response res{http::status::no_content, 11};
  return res;
}

std::optional<std::uint64_t> parse_id(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == 0 ||
      v > proto::max_safe_id) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> target::param(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

}  // namespace

target parse_target(std::string_view raw) {
  target t;
  const auto q = raw.find('?');
  if (!decode(raw.substr(0, q), t.path, false)) t.bad = true;
  if (q == std::string_view::npos) return t;
  std::string_view rest = raw.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string k, v;
    if (!decode(pair.substr(0, eq), k, true) ||
        !decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), v, true)) {
      t.bad = true;
      continue;
    }
    t.query.emplace(std::move(k), std::move(v));  // the first of a repeated name wins
  }
  return t;
}

std::string_view bearer_token(const request& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string_view v = it->value();
  if (v.size() < 7) return {};
  std::string scheme(v.substr(0, 7));
  for (auto& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (scheme != "bearer ") return {};
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}

}  // namespace herald::gateway
