#include "bench/bench_options.hpp"

#include "bench/process_probe.hpp"

#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace herald::bench {

namespace {

const std::set<std::string> known_scenarios = {
    "connect", "broadcast", "personal", "reconnect", "inbox", "floor", "peer", "scale", "acks"};

host_port parse_host_port(const std::string& flag, const std::string& v) {
  const auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw std::invalid_argument(flag + ": want HOST:PORT");
  host_port hp;
  hp.host = v.substr(0, colon);
  const long port = std::strtol(v.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) throw std::invalid_argument(flag + ": bad port in '" + v + "'");
  hp.port = static_cast<std::uint16_t>(port);
  return hp;
}

long parse_int(const std::string& flag, const std::string& v, long min, long max) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < min || n > max)
    throw std::invalid_argument(flag + ": want an integer in " + std::to_string(min) + ".." +
                                std::to_string(max) + ", got '" + v + "'");
  return n;
}

// "a,b,c" into its parts, each parsed by `one`; at most 64 of them.
template <typename T, typename Parse>
std::vector<T> parse_list(const std::string& flag, const std::string& v, Parse one) {
  std::vector<T> out;
  std::size_t start = 0;
  while (true) {
    const auto comma = v.find(',', start);
    out.push_back(one(flag, v.substr(start, comma - start)));
    if (out.size() > 64) throw std::invalid_argument(flag + ": more than 64 entries");
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace

std::string bench_usage() {
  return R"(herald-bench: load generator for Herald (and a Bun peer for comparison)

  --public HOST:PORT[,...]   Herald public listener (127.0.0.1:8080); several nodes of one
                             cluster: worker w's clients connect to the (w % nodes)-th
  --internal HOST:PORT[,...] Herald internal listener (127.0.0.1:8081); several: broadcasts go
                             to the first, personal notifies spread over all of them
  --jwt-secret S             HS256 secret (or env HERALD_JWT_SECRET)
  --api-key K                internal API key (or env HERALD_API_KEY)
  --pid PID[,...]            Herald's pid, for RSS and CPU figures (several: their sums)
  --scenarios LIST           connect,broadcast,personal,reconnect,inbox,floor,peer,scale,acks
                             (default connect,broadcast,personal,reconnect,inbox,floor)
  -n, --connections N        WebSocket connections (1000)
  -u, --users U              distinct users; connection i belongs to user i % U (default N)
  --user-base ID             first user id (1)
  --workers W                worker processes (default: ceil(N / 9000), at least 2)
  --source-addrs A           bind clients to 127.0.0.2 .. 127.0.0.(A+1) (8)
  --connect-concurrency C    handshakes in flight per worker (256)
  --broadcasts B             broadcasts, one after another (20)
  --broadcast-persist        persisted broadcasts (notification frames) instead of desktop frames
  --ack-broadcasts B         acks: persisted broadcasts per block, silent then acking (10)
  --ack-max-slowdown PCT     acks: fail when acking slows the time to the last client p50 more (10)
  --ack-spacing MS           acks: pause MS before each broadcast of both blocks (0: back to back)
  --personal P               personal notifications (20000)
  --concurrency C            HTTP requests in flight for personal (64)
  --personal-transient       personal with persist:false (desktop frames)
  --reconnect-items K        persisted broadcasts sent while every client is away (20)
  --inbox-users I            users seeded for the inbox scenario (50)
  --inbox-items M            items stored per inbox user (200)
  --inbox-requests R         inbox requests (20000), half unread_count, half inbox pages
  --inbox-concurrency C      inbox requests in flight (32)
  --scale-users U            scale: users of the store bench/seed_scale.py seeded (100000)
  --scale-orgs/-roles/-jobs  scale: that seeding's orgs, roles, jobs (1000, 20, 50)
  --scale-sample S           scale: users read, each in 6 groups (2000)
  --scale-requests R         scale: requests at --inbox-concurrency, half unread_count (40000)
  --scale-notifies P         scale: persisted personal notifies afterwards (20000)
  --duration S               soak: hold the connections S seconds, broadcast once a second,
                             report RSS and latency every 10 s
  --timeout S                deadline of every wait (60)
  --pin-daemon CPUS          pin Herald (and the peer) to CPUs, e.g. 1 or 0-1
  --pin-workers CPUS         pin the bench processes to CPUs
  --peer-public HOST:PORT    Bun peer public listener (for the peer scenario)
  --peer-internal HOST:PORT  Bun peer internal listener
  --peer-pid PID             Bun peer pid
  --label NAME               name of this run in the JSON line (herald)
  --json-out FILE            append the JSON line to FILE too
Exit status: 0 when every delivery check passed, 1 when one failed, 2 on bad usage.
)";
}

bench_options parse_bench_options(int argc, char** argv) {
  bench_options o;
  if (const char* s = std::getenv("HERALD_JWT_SECRET")) o.jwt_secret = s;
  if (const char* k = std::getenv("HERALD_API_KEY")) o.api_key = k;
  std::string scenario_list = "connect,broadcast,personal,reconnect,inbox,floor";

  using setter = std::function<void(const std::string& flag, const std::string& v)>;
  const std::map<std::string, setter> with_value = {
      {"--public",
       [&](auto& f, auto& v) { o.public_nodes = parse_list<host_port>(f, v, parse_host_port); }},
      {"--internal",
       [&](auto& f, auto& v) { o.internal_nodes = parse_list<host_port>(f, v, parse_host_port); }},
      {"--jwt-secret", [&](auto&, auto& v) { o.jwt_secret = v; }},
      {"--api-key", [&](auto&, auto& v) { o.api_key = v; }},
      {"--pid",
       [&](auto& f, auto& v) {
         o.daemon_pids = parse_list<pid_t>(f, v, [](auto& g, const std::string& one) {
           return static_cast<pid_t>(parse_int(g, one, 1, 1 << 30));
         });
       }},
      {"--scenarios", [&](auto&, auto& v) { scenario_list = v; }},
      {"--connections", [&](auto& f, auto& v) { o.connections = parse_int(f, v, 1, 1'000'000); }},
      {"--users", [&](auto& f, auto& v) { o.users = parse_int(f, v, 1, 1'000'000); }},
      {"--user-base", [&](auto& f, auto& v) { o.user_base = parse_int(f, v, 1, 1L << 50); }},
      {"--workers", [&](auto& f, auto& v) { o.workers = parse_int(f, v, 1, 64); }},
      {"--source-addrs", [&](auto& f, auto& v) { o.source_addrs = parse_int(f, v, 1, 250); }},
      {"--connect-concurrency",
       [&](auto& f, auto& v) { o.connect_concurrency = parse_int(f, v, 1, 100000); }},
      {"--broadcasts", [&](auto& f, auto& v) { o.broadcasts = parse_int(f, v, 1, 100000); }},
      {"--ack-broadcasts", [&](auto& f, auto& v) { o.ack_broadcasts = parse_int(f, v, 1, 10000); }},
      {"--ack-max-slowdown",
       [&](auto& f, auto& v) { o.ack_max_slowdown_pct = parse_int(f, v, 0, 1000); }},
      {"--ack-spacing", [&](auto& f, auto& v) { o.ack_spacing_ms = parse_int(f, v, 0, 60000); }},
      {"--personal", [&](auto& f, auto& v) { o.personal = parse_int(f, v, 1, 100'000'000); }},
      {"--concurrency", [&](auto& f, auto& v) { o.concurrency = parse_int(f, v, 1, 4096); }},
      {"--reconnect-items",
       [&](auto& f, auto& v) { o.reconnect_items = parse_int(f, v, 1, 10000); }},
      {"--inbox-users", [&](auto& f, auto& v) { o.inbox_users = parse_int(f, v, 1, 1000); }},
      {"--inbox-items", [&](auto& f, auto& v) { o.inbox_items = parse_int(f, v, 1, 100000); }},
      {"--inbox-requests",
       [&](auto& f, auto& v) { o.inbox_requests = parse_int(f, v, 2, 100'000'000); }},
      {"--inbox-concurrency",
       [&](auto& f, auto& v) { o.inbox_concurrency = parse_int(f, v, 1, 4096); }},
      {"--scale-users", [&](auto& f, auto& v) { o.scale_users = parse_int(f, v, 1, 100'000'000); }},
      {"--scale-sample", [&](auto& f, auto& v) { o.scale_sample = parse_int(f, v, 1, 100'000); }},
      {"--scale-orgs", [&](auto& f, auto& v) { o.scale_orgs = parse_int(f, v, 1, 1'000'000); }},
      {"--scale-roles", [&](auto& f, auto& v) { o.scale_roles = parse_int(f, v, 1, 1'000'000); }},
      {"--scale-jobs", [&](auto& f, auto& v) { o.scale_jobs = parse_int(f, v, 1, 1'000'000); }},
      {"--scale-requests",
       [&](auto& f, auto& v) { o.scale_requests = parse_int(f, v, 2, 100'000'000); }},
      {"--scale-notifies",
       [&](auto& f, auto& v) { o.scale_notifies = parse_int(f, v, 0, 100'000'000); }},
      {"--duration", [&](auto& f, auto& v) { o.duration_s = parse_int(f, v, 1, 7 * 86400); }},
      {"--timeout", [&](auto& f, auto& v) { o.timeout_s = parse_int(f, v, 1, 3600); }},
      {"--pin-daemon", [&](auto&, auto& v) { o.pin_daemon = parse_cpu_list(v); }},
      {"--pin-workers", [&](auto&, auto& v) { o.pin_workers = parse_cpu_list(v); }},
      {"--peer-public", [&](auto& f, auto& v) { o.peer_public = parse_host_port(f, v); }},
      {"--peer-internal", [&](auto& f, auto& v) { o.peer_internal = parse_host_port(f, v); }},
      {"--peer-pid",
       [&](auto& f, auto& v) { o.peer_pid = static_cast<pid_t>(parse_int(f, v, 1, 1 << 30)); }},
      {"--label", [&](auto&, auto& v) { o.label = v; }},
      {"--json-out", [&](auto&, auto& v) { o.json_out = v; }},
  };
  const std::map<std::string, std::function<void()>> switches = {
      {"--broadcast-persist", [&] { o.broadcast_persist = true; }},
      {"--personal-transient", [&] { o.personal_persist = false; }},
  };

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << bench_usage();
      std::exit(0);
    }
    if (arg == "-n") arg = "--connections";
    if (arg == "-u") arg = "--users";
    std::string value;
    bool has_value = false;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (auto s = switches.find(arg); s != switches.end() && !has_value) {
      s->second();
      continue;
    }
    auto w = with_value.find(arg);
    if (w == with_value.end()) throw std::invalid_argument("unknown option " + arg);
    if (!has_value) {
      if (i + 1 >= argc) throw std::invalid_argument(arg + ": missing value");
      value = argv[++i];
    }
    w->second(arg, value);
  }

  std::istringstream names(scenario_list);
  std::string name;
  while (std::getline(names, name, ',')) {
    if (name.empty()) continue;
    if (!known_scenarios.count(name))
      throw std::invalid_argument("--scenarios: unknown '" + name + "'");
    o.scenarios.insert(name);
  }
  if (o.users == 0) o.users = o.connections;
  if (o.users > o.connections) throw std::invalid_argument("--users: more users than connections");
  if (o.public_nodes.empty()) o.public_nodes = {o.public_addr};
  if (o.internal_nodes.empty()) o.internal_nodes = {o.internal_addr};
  o.public_addr = o.public_nodes.front();
  o.internal_addr = o.internal_nodes.front();
  if (!o.daemon_pids.empty()) o.daemon_pid = o.daemon_pids.front();
  const int nodes = static_cast<int>(o.public_nodes.size());
  if (o.workers == 0) {
    o.workers = std::max(2, (o.connections + 8999) / 9000);
    o.workers = (o.workers + nodes - 1) / nodes * nodes;  // as many on every node
  }
  if (o.workers < nodes)
    throw std::invalid_argument("--workers: fewer workers than --public nodes");
  if (o.jwt_secret.empty())
    throw std::invalid_argument("--jwt-secret (or HERALD_JWT_SECRET) is required");
  if (o.api_key.empty()) throw std::invalid_argument("--api-key (or HERALD_API_KEY) is required");
  if (o.wants("peer") && o.peer_public.port == 0)
    throw std::invalid_argument(
        "--peer-public and --peer-internal are required for the peer scenario");
  return o;
}

}  // namespace herald::bench
