// herald-bench settings: one typed struct, parsed strictly from the command line (and the
// HERALD_JWT_SECRET / HERALD_API_KEY environment variables for the two secrets).
#pragma once
#include <sys/types.h>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace herald::bench {

struct host_port {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
};

struct bench_options {
  host_port public_addr{"127.0.0.1", 8080};
  host_port internal_addr{"127.0.0.1", 8081};
  // Several nodes of one cluster (--public/--internal/--pid with comma lists): worker w's
  // clients connect to public_nodes[w % size], HTTP load spreads over internal_nodes, and RSS
  // and CPU figures add up every pid. public_addr/internal_addr are the first of each.
  std::vector<host_port> public_nodes;
  std::vector<host_port> internal_nodes;
  std::vector<pid_t> daemon_pids;
  std::string jwt_secret;
  std::string api_key;
  pid_t daemon_pid = 0;  // the first of daemon_pids
  std::set<std::string> scenarios;
  std::string label = "herald";

  int connections = 1000;
  int users = 0;  // 0: one user per connection
  std::uint64_t user_base = 1;
  int workers = 0;                // 0: enough that none holds more than ~9,000 sockets
  int source_addrs = 8;           // 127.0.0.2 .. 127.0.0.(1+n)
  int connect_concurrency = 256;  // handshakes in flight per worker

  int broadcasts = 20;
  bool broadcast_persist = false;
  int ack_broadcasts = 10;        // acks: broadcasts per block (silent, then acking)
  int ack_max_slowdown_pct = 10;  // acks: budget of the p50 slowdown
  int ack_spacing_ms = 0;         // acks: pause between broadcasts (0: back to back)
  int personal = 20000;
  int concurrency = 64;
  bool personal_persist = true;
  int reconnect_items = 20;
  int inbox_users = 50;
  int inbox_items = 200;
  int inbox_requests = 20000;
  int inbox_concurrency = 32;
  // scale: a store seeded by bench/seed_scale.py with scale_users users (its layout).
  int scale_users = 100000;
  int scale_sample = 2000;  // users whose counts and pages are read
  int scale_orgs = 1000, scale_roles = 20, scale_jobs = 50;
  int scale_requests = 40000;  // half unread_count, half inbox pages
  int scale_notifies = 20000;  // persisted personal notifies afterwards
  int duration_s = 0;          // soak mode when > 0
  int timeout_s = 60;          // deadline of each wait

  std::vector<int> pin_daemon;
  std::vector<int> pin_workers;

  host_port peer_public{"127.0.0.1", 0};
  host_port peer_internal{"127.0.0.1", 0};
  pid_t peer_pid = 0;

  std::string json_out;  // also append the JSON line to this file

  bool wants(const std::string& scenario) const { return scenarios.count(scenario) != 0; }
};

// Parses argv; throws std::invalid_argument naming the flag on bad input. `--help` prints usage
// and exits 0.
bench_options parse_bench_options(int argc, char** argv);

std::string bench_usage();

}  // namespace herald::bench
