// What every scenario of one bench run shares: options, the workers, the parent's executor,
// the token minter, and the list of failed checks. Thread safety: parent's io_context thread.
#pragma once
#include "bench/bench_options.hpp"
#include "bench/http_client.hpp"
#include "bench/token_minter.hpp"
#include "bench/worker_pool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace herald::bench {

// A server under test: Herald or the Bun peer.
struct bench_target {
  std::string name;
  host_port public_addr;
  host_port internal_addr;
  pid_t pid = 0;
  // Every node of a cluster under test (one entry each for a single server): where each
  // worker's clients connect, where HTTP load spreads, whose RSS and CPU the figures add up.
  std::vector<host_port> public_nodes;
  std::vector<host_port> internal_nodes;
  std::vector<pid_t> pids;
};

class bench_context {
 public:
  bench_context(const bench_options& options, worker_pool& pool, boost::asio::any_io_executor ex);

  const bench_options& options;
  worker_pool& pool;
  boost::asio::any_io_executor ex;
  token_minter minter;
  std::vector<std::string> failures;

  // now + the configured timeout, scaled.
  std::int64_t deadline(double scale = 1.0) const;
  // Records a failed check (the run then exits 1) and prints it.
  void fail(const std::string& what);
  boost::asio::awaitable<void> sleep_ms(int ms);
  // POST /v1/notify on the target's internal listener through a shared keep-alive connection.
  boost::asio::awaitable<http_result> notify(const bench_target& target,
                                             const nlohmann::json& body);

  // Starts a measured phase in every worker; answers {"live", "expected"} summed.
  boost::asio::awaitable<nlohmann::json> start_phase(const std::string& kind,
                                                     const std::string& frame, std::int64_t count,
                                                     std::int64_t first_seq = 1);
  // The workers' tallies of the phase summed, with the merged delivery latency.
  boost::asio::awaitable<nlohmann::json> collect_phase();

 private:
  std::unique_ptr<http_client> herald_admin_, peer_admin_;
};

// Milliseconds with three decimals, for reports.
double to_ms(std::int64_t ns);

}  // namespace herald::bench
