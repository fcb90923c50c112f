#include "bench/bench_context.hpp"

#include "bench/latency_histogram.hpp"
#include "bench/process_probe.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <cmath>
#include <iostream>

namespace herald::bench {

namespace asio = boost::asio;
using nlohmann::json;

bench_context::bench_context(const bench_options& o, worker_pool& p, asio::any_io_executor e)
    : options(o), pool(p), ex(e), minter(o.jwt_secret, {"org/1"}) {}

std::int64_t bench_context::deadline(double scale) const {
  return monotonic_ns() + static_cast<std::int64_t>(options.timeout_s * scale * 1e9);
}

void bench_context::fail(const std::string& what) {
  std::cerr << "herald-bench: CHECK FAILED: " << what << "\n";
  failures.push_back(what);
}

asio::awaitable<void> bench_context::sleep_ms(int ms) {
  asio::steady_timer timer(ex, std::chrono::milliseconds(ms));
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<http_result> bench_context::notify(const bench_target& target,
                                                   const nlohmann::json& body) {
  auto& client = target.name == "peer" ? peer_admin_ : herald_admin_;
  if (!client) client = std::make_unique<http_client>(ex, target.internal_addr);
  co_return co_await client->request(boost::beast::http::verb::post, "/v1/notify", body.dump(),
                                     options.api_key);
}

boost::asio::awaitable<json> bench_context::start_phase(const std::string& kind,
                                                        const std::string& frame,
                                                        std::int64_t count,
                                                        std::int64_t first_seq) {
  pool.send_all({{"cmd", "phase"},
                 {"kind", kind},
                 {"frame", frame},
                 {"count", count},
                 {"first_seq", first_seq}});
  const auto acks = co_await pool.gather("phase_ok", deadline());
  int live = 0;
  std::int64_t expected = 0;
  for (const auto& a : acks) {
    if (a.is_null()) continue;
    live += a["live"].get<int>();
    expected += a["expected"].get<std::int64_t>();
  }
  co_return json{{"live", live}, {"expected", expected}};
}

boost::asio::awaitable<json> bench_context::collect_phase() {
  pool.send_all({{"cmd", "collect"}});
  const auto reports = co_await pool.gather("collect", deadline());
  latency_histogram hist;
  json sum = {{"complete", 0},   {"incomplete", 0}, {"bad", 0},
              {"unexpected", 0}, {"delivered", 0},  {"dropped", 0}};
  for (const auto& r : reports) {
    if (r.is_null()) continue;
    hist.merge(latency_histogram::from_json(r["hist"]));
    for (auto& [k, v] : sum.items()) v = v.get<std::int64_t>() + r.value(k, std::int64_t{0});
  }
  sum["latency_ms"] = hist.summary_ms();
  co_return sum;
}

double to_ms(std::int64_t ns) { return std::round(ns / 1000.0) / 1000.0; }

}  // namespace herald::bench
