// Herald's settings: one typed struct with defaults, filled from a TOML file, then HERALD_*
// environment variables, then command-line flags (each wins over the one before), and checked
// before anything starts. Not thread-safe to build; read-only afterwards.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace herald::gateway {

// A setting that stops the start; the message names the key. Exit code 2.
struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string str() const { return host + ":" + std::to_string(port); }
};

struct config {
  endpoint public_addr{"0.0.0.0", 8080};
  endpoint internal_addr{"127.0.0.1", 8081};
  std::string jwt_secret;
  std::vector<std::string> api_keys;
  std::string store = "sqlite:herald.db";
  std::string bus;  // empty: a single node
  std::string node_id;
  std::vector<std::string> allowed_origins;  // empty: any origin
  std::int64_t retention_days = 90;
  std::string log_level = "info";
  // Extensions (documented in the README).
  std::size_t max_frame_bytes = 4096;
  std::size_t max_queue_bytes = 1 << 20;
  std::size_t max_body_bytes = 65536;
  std::size_t max_batch_bytes = 8 << 20;
  unsigned threads = 0;        // 0: one per core
  unsigned store_threads = 0;  // 0: 4 on SQLite, 16 on MySQL (round trips wait on the network)
  unsigned store_readers = 2;  // batched counts and inbox pages (persistence/read_batcher.hpp)
  std::string web_root;        // empty: the source tree's web/
  std::size_t max_connections_per_user = 32;
  unsigned ping_interval_s = 25;
  unsigned pong_timeout_s = 20;
  unsigned max_commands_in_flight = 8;  // per connection; past it the socket is not read
  unsigned cluster_order_window_ms =
      1000;  // cluster: the longest a notification event waits for the order fence
  unsigned store_timeout_ms = 5000;   // a store call's deadline (503 unavailable past it)
  std::size_t writer_queue = 4096;    // notify requests waiting for the writer
  std::size_t read_queue = 65536;     // counts and inbox pages waiting for a reader
  unsigned presence_timeout_ms = 50;  // a cluster presence lookup; the local count past it
  bool dev = false;
  // Hostile-input bounds (README "Resource bounds").
  std::size_t max_pending_connections = 8192;  // per listener, not yet authenticated
  std::size_t max_connections_per_ip = 2048;   // pending per source address; 0: no cap
  std::size_t reserved_fds = 64;               // kept free for the internal listener
  unsigned drain_grace_ms = 1000;              // 503s after SIGTERM even with nothing in flight
  // Token keys and claims besides jwt_secret (any of the three key settings, several together).
  std::string jwt_public_key;  // path of a PEM public key: RSA (RS256) or EC P-256 (ES256)
  std::string jwt_jwks;        // a JWKS file path or an http:// / https:// URL
  std::string jwt_issuer;      // required `iss` when set
  std::string jwt_audience;    // required in `aud` when set
  unsigned token_refresh_window_s = 60;  // `token_expiring` this long before `exp`
  unsigned changes_days =
      7;  // state changes kept for recovery (changes_since); 0: until the next purge
  // Notify through a message queue (gateway/queue_consumers.hpp); empty: not consumed.
  std::string amqp_url;                      // amqp://USER:PASS@HOST:PORT/VHOST
  std::string amqp_queue = "herald.notify";  // declared durable when missing
  unsigned amqp_prefetch = 256;              // messages in flight (unacked) at most
  std::string stream;                        // redis://HOST:PORT/KEY
  unsigned stream_prefetch = 256;            // stream entries in flight (unacked) at most
  // Webhooks (API.md v1.1 "Webhooks"): off while webhook_url is empty.
  std::string webhook_url;        // http:// or https://
  std::string webhook_secret;     // HMAC-SHA256 key of Herald-Signature; required with the URL
  unsigned webhook_events = 15;   // persistence::webhook_type bits; default all
  unsigned offline_after_s = 30;  // user.offline this long after the last connection closed
};

// The shortest secrets accepted without --dev.
inline constexpr std::size_t min_jwt_secret_bytes = 32;
inline constexpr std::size_t min_api_key_bytes = 16;

struct command_line {
  std::string command = "serve";  // serve | migrate | help | version
  config cfg;
  std::vector<std::string> notes;  // printed at start (dev secrets, ...)
};

// Parses argv and the environment; throws config_error naming the bad key.
command_line load_config(int argc, char** argv, char** envp);
std::string usage();

}  // namespace herald::gateway
