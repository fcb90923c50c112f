// One hiredis asynchronous connection driven by an Asio strand: hiredis' event hooks wait for
// socket readiness with posix::stream_descriptor::async_wait, so no thread is spent per
// connection or message and nothing blocks. The host is resolved asynchronously. A lost or
// failed connection is retried with capped, jittered exponential backoff until stop().
// Thread safety: connected() from any thread; everything else on the strand only.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "connection_manager/redis_endpoint.hpp"

struct redisAsyncContext;
struct redisReply;

namespace herald::cm {

class redis_connection : public std::enable_shared_from_this<redis_connection> {
 public:
  using strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  // The reply, or nullptr when the connection went away before it came.
  using reply_handler = std::function<void(const redisReply*)>;
  // Subscription confirmations and published messages (arrays as Redis sends them).
  using push_handler = std::function<void(const redisReply&)>;

  struct options {
    redis_endpoint endpoint;
    std::string name = "redis";  // in log lines
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{5000};
    std::chrono::milliseconds connect_timeout{3000};
    // PING this often and reconnect when two go unanswered; zero turns it off (it must be off
    // on a subscribing connection, where hiredis cannot match a PING reply).
    std::chrono::milliseconds ping_interval{0};
  };

  redis_connection(strand ex, options opts);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  // on_up(resumed) runs after each successful connect (AUTH queued first); `resumed` is true
  // when an attempt failed or a connection was lost before it. on_down after a lost one.
  void start(std::function<void(bool resumed)> on_up, std::function<void()> on_down);
  // graceful: flush queued commands and wait for their replies (at most one second) first.
  void stop(bool graceful = false);
  // Drops the connection now; it reconnects after the backoff.
  void reset();
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  const strand& executor() const { return strand_; }

  // Queues a command; false (and `done` is never called) when not connected.
  bool command(const std::vector<std::string>& args, reply_handler done = {});
  // SUBSCRIBE/UNSUBSCRIBE: their confirmations and the messages go to the push handler.
  bool subscription_command(const std::vector<std::string>& args);
  void set_push_handler(push_handler h) { push_handler_ = std::move(h); }

 private:
  static void on_add_read(void* self);
  static void on_del_read(void* self);
  static void on_add_write(void* self);
  static void on_del_write(void* self);
  static void on_cleanup(void* self);
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* handler);
  static void on_push(redisAsyncContext* ac, void* reply, void* self);

  void resolve();
  void open(const std::string& address);
  void arm_read();
  void arm_write();
  void release_socket();
  void lost();
  void schedule_retry();
  void schedule_ping();

  strand strand_;
  options opts_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer ping_timer_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> socket_;
  redisAsyncContext* ac_ = nullptr;
  std::uint64_t generation_ = 0;  // bumped per hiredis context; stale handlers compare it
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool stopped_ = false;
  bool started_ = false;
  bool had_trouble_ = false;
  int unanswered_pings_ = 0;
  std::atomic<bool> connected_{false};
  std::chrono::milliseconds backoff_;
  std::minstd_rand jitter_;
  std::function<void(bool)> on_up_;
  std::function<void()> on_down_;
  push_handler push_handler_;
};

}  // namespace herald::cm
