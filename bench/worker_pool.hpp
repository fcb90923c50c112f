// The parent's side of the worker processes: forks them, sends commands, and gathers their
// reports with deadlines. Thread safety: parent's single io_context thread only.
#pragma once
#include "bench/bench_options.hpp"
#include "bench/pipe_channel.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace herald::bench {

class worker_pool {
 public:
  // Forks options.workers processes. In each child this runs the worker and never returns.
  explicit worker_pool(const bench_options& options);
  ~worker_pool();

  // Starts reading the workers' reports on `ex` (call once, in the parent, after the fork).
  void start(boost::asio::any_io_executor ex);
  int size() const { return static_cast<int>(pids_.size()); }

  void send(int worker, const nlohmann::json& command);
  void send_all(const nlohmann::json& command);

  // Waits until every worker has sent a report named `ev` (accepted by `match` when given) or
  // `deadline_ns` (monotonic) passes; slot i holds worker i's report or null.
  boost::asio::awaitable<std::vector<nlohmann::json>> gather(
      const std::string& ev, std::int64_t deadline_ns,
      std::function<bool(const nlohmann::json&)> match = {});

  // Tells the workers to exit and reaps them.
  void shutdown();

 private:
  boost::asio::awaitable<void> read_loop(int worker);

  const bench_options& options_;
  std::vector<pid_t> pids_;
  std::vector<int> read_fds_, write_fds_;
  std::vector<std::unique_ptr<pipe_channel>> channels_;
  std::vector<std::deque<nlohmann::json>> inbox_;
  std::unique_ptr<boost::asio::steady_timer> wake_;
  bool shut_ = false;
};

}  // namespace herald::bench
