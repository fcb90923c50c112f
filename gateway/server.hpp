// The daemon: owns the I/O threads (one io_context each), the listeners, the store pool and
// writer, the registry and the bus, and runs start-up and drain in order. Handlers reach shared
// state through it. Thread-safe accessors; start()/run() from the main thread only.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <spdlog/spdlog.h>
#include <thread>
#include <vector>

#include "connection_manager/bus.hpp"
#include "connection_manager/redis_presence.hpp"
#include "connection_manager/registry.hpp"
#include "gateway/config.hpp"
#include "gateway/metrics.hpp"
#include "gateway/token_verifier.hpp"
#include "persistence/notify_writer.hpp"
#include "persistence/read_batcher.hpp"
#include "persistence/store_pool.hpp"

namespace herald::gateway {

class listener;

class server {
 public:
  explicit server(config cfg);
  ~server();

  // Binds the listeners (throws config_error when an address cannot be bound), starts the
  // threads, and blocks until drained after SIGTERM/SIGINT. Returns the exit code.
  int run();

  const config& cfg() const { return cfg_; }
  cm::registry& registry() { return *registry_; }
  persistence::store_pool& pool() { return *pool_; }
  persistence::notify_writer& writer() { return *writer_; }
  persistence::read_batcher& readers() { return *readers_; }
  const token_verifier& tokens() const { return tokens_; }
  gateway::metrics& stats() { return metrics_; }
  // Publishes on the bus (this node's sessions get it at once, other nodes through the bus).
  void publish(const cm::event& e);

  bool draining() const { return draining_.load(); }
  bool store_ready() const { return store_ready_.load(); }
  bool bus_ready() const { return bus_->healthy(); }
  // Connections an event would reach: this node's exact count, or with a bus the cluster's
  // from the presence registry (which may lag a few seconds; never below the local count).
  // Group audiences count the members' connections on every node (presence group sets).
  // `done` runs on an unspecified thread.
  void online_count(std::shared_ptr<const cm::event> e, std::function<void(std::size_t)> done);
  // One node (no Redis presence): delivers e and reports how many connections it reached, in
  // one hop to the shards concerned (a transient push's `online`). Returns false, doing
  // nothing, in a cluster, where `online` also counts other nodes' connections.
  bool publish_counted(const cm::event& e, std::function<void(std::size_t)> done);
  // Cluster-wide presence when running with a bus (nullptr for a single node).
  cm::redis_presence* presence() { return presence_.get(); }
  std::int64_t default_ttl_s() const { return cfg_.retention_days * 86400; }

  // Requests in flight (answers not yet written), for the drain.
  void request_started() { ++in_flight_; }
  void request_finished() { --in_flight_; }
  // Open WebSocket sessions, for the drain.
  void session_opened() { ++sessions_; }
  void session_closed() { --sessions_; }

  static std::int64_t now_ms();
  // An event aimed at the readers of one item (personal: its user; broadcast: everyone;
  // group: its audience).
  static cm::event event_for(cm::event_type type, proto::item_kind kind, std::uint64_t user_id,
                             const std::string& audience);
  static cm::event count_event_for(const persistence::item_ref& item) {
    return event_for(cm::event_type::count_changed, item.kind, item.user_id, item.audience);
  }
  // Every connection of the user recounts (after a read, delete or read-all).
  void user_count_changed(std::uint64_t user_id);
  static std::shared_ptr<spdlog::logger> log();

 private:
  void start_threads();
  void begin_drain();
  void watch_store();
  void watch_expiry();
  void tick();
  void on_bus_event(const cm::event& e);

  config cfg_;
  token_verifier tokens_;
  gateway::metrics metrics_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::unique_ptr<cm::registry> registry_;
  std::unique_ptr<cm::bus> bus_;
  std::unique_ptr<cm::redis_presence> presence_;
  std::unique_ptr<persistence::store_pool> pool_;
  std::unique_ptr<persistence::notify_writer> writer_;
  std::unique_ptr<persistence::read_batcher> readers_;
  std::shared_ptr<listener> public_listener_;
  std::shared_ptr<listener> internal_listener_;
  std::unique_ptr<boost::asio::steady_timer> store_timer_;
  std::unique_ptr<boost::asio::steady_timer> expiry_timer_;
  std::unique_ptr<boost::asio::steady_timer> tick_timer_;
  std::vector<std::thread> threads_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> store_ready_{false};
  std::atomic<bool> migrated_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<int> sessions_{0};
  std::int64_t expiry_checked_ms_ = 0;
  std::int64_t last_purge_ms_ = 0;
};

}  // namespace herald::gateway
