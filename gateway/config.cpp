#include "gateway/config.hpp"

#include <openssl/rand.h>
#include <toml++/toml.h>
#include <cctype>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "connection_manager/amqp_consumer.hpp"
#include "connection_manager/stream_consumer.hpp"
#include "gateway/jwks_keys.hpp"
#include "gateway/jwks_source.hpp"
#include "persistence/store.hpp"
#include "persistence/webhook_events.hpp"

namespace herald::gateway {
namespace {

using setter = std::function<void(config&, const std::string&)>;

std::uint64_t parse_uint(const std::string& v, std::uint64_t min, std::uint64_t max) {
  std::uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || out < min || out > max) {
    throw std::invalid_argument("must be an integer from " + std::to_string(min) + " to " +
                                std::to_string(max) + ", got '" + v + "'");
  }
  return out;
}

endpoint parse_endpoint(const std::string& v) {
  const auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw std::invalid_argument("must be HOST:PORT, got '" + v + "'");
  }
  endpoint e;
  e.host = v.substr(0, colon);
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') {
    e.host = e.host.substr(1, e.host.size() - 2);
  }
  try {
    e.port = static_cast<std::uint16_t>(parse_uint(v.substr(colon + 1), 1, 65535));
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("must be HOST:PORT with a port from 1 to 65535, got '" + v + "'");
  }
  return e;
}

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::string read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read the file '" + path + "'");
  std::string out;
  char chunk[8192];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    out.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (out.size() > (1u << 20))
      throw std::invalid_argument("the file '" + path + "' is over 1 MiB");
  }
  return out;
}

// A JWKS URL is checked here and fetched later; a file must hold a usable key set now.
void check_jwks(const std::string& v) {
  if (v.empty()) throw std::invalid_argument("must not be empty");
  if (jwks_source::looks_like_url(v)) {
    if (auto why = jwks_source::check_url(v); !why.empty()) throw std::invalid_argument(why);
    return;
  }
  try {
    std::vector<std::string> skipped;
    if (parse_jwks(read_small_file(v), &skipped).empty()) {
      throw std::invalid_argument("holds no usable RS256 or ES256 key");
    }
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("'" + v + "' " + e.what());
  }
}

std::string check_bus(const std::string& v) {
  if (v.empty()) return v;
  const std::string prefix = "redis://";
  if (v.rfind(prefix, 0) != 0)
    throw std::invalid_argument("must be redis://HOST:PORT, got '" + v + "'");
  parse_endpoint(v.substr(prefix.size()));
  return v;
}

