// Where a Redis server is, parsed from a `redis://[:password@]host[:port][/]` URL. Pure value.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::cm {

struct redis_endpoint {
  std::string host;
  std::uint16_t port = 6379;
  std::string password;  // empty: no AUTH

  // nullopt for anything that is not a redis:// URL with a host; IPv6 hosts go in brackets.
  static std::optional<redis_endpoint> parse(std::string_view url);
};

}  // namespace herald::cm
