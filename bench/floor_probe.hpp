// The floor scenario: the same frame written with plain send() calls to as many loopback
// sockets as there are clients (no WebSocket, no Herald), received by the workers. Its CPU per
// send is the kernel's cost on this box, the yardstick for every broadcast figure.
// Thread safety: parent's io_context thread.
#pragma once
#include "bench/bench_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace herald::bench {

class floor_probe {
 public:
  floor_probe(bench_context& ctx, std::string frame);

  // Runs options.broadcasts rounds over options.connections sockets; returns the figures.
  boost::asio::awaitable<nlohmann::json> run();

 private:
  bench_context& ctx_;
  std::string frame_;
};

}  // namespace herald::bench