const std::map<std::string, setter>& settings() {
  static const std::map<std::string, setter> table = {
      {"public_addr", [](config& c, const std::string& v) { c.public_addr = parse_endpoint(v); }},
      {"internal_addr", [](config& c, const std::string& v) { c.internal_addr = parse_endpoint(v); }},
      {"jwt_secret",
       [](config& c, const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         c.jwt_secret = v;
       }},
      {"api_key",
       [](config& c, const std::string& v) {
         auto keys = split_list(v);
         if (keys.empty()) throw std::invalid_argument("must hold at least one key");
         c.api_keys = std::move(keys);
       }},
      {"store",
       [](config& c, const std::string& v) {
         if (auto why = persistence::check_store_url(v); !why.empty()) throw std::invalid_argument(why);
         c.store = v;
       }},
      {"bus", [](config& c, const std::string& v) { c.bus = check_bus(v); }},
      {"node_id",
       [](config& c, const std::string& v) {
         if (v.empty() || v.size() > 128) throw std::invalid_argument("must be 1 to 128 characters");
         c.node_id = v;
       }},
      {"allowed_origins", [](config& c, const std::string& v) { c.allowed_origins = split_list(v); }},
      {"changes_days",
       [](config& c, const std::string& v) {
         c.changes_days = static_cast<unsigned>(parse_uint(v, 0, 3650));
       }},
      {"retention_days",
       [](config& c, const std::string& v) {
         c.retention_days = static_cast<std::int64_t>(parse_uint(v, 1, 36500));
       }},
      {"log_level",
       [](config& c, const std::string& v) {
         static const char* levels[] = {"trace", "debug", "info", "warn", "error"};
         for (const char* l : levels) {
           if (v == l) {
             c.log_level = v;
             return;
           }
         }
         throw std::invalid_argument("must be one of trace, debug, info, warn, error; got '" + v + "'");
       }},
      {"max_frame_bytes",
       [](config& c, const std::string& v) { c.max_frame_bytes = parse_uint(v, 64, 16 << 20); }},
      {"max_queue_bytes",
       [](config& c, const std::string& v) { c.max_queue_bytes = parse_uint(v, 1024, 1ull << 32); }},
      {"max_body_bytes",
       [](config& c, const std::string& v) { c.max_body_bytes = parse_uint(v, 1024, 1ull << 30); }},
      {"max_batch_bytes",
       [](config& c, const std::string& v) { c.max_batch_bytes = parse_uint(v, 1024, 1ull << 31); }},
      {"threads", [](config& c, const std::string& v) { c.threads = static_cast<unsigned>(parse_uint(v, 0, 256)); }},
      {"store_threads",
       [](config& c, const std::string& v) { c.store_threads = static_cast<unsigned>(parse_uint(v, 1, 256)); }},
      {"store_readers",
       [](config& c, const std::string& v) { c.store_readers = static_cast<unsigned>(parse_uint(v, 1, 64)); }},
      {"web_root", [](config& c, const std::string& v) { c.web_root = v; }},
      {"max_connections_per_user",
       [](config& c, const std::string& v) { c.max_connections_per_user = parse_uint(v, 1, 100000); }},
      {"ping_interval_s",
       [](config& c, const std::string& v) { c.ping_interval_s = static_cast<unsigned>(parse_uint(v, 1, 3600)); }},
      {"jwt_public_key",
       [](config& c, const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         try {
           parse_public_key_pem(read_small_file(v));
         } catch (const std::invalid_argument& e) {
           throw std::invalid_argument("'" + v + "' " + e.what());
         }
         c.jwt_public_key = v;
       }},
      {"jwt_jwks",
       [](config& c, const std::string& v) {
         check_jwks(v);
         c.jwt_jwks = v;
       }},
      {"jwt_issuer",
       [](config& c, const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         c.jwt_issuer = v;
       }},
      {"jwt_audience",
       [](config& c, const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         c.jwt_audience = v;
       }},
      {"token_refresh_window_s",
       [](config& c, const std::string& v) {
         c.token_refresh_window_s = static_cast<unsigned>(parse_uint(v, 1, 86400));
       }},
      {"pong_timeout_s",
       [](config& c, const std::string& v) { c.pong_timeout_s = static_cast<unsigned>(parse_uint(v, 1, 3600)); }},
      {"max_commands_in_flight",
       [](config& c, const std::string& v) {
         c.max_commands_in_flight = static_cast<unsigned>(parse_uint(v, 1, 1024));
       }},
      {"cluster_order_window_ms",
       [](config& c, const std::string& v) {
         c.cluster_order_window_ms = static_cast<unsigned>(parse_uint(v, 0, 10000));
       }},
      {"max_pending_connections",
       [](config& c, const std::string& v) { c.max_pending_connections = parse_uint(v, 1, 1000000); }},
      {"max_connections_per_ip",
       [](config& c, const std::string& v) { c.max_connections_per_ip = parse_uint(v, 0, 1000000); }},
      {"reserved_fds", [](config& c, const std::string& v) { c.reserved_fds = parse_uint(v, 0, 10000); }},
      {"drain_grace_ms",
       [](config& c, const std::string& v) { c.drain_grace_ms = static_cast<unsigned>(parse_uint(v, 0, 9000)); }},
      {"store_timeout_ms",
       [](config& c, const std::string& v) { c.store_timeout_ms = static_cast<unsigned>(parse_uint(v, 100, 600000)); }},
      {"writer_queue", [](config& c, const std::string& v) { c.writer_queue = parse_uint(v, 1, 1000000); }},
      {"read_queue", [](config& c, const std::string& v) { c.read_queue = parse_uint(v, 1, 10000000); }},
      {"presence_timeout_ms",
       [](config& c, const std::string& v) { c.presence_timeout_ms = static_cast<unsigned>(parse_uint(v, 1, 10000)); }},
      {"amqp_url",
       [](config& c, const std::string& v) {
         if (auto why = cm::amqp_consumer::check_url(v); !why.empty()) throw std::invalid_argument(why);
         c.amqp_url = v;
       }},
      {"amqp_queue",
       [](config& c, const std::string& v) {
         if (v.empty() || v.size() > 255) throw std::invalid_argument("must be 1 to 255 bytes");
         c.amqp_queue = v;
       }},
      {"amqp_prefetch",
       [](config& c, const std::string& v) { c.amqp_prefetch = static_cast<unsigned>(parse_uint(v, 1, 65535)); }},
      {"stream",
       [](config& c, const std::string& v) {
         if (auto why = cm::stream_consumer::check_url(v); !why.empty()) throw std::invalid_argument(why);
         c.stream = v;
       }},
      {"stream_prefetch",
       [](config& c, const std::string& v) { c.stream_prefetch = static_cast<unsigned>(parse_uint(v, 1, 65535)); }},
      {"webhook_url",
       [](config& c, const std::string& v) {
         const bool http = v.rfind("http://", 0) == 0, https = v.rfind("https://", 0) == 0;
         const std::size_t host_at = http ? 7 : 8;
         if ((!http && !https) || v.size() <= host_at || v[host_at] == '/' ||
             v.find_first_of(" \t\r\n") != std::string::npos) {
           throw std::invalid_argument("must be an http:// or https:// URL, got '" + v + "'");
         }
         c.webhook_url = v;
       }},
      {"webhook_secret",
       [](config& c, const std::string& v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         c.webhook_secret = v;
       }},
      {"webhook_events",
       [](config& c, const std::string& v) {
         unsigned mask = 0;
         for (const auto& name : split_list(v)) {
           const unsigned t = persistence::webhook_type_of(name);
           if (t == 0) {
             throw std::invalid_argument("unknown event type '" + name +
                                         "' (user.offline, user.online, notification.read, "
                                         "notification.delivered)");
           }
           mask |= t;
         }
         if (mask == 0) throw std::invalid_argument("must name at least one event type");
         c.webhook_events = mask;
       }},
      {"offline_after_s",
       [](config& c, const std::string& v) { c.offline_after_s = static_cast<unsigned>(parse_uint(v, 1, 86400)); }},
  };
  return table;
}

