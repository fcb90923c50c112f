#include "bench/load_scenarios.hpp"

#include "bench/latency_histogram.hpp"
#include "bench/process_probe.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <chrono>
#include <memory>
#include <span>

namespace herald::bench {

namespace {

// The value of the last "unread" key of an inbox answer (the page puts it last), -1 if none.
std::int64_t unread_in(const std::string& body) {
  const auto at = body.rfind("\"unread\":");
  if (at == std::string::npos) return -1;
  std::int64_t v = 0;
  const char* first = body.data() + at + 9;
  auto [p, ec] = std::from_chars(first, body.data() + body.size(), v);
  return ec == std::errc() && p != first ? v : -1;
}

// The number of items in an inbox page: each item object starts with its id.
std::size_t items_in(const std::string& body) {
  std::size_t n = 0;
  for (auto at = body.find("{\"id\":"); at != std::string::npos; at = body.find("{\"id\":", at + 6))
    ++n;
  return n;
}

}  // namespace

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

// What a read phase saw: the latencies of counts and pages, failed requests, wrong answers, and
// the first of either.
struct read_tally {
  latency_histogram count_latency, page_latency;
  int errors = 0, wrong = 0;
  std::string first_wrong;
};

// `requests` GETs over `concurrency` connections to the public listener, alternating
// /v1/inbox/unread_count and /v1/inbox?limit=20, request k for user i = (k / 2) % tokens.size().
// Every answer's unread must be want(i), every page must hold min(20, want(i)) items, and
// extra(k, answer), when given, must hold too (read without a JSON parser: the load generator
// shares the CPUs with Herald).
asio::awaitable<void> read_phase(load_scenarios& load, const bench_target& target, int requests,
                                 int concurrency, std::span<const std::string> tokens,
                                 std::function<std::int64_t(std::size_t)> want,
                                 std::function<bool(int, const http_result&)> extra,
                                 read_tally& t) {
  const auto user_of = [&](int k) { return static_cast<std::size_t>(k / 2) % tokens.size(); };
  const std::vector<host_port> servers{target.public_addr};  // (GCC 12: no braces in co_await)
  co_await load.run_load(
      servers, requests, concurrency,
      [&](int k) {
        return load_scenarios::http_job{http::verb::get,
                                        k % 2 ? "/v1/inbox?limit=20" : "/v1/inbox/unread_count", "",
                                        tokens[user_of(k)]};
      },
      [&](int k, const http_result& r) {
        if (r.status != 200) {
          if (t.errors++ == 0 && t.first_wrong.empty())
            t.first_wrong = std::to_string(r.status) + " " + r.error + r.body.substr(0, 200);
          return;
        }
        (k % 2 ? t.page_latency : t.count_latency).record(r.latency_ns);
        const std::int64_t unread = want(user_of(k));
        bool ok = unread_in(r.body) == unread;
        if (k % 2)
          ok = ok &&
               items_in(r.body) == static_cast<std::size_t>(std::min<std::int64_t>(20, unread));
        if (extra) ok = ok && extra(k, r);
        if (!ok && t.wrong++ == 0) t.first_wrong = r.body.substr(0, 300);
      });
}

}  // namespace

load_scenarios::load_scenarios(bench_context& ctx) : ctx_(ctx) {}

