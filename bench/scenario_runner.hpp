// Runs the chosen scenarios in order (floor, connect, broadcast, personal, reconnect, soak,
// inbox, then peer) and gathers every figure into one JSON document.
// Thread safety: parent's io_context thread.
#pragma once
#include "bench/bench_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace herald::bench {

class scenario_runner {
 public:
  explicit scenario_runner(bench_context& ctx);

  boost::asio::awaitable<void> run();
  const nlohmann::json& results() const { return results_; }

  // The desktop frame a broadcast produces, as the floor scenario writes it.
  std::string sample_frame() const;

 private:
  boost::asio::awaitable<nlohmann::json> connect(const bench_target& target, bool measure_idle,
                                                 std::optional<std::int64_t> since = std::nullopt,
                                                 std::vector<std::int64_t> expect_ids = {});
  boost::asio::awaitable<nlohmann::json> broadcast(const bench_target& target, int count,
                                                   bool persist);
  // One broadcast: returns time to the last client in ns, or -1 when it did not reach everyone.
  boost::asio::awaitable<std::int64_t> one_broadcast(const bench_target& target, std::int64_t seq,
                                                     bool persist);
  boost::asio::awaitable<nlohmann::json> reconnect(const bench_target& target);
  boost::asio::awaitable<nlohmann::json> soak(const bench_target& target);
  boost::asio::awaitable<nlohmann::json> close_all();
  boost::asio::awaitable<nlohmann::json> run_target(const bench_target& target, bool is_peer);

  bench_context& ctx_;
  nlohmann::json results_;
  int live_ = 0;  // clients connected now
};

}  // namespace herald::bench