std::string env_name(const std::string& key) {
  std::string out = "HERALD_";
  for (char ch : key) out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

std::string flag_name(const std::string& key) {
  std::string out = "--";
  for (char ch : key) out += ch == '_' ? '-' : ch;
  return out;
}

void apply(config& c, const std::string& key, const std::string& value, const std::string& shown) {
  const auto& table = settings();
  auto it = table.find(key);
  if (it == table.end()) throw config_error(shown + ": unknown setting");
  try {
    it->second(c, value);
  } catch (const std::invalid_argument& e) {
    throw config_error(shown + ": " + e.what());
  }
}

std::string toml_value_text(const toml::node& n, const std::string& shown) {
  if (auto s = n.value_exact<std::string>()) return *s;
  if (auto i = n.value_exact<std::int64_t>()) {
    if (*i < 0) throw config_error(shown + ": must not be negative");
    return std::to_string(*i);
  }
  if (const auto* arr = n.as_array()) {
    std::string out;
    for (const auto& el : *arr) {
      auto s = el.value_exact<std::string>();
      if (!s) throw config_error(shown + ": must be an array of strings");
      if (!out.empty()) out += ",";
      out += *s;
    }
    return out;
  }
  throw config_error(shown + ": must be a string or an integer");
}

void load_toml(config& c, const std::string& path, bool& dev) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "--config " << path << ": " << e.description() << " (line " << e.source().begin.line
        << ")";
    throw config_error(msg.str());
  }
  for (const auto& [k, v] : tbl) {
    const std::string key(k.str());
    const std::string shown = key + " (in " + path + ")";
    if (key == "dev") {
      auto b = v.value_exact<bool>();
      if (!b) throw config_error(shown + ": must be true or false");
      dev = *b;
      continue;
    }
    apply(c, key, toml_value_text(v, shown), shown);
  }
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1)
    throw config_error("no randomness");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : buf) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

}  // namespace

