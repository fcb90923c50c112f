#include "bench/scenario_runner.hpp"

#include "bench/ack_scenario.hpp"
#include "bench/floor_probe.hpp"
#include "bench/latency_histogram.hpp"
#include "bench/load_scenarios.hpp"
#include "bench/process_probe.hpp"

#include <iostream>

namespace herald::bench {

using nlohmann::json;

namespace {

void progress(const std::string& line) { std::cerr << "herald-bench: " << line << std::endl; }

}  // namespace

scenario_runner::scenario_runner(bench_context& ctx) : ctx_(ctx) {}

std::string scenario_runner::sample_frame() const {
  // What Herald writes for this run's broadcasts, WebSocket header included: a `desktop` frame
  // for transient broadcasts; with --broadcast-persist a `notification` frame of the same
  // layout and size as Herald's (the stored item and the receiver's unread count).
  const json data = {{"bench_kind", 1}, {"bench_seq", 1}, {"bench_t0", 123456789012345}};
  std::string text;
  if (ctx_.options.broadcast_persist) {
    text = R"({"type":"notification","notification":{"id":1000123,"kind":"broadcast",)"
           R"("title":"bench broadcast","content":"","sender":null,"data":)" +
           data.dump() +
           R"(,"created_at":"2026-01-01T00:00:00.000Z","read":false,"retention":"normal",)"
           R"("expires_at":"2026-01-31T00:00:00.000Z","desktop":false},"unread":21})";
  } else {
    text = json{{"type", "desktop"}, {"title", "bench broadcast"}, {"content", ""}, {"data", data}}
               .dump();
  }
  std::string wire;
  wire.push_back('\x81');
  if (text.size() < 126) {
    wire.push_back(static_cast<char>(text.size()));
  } else {  // < 65,536: a two-byte length
    wire.push_back(static_cast<char>(126));
    wire.push_back(static_cast<char>(text.size() >> 8));
    wire.push_back(static_cast<char>(text.size() & 0xff));
  }
  return wire + text;
}

boost::asio::awaitable<void> scenario_runner::run() {
  const auto& o = ctx_.options;
  results_ = {{"n", o.connections}, {"users", o.users}, {"workers", o.workers}, {"label", o.label}};
  if (!o.pin_daemon.empty()) {
    if (o.daemon_pid && !pin_process(o.daemon_pid, o.pin_daemon))
      ctx_.fail("could not pin the daemon");
    if (o.peer_pid && !pin_process(o.peer_pid, o.pin_daemon)) ctx_.fail("could not pin the peer");
  }
  if (o.wants("floor")) {
    progress("floor: " + std::to_string(o.connections) + " loopback sockets");
    floor_probe probe(ctx_, sample_frame());
    results_["floor"] = co_await probe.run();
  }
  const bench_target herald{
      "herald",
      o.public_addr,
      o.internal_addr,
      o.daemon_pid,
      o.public_nodes,
      o.internal_nodes,
      o.daemon_pids.empty() ? std::vector<pid_t>{o.daemon_pid} : o.daemon_pids};
  results_["herald"] = co_await run_target(herald, false);
  if (o.wants("peer")) {
    const bench_target peer{"peer",          o.peer_public,     o.peer_internal, o.peer_pid,
                            {o.peer_public}, {o.peer_internal}, {o.peer_pid}};
    results_["peer"] = co_await run_target(peer, true);
  }
  // Ratios against the floor and the peer, measured in this same run.
  auto& h = results_["herald"];
  if (results_.contains("floor") && results_["floor"].contains("cpu_per_send_ns")) {
    const double floor_ns = results_["floor"]["cpu_per_send_ns"];
    for (auto* side : {&h, results_.contains("peer") ? &results_["peer"] : nullptr}) {
      if (side && side->contains("broadcast") &&
          (*side)["broadcast"].contains("cpu_per_recipient_ns"))
        (*side)["broadcast"]["cpu_ratio_to_floor"] =
            (*side)["broadcast"]["cpu_per_recipient_ns"].get<double>() / floor_ns;
    }
  }
  results_["checks_failed"] = ctx_.failures;
  results_["ok"] = ctx_.failures.empty();
}

boost::asio::awaitable<json> scenario_runner::run_target(const bench_target& target, bool is_peer) {
  const auto& o = ctx_.options;
  json out = json::object();
  const bool needs_clients = is_peer || o.wants("connect") || o.wants("broadcast") ||
                             o.wants("personal") || o.wants("reconnect") || o.duration_s > 0 ||
                             (!is_peer && o.wants("acks"));
  if (needs_clients) {
    progress(target.name + ": connect " + std::to_string(o.connections) + " clients");
    out["connect"] = co_await connect(target, true);
  }
  if (is_peer || o.wants("broadcast")) {
    const bool persist = !is_peer && o.broadcast_persist;
    progress(target.name + ": broadcast x" + std::to_string(o.broadcasts));
    out["broadcast"] = co_await broadcast(target, o.broadcasts, persist);
  }
  if (!is_peer && o.wants("acks")) {
    progress(target.name + ": acks, 2 x " + std::to_string(o.ack_broadcasts) + " broadcasts");
    out["acks"] = co_await ack_scenario(ctx_).run(target);
  }
  if (is_peer || o.wants("personal")) {
    const bool persist = !is_peer && o.personal_persist;
    progress(target.name + ": personal x" + std::to_string(o.personal) +
             (persist ? " persisted" : " transient"));
    load_scenarios load(ctx_);
    out["personal"] = co_await load.personal(target, persist);
  }
  if (!is_peer && o.wants("reconnect")) {
    progress(target.name + ": reconnect");
    out["reconnect"] = co_await reconnect(target);
  }
  if (!is_peer && o.duration_s > 0) {
    progress(target.name + ": soak " + std::to_string(o.duration_s) + " s");
    out["soak"] = co_await soak(target);
  }
  if (needs_clients) co_await close_all();
  if (!is_peer && o.wants("inbox")) {
    progress(target.name + ": inbox");
    load_scenarios load(ctx_);
    out["inbox"] = co_await load.inbox(target);
  }
  if (!is_peer && o.wants("scale")) {
    progress(target.name + ": scale");
    load_scenarios load(ctx_);
    out["scale"] = co_await load.scale(target);
  }
  co_return out;
}

boost::asio::awaitable<json> scenario_runner::connect(const bench_target& target, bool measure_idle,
                                                      std::optional<std::int64_t> since,
                                                      std::vector<std::int64_t> expect_ids) {
  const auto& o = ctx_.options;
  const std::int64_t rss0 = target.pid ? rss_bytes(target.pids) : -1;
  // Worker w's clients connect to node w % nodes (an L4 balancer's spread, fixed per client).
  const auto& nodes = target.public_nodes;
  const auto node_of = [&](std::size_t w) { return w % nodes.size(); };
  std::vector<std::int64_t> node_rss0;
  for (pid_t p : target.pids) node_rss0.push_back(target.pid ? rss_bytes(p) : -1);
  const std::int64_t t0 = monotonic_ns();
  for (int w = 0; w < ctx_.pool.size(); ++w) {
    const host_port& node = nodes[node_of(static_cast<std::size_t>(w))];
    json cmd = {{"cmd", "connect"},
                {"host", node.host},
                {"port", node.port},
                {"concurrency", o.connect_concurrency}};
    if (since) {
      cmd["since"] = *since;
      cmd["expect_ids"] = expect_ids;
    }
    ctx_.pool.send(w, cmd);
  }
  const auto reports =
      co_await ctx_.pool.gather("connected", ctx_.deadline(std::max(1.0, o.connections / 2000.0)));
  int ok = 0, failed = 0, sync_ok = 0, sync_bad = 0, missing = 0;
  std::vector<int> node_ok(nodes.size(), 0);
  std::int64_t last = t0;
  json errors = json::object();
  for (std::size_t w = 0; w < reports.size(); ++w) {
    const auto& r = reports[w];
    if (r.is_null()) {
      ++missing;
      continue;
    }
    node_ok[node_of(w)] += r["ok"].get<int>();
    ok += r["ok"].get<int>();
    failed += r["failed"].get<int>();
    sync_ok += r.value("sync_ok", 0);
    sync_bad += r.value("sync_bad", 0);
    last = std::max(last, r["t_last"].get<std::int64_t>());
    const json worker_errors = r.value("errors", json::object());  // items() must not outlive it
    for (auto& [what, n] : worker_errors.items())
      errors[what] = errors.value(what, 0) + n.get<int>();
  }
  live_ = ok;
  const double seconds = (last - t0) / 1e9;
  json out = {{"ok", ok},
              {"failed", failed},
              {"seconds", seconds},
              {"rate_per_s", seconds > 0 ? ok / seconds : 0.0},
              {"errors", errors}};
  if (since) {
    out["sync_ok"] = sync_ok;
    out["sync_bad"] = sync_bad;
  }
  if (missing)
    ctx_.fail(target.name + " connect: " + std::to_string(missing) +
              " workers did not finish in time");
  if (ok != o.connections)
    ctx_.fail(target.name + " connect: " + std::to_string(ok) + " of " +
              std::to_string(o.connections) + " connected (" + errors.dump() + ")");
  if (since && sync_bad)
    ctx_.fail(target.name + " reconnect: " + std::to_string(sync_bad) +
              " clients synced the wrong items");
  if (target.pid && measure_idle) {
    co_await ctx_.sleep_ms(2000);  // let allocations settle before reading RSS
    const std::int64_t rss1 = rss_bytes(target.pids);
    out["rss_before"] = rss0;
    out["rss_after"] = rss1;
    out["bytes_per_conn"] = ok ? static_cast<double>(rss1 - rss0) / ok : 0.0;
    if (nodes.size() > 1 && target.pids.size() == nodes.size()) {
      json per_node = json::array();
      for (std::size_t k = 0; k < nodes.size(); ++k) {
        const std::int64_t after = rss_bytes(target.pids[k]);
        per_node.push_back(
            {{"connections", node_ok[k]},
             {"rss_after", after},
             {"bytes_per_conn",
              node_ok[k] ? static_cast<double>(after - node_rss0[k]) / node_ok[k] : 0.0}});
      }
      out["nodes"] = per_node;
    }
    const std::int64_t c0 = cpu_ns(target.pids);
    co_await ctx_.sleep_ms(5000);
    out["idle_cpu_pct"] = (cpu_ns(target.pids) - c0) / 5e9 * 100.0;
  }
  co_return out;
}

boost::asio::awaitable<std::int64_t> scenario_runner::one_broadcast(const bench_target& target,
                                                                    std::int64_t seq,
                                                                    bool persist) {
  const std::int64_t t0 = monotonic_ns();
  const json body = {
      {"user_id", -1},       {"title", "bench broadcast"},
      {"content", ""},       {"persist", persist},
      {"desktop", !persist}, {"data", {{"bench_kind", 1}, {"bench_seq", seq}, {"bench_t0", t0}}}};
  const auto answer = co_await ctx_.notify(target, body);
  if (answer.status != 200) {
    ctx_.fail(target.name + " broadcast " + std::to_string(seq) + ": HTTP " +
              std::to_string(answer.status) + " " + answer.error + answer.body.substr(0, 200));
    co_return -1;
  }
  const auto done = co_await ctx_.pool.gather("bcast", ctx_.deadline(), [seq](const json& m) {
    return m.value("seq", std::int64_t{0}) == seq;
  });
  std::int64_t last = 0;
  for (const auto& d : done) {
    if (d.is_null()) co_return -1;
    last = std::max(last, d["t_last"].get<std::int64_t>());
  }
  co_return last - t0;
}

boost::asio::awaitable<json> scenario_runner::broadcast(const bench_target& target, int count,
                                                        bool persist) {
  const auto phase =
      co_await ctx_.start_phase("broadcast", persist ? "notification" : "desktop", count);
  const int live = phase["live"];
  latency_histogram time_to_last;
  int incomplete = 0;
  const std::int64_t cpu0 = target.pid ? cpu_ns(target.pids) : 0;
  for (int seq = 1; seq <= count; ++seq) {
    const std::int64_t ttl = co_await one_broadcast(target, seq, persist);
    ttl < 0 ? ++incomplete : (time_to_last.record(ttl), 0);
  }
  const std::int64_t cpu1 = target.pid ? cpu_ns(target.pids) : 0;
  auto checks = co_await ctx_.collect_phase();
  json out = {{"count", count},
              {"persist", persist},
              {"clients", live},
              {"time_to_last_ms", time_to_last.summary_ms()},
              {"latency_ms", checks["latency_ms"]},
              {"complete_clients", checks["complete"]},
              {"incomplete_broadcasts", incomplete},
              {"unexpected_frames", checks["unexpected"]}};
  if (target.pid && live > 0)
    out["cpu_per_recipient_ns"] =
        static_cast<double>(cpu1 - cpu0) / (static_cast<double>(live) * count);
  if (incomplete)
    ctx_.fail(target.name + " broadcast: " + std::to_string(incomplete) +
              " broadcasts did not reach every client");
  if (checks["complete"].get<int>() != live || checks["incomplete"].get<int>() != 0)
    ctx_.fail(target.name + " broadcast: " + checks["incomplete"].dump() +
              " clients missed or repeated a broadcast");
  if (live != ctx_.options.connections)
    ctx_.fail(target.name + " broadcast: only " + std::to_string(live) + " clients live");
  co_return out;
}

boost::asio::awaitable<json> scenario_runner::reconnect(const bench_target& target) {
  const auto& o = ctx_.options;
  // The newest id before the clients leave: what each of them passes as `since`.
  // (Bodies are built before co_await: GCC 12 rejects braced string literals in its operand.)
  const json marker_request = {{"user_id", o.user_base + o.connections + 1'000'000},
                               {"title", "bench marker"},
                               {"desktop", false}};
  const auto marker = co_await ctx_.notify(target, marker_request);
  const auto marker_body = json::parse(marker.body, nullptr, false);
  if (marker.status != 200 || !marker_body.is_object() ||
      !marker_body.value("id", json()).is_number_integer()) {
    ctx_.fail(target.name + " reconnect: marker notify answered " + std::to_string(marker.status) +
              " " + marker.body.substr(0, 200));
    co_return json{{"error", "no marker id"}};
  }
  const std::int64_t since = marker_body["id"];
  co_await close_all();
  co_await ctx_.sleep_ms(1000);
  std::vector<std::int64_t> ids;
  for (int k = 0; k < o.reconnect_items; ++k) {
    const json missed = {
        {"user_id", -1}, {"title", "bench missed " + std::to_string(k)}, {"desktop", false}};
    const auto a = co_await ctx_.notify(target, missed);
    const auto body = json::parse(a.body, nullptr, false);
    if (a.status != 200 || !body.is_object() || !body.value("id", json()).is_number_integer()) {
      ctx_.fail(target.name + " reconnect: notify answered " + std::to_string(a.status));
      co_return json{{"error", "notify failed"}};
    }
    ids.push_back(body["id"]);
  }
  auto out = co_await connect(target, false, since, ids);
  out["missed_items"] = o.reconnect_items;
  co_return out;
}

boost::asio::awaitable<json> scenario_runner::soak(const bench_target& target) {
  const auto& o = ctx_.options;
  json windows = json::array();
  co_await ctx_.start_phase("broadcast", o.broadcast_persist ? "notification" : "desktop",
                            o.duration_s);
  const std::int64_t start = monotonic_ns();
  std::int64_t seq = 0;
  std::int64_t cpu_prev = target.pid ? cpu_ns(target.pids) : 0;
  while (seq < o.duration_s) {
    latency_histogram time_to_last;
    int missed = 0;
    const std::int64_t window_start = monotonic_ns();
    for (int i = 0; i < 10 && seq < o.duration_s; ++i) {
      ++seq;
      const std::int64_t ttl = co_await one_broadcast(target, seq, o.broadcast_persist);
      ttl < 0 ? ++missed : (time_to_last.record(ttl), 0);
      const std::int64_t next = start + seq * 1'000'000'000LL;
      const std::int64_t wait = next - monotonic_ns();
      if (wait > 0) co_await ctx_.sleep_ms(static_cast<int>(wait / 1'000'000));
    }
    ctx_.pool.send_all({{"cmd", "collect"}, {"reset", true}});
    const auto reports = co_await ctx_.pool.gather("collect", ctx_.deadline());
    latency_histogram latency;
    for (const auto& r : reports)
      if (!r.is_null()) latency.merge(latency_histogram::from_json(r["hist"]));
    const std::int64_t cpu_now = target.pid ? cpu_ns(target.pids) : 0;
    const double window_s = (monotonic_ns() - window_start) / 1e9;
    json w = {{"t_s", (monotonic_ns() - start) / 1e9},
              {"rss", target.pid ? rss_bytes(target.pids) : -1},
              {"cpu_pct", (cpu_now - cpu_prev) / 1e9 / window_s * 100.0},
              {"time_to_last_ms", time_to_last.summary_ms()},
              {"latency_ms", latency.summary_ms()},
              {"missed_broadcasts", missed}};
    cpu_prev = cpu_now;
    std::cout << "soak t=" << static_cast<int>(w["t_s"].get<double>())
              << "s rss=" << w["rss"].get<std::int64_t>() / 1024
              << " KiB cpu=" << static_cast<int>(w["cpu_pct"].get<double>())
              << "% last p50/max=" << w["time_to_last_ms"]["p50"] << "/"
              << w["time_to_last_ms"]["max"] << " ms latency p99=" << w["latency_ms"]["p99"]
              << " ms missed=" << missed << std::endl;
    if (missed)
      ctx_.fail(target.name + " soak: " + std::to_string(missed) + " broadcasts incomplete");
    windows.push_back(w);
  }
  co_return windows;
}

boost::asio::awaitable<json> scenario_runner::close_all() {
  ctx_.pool.send_all({{"cmd", "close"}});
  const auto reports = co_await ctx_.pool.gather("closed", ctx_.deadline());
  int closed = 0;
  for (const auto& r : reports)
    if (!r.is_null()) closed += r["closed"].get<int>();
  live_ = 0;
  co_return json{{"closed", closed}};
}

}  // namespace herald::bench
