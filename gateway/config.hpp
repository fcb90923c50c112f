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
  unsigned threads = 0;  // 0: one per core
  unsigned store_threads = 0;  // 0: 4 on SQLite, 16 on MySQL (round trips wait on the network)
  unsigned store_readers = 2;  // batched counts and inbox pages (persistence/read_batcher.hpp)
  std::string web_root;  // empty: the source tree's web/
  std::size_t max_connections_per_user = 32;
  unsigned ping_interval_s = 25;
  unsigned pong_timeout_s = 20;
  unsigned store_timeout_ms = 5000;    // a store call's deadline (503 unavailable past it)
  std::size_t writer_queue = 4096;     // notify requests waiting for the writer
  std::size_t read_queue = 65536;      // counts and inbox pages waiting for a reader
  unsigned presence_timeout_ms = 50;   // a cluster presence lookup; the local count past it
  bool dev = false;
};

struct command_line {
  std::string command = "serve";  // serve | migrate | help | version
  config cfg;
  std::vector<std::string> notes;  // printed at start (dev secrets, ...)
};

// Parses argv and the environment; throws config_error naming the bad key.
command_line load_config(int argc, char** argv, char** envp);
std::string usage();

}  // namespace herald::gateway
