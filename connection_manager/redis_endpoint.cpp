#include "connection_manager/redis_endpoint.hpp"

#include <charconv>

namespace herald::cm {

std::optional<redis_endpoint> redis_endpoint::parse(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme) return std::nullopt;
  url.remove_prefix(scheme.size());
  if (!url.empty() && url.back() == '/') url.remove_suffix(1);
  if (url.find('/') != std::string_view::npos) return std::nullopt;  // no database index

  redis_endpoint ep;
  if (auto at = url.rfind('@'); at != std::string_view::npos) {
    auto auth = url.substr(0, at);
    url.remove_prefix(at + 1);
    // Accepts `:password` and `user:password`; only the password is used (Redis < 6 AUTH).
    auto colon = auth.find(':');
    ep.password = std::string(colon == std::string_view::npos ? auth : auth.substr(colon + 1));
  }

  std::string_view host = url;
  std::string_view port;
  if (!url.empty() && url.front() == '[') {
    auto close = url.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = url.substr(1, close - 1);
    auto rest = url.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  bool bracketed = !url.empty() && url.front() == '[';
  if (host.empty() || host.find_first_of("@ ") != std::string_view::npos) return std::nullopt;
  if (!bracketed && host.find(':') != std::string_view::npos) return std::nullopt;
  ep.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    ep.port = static_cast<std::uint16_t>(value);
  }
  return ep;
}

}  // namespace herald::cm
