#include "persistence/store_url.hpp"

#include <charconv>
#include <stdexcept>

namespace herald::persistence {
namespace {

constexpr std::string_view mysql_prefix = "mysql://";
constexpr std::string_view sqlite_prefix = "sqlite:";

[[noreturn]] void bad(const std::string& why) {
  throw std::invalid_argument("store URL: " + why +
                              " (expected sqlite:PATH or mysql://USER:PASS@HOST:PORT/DB)");
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string unescape(std::string_view s, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) bad(std::string("bad %-escape in ") + what);
    const int hi = hex(s[i + 1]);
    const int lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) bad(std::string("bad %-escape in ") + what);
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

std::string parse_sqlite_url(const std::string& url) {
  if (url.rfind(sqlite_prefix, 0) != 0) bad("not a sqlite URL");
  std::string path = url.substr(sqlite_prefix.size());
  if (path.empty()) bad("sqlite URL without a path");
  return path;
}

mysql_url parse_mysql_url(const std::string& url) {
  if (url.rfind(mysql_prefix, 0) != 0) bad("not a mysql URL");
  std::string_view rest(url);
  rest.remove_prefix(mysql_prefix.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) bad("mysql URL without /DB");
  std::string_view authority = rest.substr(0, slash);
  std::string_view db = rest.substr(slash + 1);
  if (const auto q = db.find('?'); q != std::string_view::npos)
    bad("mysql URL options are not supported");
  if (db.empty() || db.find('/') != std::string_view::npos)
    bad("mysql URL needs one database name");
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) bad("mysql URL without USER@");
  std::string_view credentials = authority.substr(0, at);
  std::string_view hostport = authority.substr(at + 1);
  mysql_url out;
  const auto colon = credentials.find(':');
  out.user = unescape(credentials.substr(0, colon), "user");
  if (colon != std::string_view::npos)
    out.password = unescape(credentials.substr(colon + 1), "password");
  if (out.user.empty()) bad("mysql URL with an empty user");
  const auto pc = hostport.rfind(':');
  if (pc != std::string_view::npos && hostport.find(']') == std::string_view::npos) {
    std::string_view port = hostport.substr(pc + 1);
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
      bad("mysql URL port must be 1..65535");
    }
    out.port = p;
    hostport = hostport.substr(0, pc);
  }
  if (hostport.empty()) bad("mysql URL without a host");
  out.host = std::string(hostport);
  out.database = std::string(db);
  return out;
}

}  // namespace herald::persistence
