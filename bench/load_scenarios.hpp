// The HTTP-driven scenarios: `personal` (notifications to connected users at a fixed
// concurrency over keep-alive connections) and `inbox` (unread-count and inbox-page requests
// for users with many stored items). Thread safety: parent's io_context thread.
#pragma once
#include "bench/bench_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

namespace herald::bench {

class load_scenarios {
 public:
  explicit load_scenarios(bench_context& ctx);

  boost::asio::awaitable<nlohmann::json> personal(const bench_target& target, bool persist);
  boost::asio::awaitable<nlohmann::json> inbox(const bench_target& target);
  // Counts and pages of users in 6 groups on a store seeded by bench/seed_scale.py, then
  // persisted notify throughput.
  boost::asio::awaitable<nlohmann::json> scale(const bench_target& target);

  struct http_job {
    boost::beast::http::verb method = boost::beast::http::verb::get;
    std::string target;
    std::string body;
    std::string bearer;
  };
  // Issues `total` requests over `concurrency` keep-alive connections, connection c to
  // servers[c % size]; request k is built by make(k) just before it is sent and its answer
  // handed to on_result(k, answer).
  boost::asio::awaitable<void> run_load(std::vector<host_port> servers, int total, int concurrency,
                                        std::function<http_job(int)> make,
                                        std::function<void(int, const http_result&)> on_result);

 private:
  bench_context& ctx_;
};

}  // namespace herald::bench
