// An AMQP 0-9-1 consumer of one queue (rabbitmq-c), on a thread of its own: rabbitmq-c's calls
// block (connect, login, declare, publish) and one connection must not be shared between
// threads, so the thread owns the connection and everything else reaches it through a queue of
// settlements woken by an eventfd. It declares the queue durable when it is missing, consumes
// with a prefetch window, hands each delivery to a handler, and acks, rejects (no requeue) or
// answers (reply_to, correlation_id) when told to. A lost broker is retried with capped,
// jittered exponential backoff; deliveries of a lost connection are never settled (the broker
// gives them again). Thread safety: every public member may be called from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace herald::cm {

class amqp_consumer {
 public:
  struct options {
    std::string url;  // amqp://USER:PASS@HOST:PORT/VHOST
    std::string queue = "herald.notify";
    unsigned prefetch = 256;
    std::chrono::milliseconds backoff_min{200};
    std::chrono::milliseconds backoff_max{5000};
    unsigned heartbeat_s = 10;
  };

  struct delivery {
    std::uint64_t generation = 0;  // the connection it came on
    std::uint64_t tag = 0;
    bool redelivered = false;
    std::string body;
    std::string message_id;
    std::string reply_to;
    std::string correlation_id;
  };

  // Runs on the consumer thread for each delivery; must not block (post the work elsewhere).
  using handler = std::function<void(delivery)>;

  // Why an AMQP URL cannot be used ("" when it can).
  static std::string check_url(const std::string& url);

  amqp_consumer(options opts, handler on_delivery);
  ~amqp_consumer();  // stop()
  amqp_consumer(const amqp_consumer&) = delete;
  amqp_consumer& operator=(const amqp_consumer&) = delete;

  void start();
  // No new deliveries reach the handler (they stay with the broker); settlements still go out.
  void pause() { paused_ = true; }
  // Closes the connection (unsettled deliveries go back to the queue) and joins the thread.
  void stop();

  // The queue is declared and consumed from now.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Settles a delivery: publishes `reply` to `reply_to` (when both are set) with the
  // correlation id, then acks, or rejects without requeue (to the queue's dead-letter exchange
  // when it has one). Dropped when the delivery's connection is gone.
  void ack(const delivery& d, std::string reply) { settle(d, false, std::move(reply)); }
  void reject(const delivery& d, std::string reply) { settle(d, true, std::move(reply)); }

  std::uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }

 private:
  struct settlement {
    std::uint64_t generation;
    std::uint64_t tag;
    bool reject;
    std::string reply_to;
    std::string correlation_id;
    std::string reply;
  };
  struct connection;

  void settle(const delivery& d, bool reject, std::string reply);
  void run();
  // One connection's life: false when it could not be set up.
  bool session(connection& c);
  void wake();
  void sleep_backoff(std::chrono::milliseconds d);

  options opts_;
  handler on_delivery_;
  std::thread thread_;
  int wake_fd_ = -1;
  std::mutex mu_;
  std::deque<settlement> settlements_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> connects_{0};
};

}  // namespace herald::cm
