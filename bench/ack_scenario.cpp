#include "bench/ack_scenario.hpp"

#include "bench/latency_histogram.hpp"
#include "bench/process_probe.hpp"

#include <algorithm>
#include <iostream>
#include <set>

namespace herald::bench {

namespace http = boost::beast::http;
using nlohmann::json;

ack_scenario::ack_scenario(bench_context& ctx) : ctx_(ctx) {}

boost::asio::awaitable<std::pair<std::int64_t, std::int64_t>> ack_scenario::one(
    const bench_target& target, std::int64_t seq) {
  const std::int64_t t0 = monotonic_ns();
  const json body = {
      {"user_id", -1},    {"title", "bench ack broadcast"},
      {"content", ""},    {"persist", true},
      {"desktop", false}, {"data", {{"bench_kind", 1}, {"bench_seq", seq}, {"bench_t0", t0}}}};
  const auto answer = co_await ctx_.notify(target, body);
  const auto parsed = json::parse(answer.body, nullptr, false);
  if (answer.status != 200 || !parsed.is_object() || !parsed.value("id", json()).is_number()) {
    ctx_.fail(target.name + " acks: broadcast " + std::to_string(seq) + ": HTTP " +
              std::to_string(answer.status) + " " + answer.error + answer.body.substr(0, 200));
    co_return std::make_pair(std::int64_t{-1}, std::int64_t{0});
  }
  const std::int64_t id = parsed["id"];
  const auto done = co_await ctx_.pool.gather("bcast", ctx_.deadline(), [seq](const json& m) {
    return m.value("seq", std::int64_t{0}) == seq;
  });
  std::int64_t last = 0;
  for (const auto& d : done) {
    if (d.is_null()) co_return std::make_pair(std::int64_t{-1}, id);
    last = std::max(last, d["t_last"].get<std::int64_t>());
  }
  co_return std::make_pair(last - t0, id);
}

boost::asio::awaitable<json> ack_scenario::run(const bench_target& target) {
  const auto& o = ctx_.options;
  const int per_block = o.ack_broadcasts;
  // Broadcasts 1..B: the clients stay silent; B+1..2B: each client acks every item it gets.
  ctx_.pool.send_all({{"cmd", "phase"},
                      {"kind", "broadcast"},
                      {"frame", "notification"},
                      {"count", 2 * per_block},
                      {"first_seq", 1},
                      {"ack_from_seq", per_block + 1}});
  const auto phase_acks = co_await ctx_.pool.gather("phase_ok", ctx_.deadline());
  int live = 0;
  for (const auto& a : phase_acks)
    if (!a.is_null()) live += a["live"].get<int>();
  // The distinct users of the live clients: connection i is user user_base + i % U.
  const int users = o.users > 0 ? std::min(o.users, live) : live;

  latency_histogram blocks[2];
  std::vector<std::int64_t> ids[2];
  std::int64_t cpu[2] = {0, 0};
  std::int64_t span[2][2] = {{0, 0}, {0, 0}};  // each block's CLOCK_MONOTONIC start and end
  int incomplete = 0;
  for (int b = 0; b < 2; ++b) {
    co_await ctx_.sleep_ms(2000);  // the previous block's acks are written by now
    const std::int64_t c0 = target.pid ? cpu_ns(target.pid) : 0;
    span[b][0] = monotonic_ns();
    for (int k = 0; k < per_block; ++k) {
      // With a spacing past the ack flush period, each acked broadcast meets only its own acks
      // (and their flush), not those of the broadcast before it.
      if (k > 0 && o.ack_spacing_ms > 0) co_await ctx_.sleep_ms(o.ack_spacing_ms);
      const auto [ttl, id] = co_await one(target, b * per_block + k + 1);
      ids[b].push_back(id);
      ttl < 0 ? ++incomplete : (blocks[b].record(ttl), 0);
    }
    cpu[b] = target.pid ? cpu_ns(target.pid) - c0 : 0;
    span[b][1] = monotonic_ns();
  }
  auto checks = co_await ctx_.collect_phase();

  // Acks take effect within 5 s (API.md): then every stat must be exact.
  co_await ctx_.sleep_ms(5000);
  http_client admin(ctx_.ex, target.internal_addr);
  int stats_wrong = 0;
  json first_wrong;
  std::int64_t delivered_total[2] = {0, 0};
  for (int b = 0; b < 2; ++b) {
    for (const auto id : ids[b]) {
      if (id == 0) continue;
      const auto r = co_await admin.request(
          http::verb::get, "/v1/notifications/" + std::to_string(id), "", o.api_key);
      const auto j = json::parse(r.body, nullptr, false);
      const json stats = j.is_object() ? j.value("stats", json()) : json();
      const std::int64_t want = b == 0 ? 0 : users;
      const bool ok = r.status == 200 && stats.is_object() &&
                      stats.value("delivered", std::int64_t{-1}) == want &&
                      stats.value("read", std::int64_t{-1}) == 0 &&
                      stats.value("deleted", std::int64_t{-1}) == 0;
      if (stats.is_object()) delivered_total[b] += stats.value("delivered", std::int64_t{0});
      if (!ok && stats_wrong++ == 0)
        first_wrong = {
            {"id", id}, {"status", r.status}, {"stats", stats}, {"want_delivered", want}};
    }
  }
  admin.close();

  const auto off = blocks[0].summary_ms(), on = blocks[1].summary_ms();
  const double p50_off = off.value("p50", 0.0), p50_on = on.value("p50", 0.0);
  const double slowdown_pct = p50_off > 0 ? (p50_on / p50_off - 1.0) * 100.0 : 0.0;
  json out = {{"broadcasts_per_block", per_block},
              {"spacing_ms", o.ack_spacing_ms},
              {"clients", live},
              {"users", users},
              {"time_to_last_ms_acks_off", off},
              {"time_to_last_ms_acks_on", on},
              {"p50_slowdown_pct", slowdown_pct},
              {"latency_ms", checks["latency_ms"]},
              {"complete_clients", checks["complete"]},
              {"incomplete_broadcasts", incomplete},
              {"unexpected_frames", checks["unexpected"]},
              {"delivered_per_broadcast_acks_on",
               per_block ? static_cast<double>(delivered_total[1]) / per_block : 0.0},
              {"stats_wrong", stats_wrong},
              // For a profile of one block (perf record -k CLOCK_MONOTONIC, perf report --time).
              {"block_monotonic_ns", {{span[0][0], span[0][1]}, {span[1][0], span[1][1]}}}};
  if (target.pid && live > 0) {
    out["cpu_per_recipient_ns_acks_off"] =
        static_cast<double>(cpu[0]) / (static_cast<double>(live) * per_block);
    out["cpu_per_recipient_ns_acks_on"] =
        static_cast<double>(cpu[1]) / (static_cast<double>(live) * per_block);
  }
  std::cout << "acks: " << live << " clients (" << users << " users), " << per_block
            << " broadcasts per block, " << o.ack_spacing_ms
            << " ms apart: time to last client p50 " << p50_off << " ms silent, " << p50_on
            << " ms acking (" << slowdown_pct << " %); stats wrong: " << stats_wrong << std::endl;
  if (incomplete)
    ctx_.fail(target.name + " acks: " + std::to_string(incomplete) +
              " broadcasts did not reach every client");
  if (checks["complete"].get<int>() != live || checks["incomplete"].get<int>() != 0)
    ctx_.fail(target.name + " acks: " + checks["incomplete"].dump() +
              " clients missed or repeated a broadcast");
  if (stats_wrong)
    ctx_.fail(target.name + " acks: " + std::to_string(stats_wrong) +
              " broadcasts with inexact stats, first " + first_wrong.dump());
  if (slowdown_pct > o.ack_max_slowdown_pct)
    ctx_.fail(target.name + " acks: acking clients slowed the time to the last client by " +
              std::to_string(slowdown_pct) + " % (budget " +
              std::to_string(o.ack_max_slowdown_pct) + " %)");
  co_return out;
}

}  // namespace herald::bench