asio::awaitable<void> load_scenarios::run_load(
    std::vector<host_port> servers, int total, int concurrency, std::function<http_job(int)> make,
    std::function<void(int, const http_result&)> on_result) {
  struct shared_state {
    int next = 0;
    int running = 0;
    asio::steady_timer done;
    explicit shared_state(asio::any_io_executor ex)
        : done(ex, asio::steady_timer::time_point::max()) {}
  };
  auto state = std::make_shared<shared_state>(ctx_.ex);
  state->running = concurrency;
  for (int c = 0; c < concurrency; ++c) {
    const host_port server = servers[static_cast<std::size_t>(c) % servers.size()];
    asio::co_spawn(
        ctx_.ex,
        [state, server, total, make, on_result, ex = ctx_.ex]() -> asio::awaitable<void> {
          http_client client(ex, server);
          while (state->next < total) {
            const int k = state->next++;
            http_job job = make(k);
            const auto result =
                co_await client.request(job.method, job.target, std::move(job.body), job.bearer);
            on_result(k, result);
          }
          client.close();
          if (--state->running == 0) state->done.cancel();
        },
        asio::detached);
  }
  while (state->running > 0) {
    boost::system::error_code ec;
    co_await state->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<json> load_scenarios::personal(const bench_target& target, bool persist) {
  const auto& o = ctx_.options;
  const auto phase =
      co_await ctx_.start_phase("personal", persist ? "notification" : "desktop", o.personal);
  const int live = phase["live"];
  latency_histogram http_latency;
  int http_errors = 0;
  std::string first_error;
  const std::int64_t t_start = monotonic_ns();
  co_await run_load(
      target.internal_nodes, o.personal, o.concurrency,
      [&](int k) {
        const json body = {
            {"user_id", o.user_base + static_cast<std::uint64_t>(k % o.users)},
            {"title", "bench personal"},
            {"content", ""},
            {"persist", persist},
            {"desktop", !persist},
            {"data", {{"bench_kind", 2}, {"bench_seq", k + 1}, {"bench_t0", monotonic_ns()}}}};
        return http_job{http::verb::post, "/v1/notify", body.dump(), o.api_key};
      },
      [&](int, const http_result& r) {
        if (r.status == 200) {
          http_latency.record(r.latency_ns);
          return;
        }
        if (http_errors++ == 0)
          first_error = std::to_string(r.status) + " " + r.error + r.body.substr(0, 200);
      });
  const std::int64_t t_sent = monotonic_ns();
  const auto done = co_await ctx_.pool.gather("personal_done", ctx_.deadline());
  std::int64_t t_last = t_sent;
  int missing = 0;
  for (const auto& d : done)
    d.is_null() ? ++missing : (t_last = std::max(t_last, d["t_last"].get<std::int64_t>()), 0);
  const auto checks = co_await ctx_.collect_phase();
  const std::int64_t delivered = checks["delivered"];
  json out = {{"sent", o.personal},
              {"persist", persist},
              {"concurrency", o.concurrency},
              {"http_errors", http_errors},
              {"sent_per_s", o.personal / ((t_sent - t_start) / 1e9)},
              {"expected_deliveries", phase["expected"]},
              {"delivered", delivered},
              {"delivered_per_s", delivered / ((t_last - t_start) / 1e9)},
              {"latency_ms", checks["latency_ms"]},
              {"http_ms", http_latency.summary_ms()},
              {"clients", live},
              {"complete_clients", checks["complete"]},
              {"unexpected_frames", checks["unexpected"]}};
  if (http_errors)
    ctx_.fail(target.name + " personal: " + std::to_string(http_errors) +
              " requests failed, first: " + first_error);
  if (missing || delivered != phase["expected"].get<std::int64_t>())
    ctx_.fail(target.name + " personal: delivered " + std::to_string(delivered) + " of " +
              phase["expected"].dump());
  if (checks["complete"].get<int>() != live)
    ctx_.fail(target.name + " personal: " + checks["incomplete"].dump() +
              " clients got the wrong notifications");
  co_return out;
}

asio::awaitable<json> load_scenarios::inbox(const bench_target& target) {
  const auto& o = ctx_.options;
  // Fresh users for every run, far from the connected ones (ids stay below 2^53).
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const std::uint64_t base =
      900'000'000'000ULL + static_cast<std::uint64_t>(now_s % 1'000'000) * 1000;
  std::vector<std::string> tokens;
  for (int u = 0; u <= o.inbox_users; ++u) tokens.push_back(ctx_.minter.mint(base + u));

  http_client probe(ctx_.ex, target.public_addr);
  // A user with no personal items sees exactly the stored broadcasts: the baseline count.
  auto baseline_answer =
      co_await probe.request(http::verb::get, "/v1/inbox/unread_count", "", tokens.back());
  const auto baseline_body = json::parse(baseline_answer.body, nullptr, false);
  if (baseline_answer.status != 200 || !baseline_body.is_object() ||
      !baseline_body.contains("unread")) {
    ctx_.fail(target.name + " inbox: unread_count answered " +
              std::to_string(baseline_answer.status) + " " + baseline_answer.body.substr(0, 200));
    co_return json{{"error", "no baseline"}};
  }
  const std::int64_t baseline = baseline_body["unread"];

  // Seed: inbox_items notifications, each to every inbox user, through /v1/notify/batch.
  json user_ids = json::array();
  for (int u = 0; u < o.inbox_users; ++u) user_ids.push_back(base + u);
  const int per_batch = 50;
  const int batches = (o.inbox_items + per_batch - 1) / per_batch;
  int seed_errors = 0;
  std::string first_error;
  const std::int64_t seed_t0 = monotonic_ns();
  const std::vector<host_port> servers{target.internal_addr};  // (GCC 12: no braces in co_await)
  co_await run_load(
      servers, batches, 4,
      [&](int b) {
        json list = json::array();
        for (int i = b * per_batch; i < std::min(o.inbox_items, (b + 1) * per_batch); ++i)
          list.push_back({{"user_ids", user_ids},
                          {"title", "bench inbox " + std::to_string(i)},
                          {"content", "stored for the inbox scenario"},
                          {"desktop", false}});
        return http_job{http::verb::post, "/v1/notify/batch", json{{"notifications", list}}.dump(),
                        o.api_key};
      },
      [&](int, const http_result& r) {
        const auto body = json::parse(r.body, nullptr, false);
        bool ok = r.status == 200 && body.is_object() && body.contains("results");
        if (ok)
          for (const auto& entry : body["results"])
            ok = ok && entry.is_object() && entry.contains("ids");
        if (!ok && seed_errors++ == 0)
          first_error = std::to_string(r.status) + " " + r.error + r.body.substr(0, 200);
      });
  const double seed_s = (monotonic_ns() - seed_t0) / 1e9;
  if (seed_errors)
    ctx_.fail(target.name + " inbox seed: " + std::to_string(seed_errors) +
              " batches failed, first: " + first_error);

  const std::int64_t expected_unread = baseline + o.inbox_items;
  const std::size_t expected_page =
      static_cast<std::size_t>(std::min<std::int64_t>(20, expected_unread));
  read_tally t;
  const std::int64_t t0 = monotonic_ns();
  co_await read_phase(
      *this, target, o.inbox_requests, o.inbox_concurrency,
      std::span<const std::string>(tokens).first(static_cast<std::size_t>(o.inbox_users)),
      [&](std::size_t) { return expected_unread; },
      [&](int k, const http_result& r) {
        if (k % 32 != 1) return true;  // every 16th page fully parsed too
        const auto body = json::parse(r.body, nullptr, false);
        return body.is_object() && body.value("unread", std::int64_t{-1}) == expected_unread &&
               body.contains("notifications") && body["notifications"].size() == expected_page;
      },
      t);
  const double seconds = (monotonic_ns() - t0) / 1e9;
  const int errors = t.errors, wrong = t.wrong;
  const std::string& first_wrong = t.first_wrong;
  json out = {{"users", o.inbox_users},
              {"items_per_user", o.inbox_items},
              {"seeded_items", static_cast<std::int64_t>(o.inbox_users) * o.inbox_items},
              {"seed_items_per_s", o.inbox_users * static_cast<double>(o.inbox_items) / seed_s},
              {"requests", o.inbox_requests},
              {"concurrency", o.inbox_concurrency},
              {"requests_per_s", o.inbox_requests / seconds},
              {"unread_count_ms", t.count_latency.summary_ms()},
              {"inbox_page_ms", t.page_latency.summary_ms()},
              {"http_errors", errors},
              {"wrong_answers", wrong}};
  if (errors || wrong)
    ctx_.fail(target.name + " inbox: " + std::to_string(errors) + " errors, " +
              std::to_string(wrong) + " wrong answers (expected unread " +
              std::to_string(expected_unread) + "), first: " + first_wrong);
  co_return out;
}

asio::awaitable<json> load_scenarios::scale(const bench_target& target) {
  const auto& o = ctx_.options;
  // The groups bench/seed_scale.py gives user u: 6 groups, 5 of them in stored audiences.
  auto groups_of = [&](std::uint64_t u) {
    const auto org = static_cast<int>(u % static_cast<std::uint64_t>(o.scale_orgs));
    return std::vector<std::string>{"org/" + std::to_string(org),
                                    "role/" + std::to_string(org % o.scale_roles),
                                    "job/" + std::to_string(org % o.scale_jobs),
                                    "team/" + std::to_string(u % 7),
                                    "site/" + std::to_string(u % 3),
                                    "all/x"};
  };
  // Users spread over the whole id range (and so over every org).
  std::vector<std::uint64_t> users;
  std::vector<std::string> tokens;
  const auto step =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(o.scale_users / o.scale_sample));
  for (int k = 0; k < o.scale_sample; ++k) {
    const std::uint64_t u =
        1 + (static_cast<std::uint64_t>(k) * step) % static_cast<std::uint64_t>(o.scale_users);
    users.push_back(u);
    tokens.push_back(ctx_.minter.mint_with(u, groups_of(u)));
  }
  // Each user's count before the run: every answer of the read phase must repeat it.
  std::vector<std::int64_t> expected(users.size(), -1);
  read_tally t;  // the errors of this first pass count too
  int &errors = t.errors, &wrong = t.wrong;
  std::string& first_wrong = t.first_wrong;
  const std::vector<host_port> readers{target.public_addr};  // (GCC 12: no braces in co_await)
  co_await run_load(
      readers, static_cast<int>(users.size()), o.inbox_concurrency,
      [&](int k) {
        return http_job{http::verb::get, "/v1/inbox/unread_count", "",
                        tokens[static_cast<std::size_t>(k)]};
      },
      [&](int k, const http_result& r) {
        if (r.status == 200) {
          expected[static_cast<std::size_t>(k)] = unread_in(r.body);
        } else if (errors++ == 0) {
          first_wrong = std::to_string(r.status) + " " + r.error + r.body.substr(0, 200);
        }
      });
  const std::int64_t t0 = monotonic_ns();
  co_await read_phase(
      *this, target, o.scale_requests, o.inbox_concurrency, tokens,
      [&](std::size_t i) { return expected[i]; }, nullptr, t);
  const double seconds = (monotonic_ns() - t0) / 1e9;
  // Persisted notify throughput on the seeded store: personal items to the sampled users.
  int notify_errors = 0;
  const std::int64_t n0 = monotonic_ns();
  const std::vector<host_port> writers{target.internal_addr};  // (GCC 12: no braces in co_await)
  co_await run_load(
      writers, o.scale_notifies, o.inbox_concurrency,
      [&](int k) {
        json body = {{"user_id", users[static_cast<std::size_t>(k) % users.size()]},
                     {"title", "scale notify " + std::to_string(k)},
                     {"content", "persisted on the seeded store"}};
        return http_job{http::verb::post, "/v1/notify", body.dump(), o.api_key};
      },
      [&](int, const http_result& r) {
        if (r.status != 200 && notify_errors++ == 0)
          first_wrong = std::to_string(r.status) + " " + r.body.substr(0, 200);
      });
  const double notify_s = (monotonic_ns() - n0) / 1e9;
  std::int64_t min_unread = -1, max_unread = -1;
  for (auto e : expected) {
    if (min_unread < 0 || e < min_unread) min_unread = e;
    max_unread = std::max(max_unread, e);
  }
  json out = {{"scale_users", o.scale_users},
              {"sampled_users", users.size()},
              {"unread_min", min_unread},
              {"unread_max", max_unread},
              {"requests", o.scale_requests},
              {"concurrency", o.inbox_concurrency},
              {"requests_per_s", o.scale_requests / seconds},
              {"unread_count_ms", t.count_latency.summary_ms()},
              {"inbox_page_ms", t.page_latency.summary_ms()},
              {"notifies", o.scale_notifies},
              {"notify_per_s", o.scale_notifies ? o.scale_notifies / notify_s : 0.0},
              {"http_errors", errors + notify_errors},
              {"wrong_answers", wrong}};
  if (errors || wrong || notify_errors)
    ctx_.fail(target.name + " scale: " + std::to_string(errors + notify_errors) + " errors, " +
              std::to_string(wrong) + " wrong answers, first: " + first_wrong);
  co_return out;
}

}  // namespace herald::bench
