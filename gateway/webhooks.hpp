// Receipts and webhooks on the gateway side (API.md v1.1 "Receipts and read rates",
// "Webhooks"):
// - ack_batcher: acks from every connection, merged per user and written in one store
//   transaction about once a second (acks take effect within 5 s; a burst of 19,000 acks of
//   one broadcast is one counter update per flush, not one per client).
// - webhook_presence: the user's first local connection / last local close, turned into
//   user.online and (after HERALD_OFFLINE_AFTER_S, when no connection is open anywhere in the
//   cluster) user.offline; the shared store decides, so one node raises each event.
// - webhook_sender: a thread of its own that takes due events from the store's outbox (with a
//   lease, so that one node sends each), POSTs them signed in batches of up to 100, and
//   retries with backoff.
// Thread safety: every public member may be called from any thread.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "persistence/store.hpp"
#include "persistence/store_pool.hpp"

namespace herald::gateway {

class ack_batcher {
 public:
  ack_batcher(boost::asio::io_context& io, persistence::store_pool& pool);
  ~ack_batcher();
  void add(const persistence::viewer& v, const std::vector<std::uint64_t>& ids);
  void start();
  void stop();
  // Writes what is pending now (also at the drain).
  void flush();
  std::uint64_t recorded() const { return recorded_; }  // deliveries recorded
  std::uint64_t dropped() const { return dropped_; }    // acks shed past the bound

 private:
  void arm();
  struct pending {
    persistence::viewer who;
    std::set<std::uint64_t> ids;
  };
  boost::asio::io_context& io_;
  persistence::store_pool& pool_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::mutex mu_;
  std::unordered_map<std::uint64_t, pending> pending_;
  std::size_t pending_ids_ = 0;
  bool in_flight_ = false;
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> recorded_{0};
  std::atomic<std::uint64_t> dropped_{0};
  static constexpr std::size_t max_pending_ids = 1'000'000;
};

class webhook_presence {
 public:
  // `cluster_connections(user, done)`: the user's connections on every node (nullopt: unknown),
  // or nullptr on a single node.
  using cluster_fn =
      std::function<void(std::uint64_t, std::function<void(std::optional<std::uint64_t>)>)>;
  webhook_presence(boost::asio::io_context& io, persistence::store_pool& pool,
                   std::chrono::seconds offline_after, cluster_fn cluster);
  void opened(const persistence::viewer& v);
  void closed(const persistence::viewer& v);

 private:
  void check(std::uint64_t user_id, std::uint64_t generation, int attempt);
  struct user {
    std::size_t connections = 0;
    std::uint64_t generation = 0;
    persistence::viewer last;  // the last closed connection's view (its groups)
  };
  boost::asio::io_context& io_;
  persistence::store_pool& pool_;
  std::chrono::seconds offline_after_;
  cluster_fn cluster_;
  std::mutex mu_;
  std::unordered_map<std::uint64_t, user> users_;
};

class webhook_sender {
 public:
  struct options {
    std::string url;
    std::string secret;
    std::string store_url;
    std::string node_id;
    std::chrono::milliseconds timeout{10000};
    std::chrono::milliseconds poll{250};
    std::chrono::milliseconds give_up{24LL * 3600 * 1000};
  };
  explicit webhook_sender(options o);
  ~webhook_sender();
  void start();
  void stop();
  // Wakes the sender early (an event was just raised on this node).
  void poke();
  std::uint64_t sent() const { return sent_; }
  std::uint64_t failures() const { return failures_; }
  std::uint64_t dropped() const { return dropped_; }
  std::string metrics() const;

  // Herald-Signature's value: t=UNIX_S,v1=HEX(HMAC-SHA256(secret, "<t>.<body>")).
  static std::string signature(const std::string& secret, std::int64_t unix_s,
                               const std::string& body);

 private:
  void run();
  // POSTs the body; true on a 2xx answer.
  bool post(const std::string& body, std::string& why);
  options opts_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool poked_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::int64_t> pending_{0};
};

}  // namespace herald::gateway
