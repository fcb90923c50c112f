// The `acks` scenario: persisted broadcasts to every connected client, first with the clients
// silent, then with every client acking each item it gets (the `ack` frame of API.md v1.1), so
// that the acks and the receipts they write overlap the next broadcasts' fan-out. Reports the
// time to the last client of both blocks (p50 and the slowdown) and checks each broadcast's
// stats from `GET /v1/notifications/{id}`: `delivered` is exactly the number of distinct users
// connected for the acked block and 0 for the silent one, `read` and `deleted` are 0.
// Thread safety: parent's io_context thread.
#pragma once
#include "bench/bench_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

namespace herald::bench {

class ack_scenario {
 public:
  explicit ack_scenario(bench_context& ctx);
  boost::asio::awaitable<nlohmann::json> run(const bench_target& target);

 private:
  // One persisted broadcast: {time to the last client in ns (-1: incomplete), its id}.
  boost::asio::awaitable<std::pair<std::int64_t, std::int64_t>> one(const bench_target& target,
                                                                    std::int64_t seq);
  bench_context& ctx_;
};

}  // namespace herald::bench
