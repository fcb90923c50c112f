// The node's queue consumers (AMQP and/or a Redis stream, as configured), glued to the notify
// path: each message goes through queue_ingest, is acked after its commit, rejected (AMQP) or
// moved to KEY:dead (stream) when refused, and held and tried again while the store is down
// (held messages are bounded by the prefetch window). Counts per source for /metrics.
// Thread safety: start/pause/stop from the main thread; the rest from any thread.
#pragma once
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace herald::cm {
class amqp_consumer;
class stream_consumer;
}  // namespace herald::cm

namespace herald::gateway {

class server;

class queue_consumers {
 public:
  // `work`: where messages are validated and their completions run (one thread runs it).
  queue_consumers(server& srv, boost::asio::io_context& work);
  ~queue_consumers();

  void start();
  // Draining: no new messages are taken; held ones are let go unsettled (the broker keeps them).
  void pause();
  void stop();

  // False while a configured queue is not reachable (for /readyz); the reason in `why`.
  bool ready(std::string* why = nullptr) const;
  std::string metrics_text() const;
  // The same counts for GET /v1/stats: {"amqp": {...}, "stream": {...}}, configured sources only.
  nlohmann::json stats_json() const;

  struct counters {
    std::atomic<std::uint64_t> consumed{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> redelivered{0};
    std::atomic<std::uint64_t> retried{0};  // tries again after the store did not take it
    std::atomic<std::int64_t> in_flight{0};
  };

 private:
  struct amqp_glue;
  struct stream_glue;
  server& srv_;
  boost::asio::any_io_executor work_;
  std::shared_ptr<amqp_glue> amqp_;
  std::shared_ptr<stream_glue> stream_;
  std::atomic<bool> paused_{false};
};

}  // namespace herald::gateway
