// Counters behind GET /metrics, in Prometheus text format. Thread-safe (relaxed atomics).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace herald::gateway {

class metrics {
 public:
  std::atomic<std::int64_t> connections{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> frames_sent{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> slow_client_closes{0};
  std::atomic<std::uint64_t> upgrades_refused{0};
  std::atomic<std::uint64_t> bus_events{0};
  std::atomic<std::uint64_t> ws_frames_refused{0};      // client frames answered with an error
  std::atomic<std::uint64_t> ws_protocol_closes{0};     // connections closed for a protocol error
  std::atomic<std::uint64_t> ws_commands_throttled{0};  // reads paused at the in-flight cap
  std::atomic<std::uint64_t> ws_duplicates_dropped{
      0};                                           // notifications already sent on a connection
  std::atomic<std::uint64_t> ws_tokens_expired{0};  // connections closed at their token's exp
  std::atomic<std::uint64_t> ws_refreshes{0};       // tokens replaced on open connections
  // What the HTTP edge refused or shed (README "Resource bounds").
  std::atomic<std::uint64_t> accept_pauses{0};     // accept() ran out of descriptors
  std::atomic<std::uint64_t> connections_shed{0};  // pending connections closed to make room
  std::atomic<std::uint64_t> connections_refused_per_ip{0};
  std::atomic<std::uint64_t> connections_refused_fds{0};  // public side full (the fd reserve)
  std::atomic<std::uint64_t> requests_refused_too_large{0};
  std::atomic<std::uint64_t> requests_refused_malformed{0};
  std::atomic<std::uint64_t> requests_answered_unread{0};  // answered from the head, body unread

  void count_notify(int status);
  // One fan-out (a notify's delivery to the local sessions), in seconds.
  void observe_fanout(double seconds);
  // `users_online` comes from the registry at scrape time.
  std::string render(std::int64_t users_online, bool store_ready, bool bus_ready) const;

 private:
  static constexpr std::array<int, 9> statuses_{200, 400, 401, 403, 404, 405, 413, 500, 503};
  std::array<std::atomic<std::uint64_t>, statuses_.size() + 1> notify_by_status_{};
  static constexpr std::array<double, 12> buckets_{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                   0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
  std::array<std::atomic<std::uint64_t>, buckets_.size() + 1> fanout_buckets_{};
  std::atomic<std::uint64_t> fanout_sum_us_{0};
  std::atomic<std::uint64_t> fanout_count_{0};
};

}  // namespace herald::gateway