std::string usage() {
  std::ostringstream o;
  o << "usage: herald [serve|migrate|recount] [--config FILE] [--dev] [--SETTING VALUE]...\n"
       "Settings (flag, environment variable, TOML key):\n";
  for (const auto& [key, _] : settings())
    o << "  " << flag_name(key) << "  " << env_name(key) << "  " << key << "\n";
  return o.str();
}

command_line load_config(int argc, char** argv, char** envp) {
  command_line out;
  std::string config_path;
  bool dev = false;
  std::vector<std::pair<std::string, std::string>> flags;  // key, value

  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i == 1 && (a == "serve" || a == "migrate" || a == "recount")) {
      out.command = a;
      continue;
    }
    if (a == "--help" || a == "-h") {
      out.command = "help";
      return out;
    }
    if (a == "--version") {
      out.command = "version";
      return out;
    }
    if (a == "--dev") {
      dev = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) throw config_error(a + ": unexpected argument (see --help)");
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= argc) throw config_error(a + ": needs a value");
      value = argv[++i];
    }
    std::string key;
    for (char ch : name) key += ch == '-' ? '_' : ch;
    if (key == "config") {
      config_path = value;
      continue;
    }
    if (!settings().count(key)) throw config_error("--" + name + ": unknown setting (see --help)");
    flags.emplace_back(key, value);
  }

  config& c = out.cfg;
  if (config_path.empty()) {
    if (const char* p = std::getenv("HERALD_CONFIG"); p && *p) config_path = p;
  }
  if (!config_path.empty()) load_toml(c, config_path, dev);
  for (char** e = envp; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    const std::string name(*e, static_cast<std::size_t>(eq - *e));
    if (name.rfind("HERALD_", 0) != 0) continue;
    for (const auto& [key, _] : settings()) {
      if (env_name(key) == name) apply(c, key, eq + 1, name);
    }
    if (name == "HERALD_DEV") dev = std::string(eq + 1) == "1" || std::string(eq + 1) == "true";
  }
  for (const auto& [key, value] : flags) apply(c, key, value, flag_name(key));
  c.dev = dev;

  if (c.jwt_secret.empty() && (dev || (c.jwt_public_key.empty() && c.jwt_jwks.empty()))) {
    if (!dev) {
      throw config_error(
          "HERALD_JWT_SECRET: required, or HERALD_JWT_PUBLIC_KEY or HERALD_JWT_JWKS (or start with "
          "--dev)");
    }
    c.jwt_secret = random_hex(32);
    out.notes.push_back("dev mode: generated JWT secret " + c.jwt_secret);
  }
  if (c.api_keys.empty()) {
    if (!dev) throw config_error("HERALD_API_KEY: required (or start with --dev)");
    c.api_keys.push_back("dev-" + random_hex(16));
    out.notes.push_back("dev mode: generated API key " + c.api_keys.front());
  }
  if (!c.webhook_url.empty() && c.webhook_secret.empty()) {
    throw config_error(
        "HERALD_WEBHOOK_SECRET: required with HERALD_WEBHOOK_URL (the events are signed with it)");
  }
  if (!dev) {
    // A short HS256 secret can be brute-forced offline from one token; a short key guessed.
    if (!c.jwt_secret.empty() && c.jwt_secret.size() < min_jwt_secret_bytes) {
      throw config_error("HERALD_JWT_SECRET: must be at least " +
                         std::to_string(min_jwt_secret_bytes) + " bytes (or start with --dev)");
    }
    for (const auto& key : c.api_keys) {
      if (key.size() < min_api_key_bytes) {
        throw config_error("HERALD_API_KEY: every key must be at least " +
                           std::to_string(min_api_key_bytes) + " bytes (or start with --dev)");
      }
    }
  }
  return out;
}

}  // namespace herald::gateway
