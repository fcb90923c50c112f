#include "bench/floor_probe.hpp"

#include "bench/latency_histogram.hpp"
#include "bench/process_probe.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <iostream>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace herald::bench {

using nlohmann::json;

namespace {

std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int connect_loopback(std::uint16_t port, int source_index) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl((127u << 24) | static_cast<unsigned>(2 + source_index));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

floor_probe::floor_probe(bench_context& ctx, std::string frame)
    : ctx_(ctx), frame_(std::move(frame)) {}

boost::asio::awaitable<json> floor_probe::run() {
  const auto& o = ctx_.options;
  const int workers = ctx_.pool.size();
  // The parent holds every sending socket: stay under the per-process open-file limit.
  const int sockets = std::min(o.connections, 19'900);
  std::vector<int> share(workers, 0);
  for (int i = 0; i < sockets; ++i) ++share[i % workers];
  for (int w = 0; w < workers; ++w)
    ctx_.pool.send(w, {{"cmd", "floor_sink"}, {"sockets", share[w]}, {"frame_len", frame_.size()}});
  const auto listening = co_await ctx_.pool.gather("floor_listening", ctx_.deadline());

  std::vector<int> fds;
  fds.reserve(sockets);
  int failed = 0;
  for (int w = 0; w < workers; ++w) {
    if (listening[w].is_null()) {
      failed += share[w];
      continue;
    }
    const auto port = listening[w]["port"].get<std::uint16_t>();
    for (int j = 0; j < share[w]; ++j) {
      const int fd = connect_loopback(port, static_cast<int>(fds.size() + failed) % o.source_addrs);
      fd < 0 ? ++failed : (fds.push_back(fd), 0);
    }
  }
  json out = {{"sockets", fds.size()}, {"frame_bytes", frame_.size()}, {"rounds", o.broadcasts}};
  const auto ready = co_await ctx_.pool.gather("floor_ready", ctx_.deadline());
  bool all_ready = failed == 0;
  for (const auto& r : ready) all_ready = all_ready && !r.is_null();
  if (!all_ready) {
    ctx_.fail("floor: " + std::to_string(failed) + " of " + std::to_string(sockets) +
              " loopback sockets did not connect");
  } else {
    latency_histogram time_to_last;
    std::int64_t cpu_total = 0, wall_total = 0, short_sends = 0;
    const std::int64_t proc_cpu0 = cpu_ns(::getpid());
    for (int round = 1; round <= o.broadcasts; ++round) {
      const std::int64_t t0 = monotonic_ns();
      const std::int64_t c0 = thread_cpu_ns();
      for (int fd : fds) {
        const ssize_t n = ::send(fd, frame_.data(), frame_.size(), MSG_NOSIGNAL);
        if (n != static_cast<ssize_t>(frame_.size())) ++short_sends;
      }
      cpu_total += thread_cpu_ns() - c0;
      wall_total += monotonic_ns() - t0;
      const auto done = co_await ctx_.pool.gather(
          "floor_round", ctx_.deadline(),
          [round](const json& m) { return m.value("round", 0) == round; });
      std::int64_t last = 0;
      bool complete = true;
      for (const auto& d : done) {
        if (d.is_null())
          complete = false;
        else
          last = std::max(last, d["t_last"].get<std::int64_t>());
      }
      if (!complete) {
        ctx_.fail("floor: round " + std::to_string(round) + " did not reach every socket");
        break;
      }
      time_to_last.record(last - t0);
    }
    const std::int64_t proc_cpu = cpu_ns(::getpid()) - proc_cpu0;
    const double sends = static_cast<double>(fds.size()) * o.broadcasts;
    out["cpu_per_send_ns"] = cpu_total / sends;
    out["wall_per_send_ns"] = wall_total / sends;
    out["process_cpu_per_send_ns"] = proc_cpu / sends;
    out["short_sends"] = short_sends;
    out["time_to_last_ms"] = {{"p50", to_ms(time_to_last.quantile(0.5))},
                              {"p99", to_ms(time_to_last.quantile(0.99))},
                              {"max", to_ms(time_to_last.max())}};
  }
  for (int fd : fds) ::close(fd);
  ctx_.pool.send_all({{"cmd", "floor_end"}});
  co_await ctx_.pool.gather("floor_closed", ctx_.deadline());
  co_return out;
}

}  // namespace herald::bench
