// The daemon: owns the I/O threads (one io_context each), the listeners, the store pool and
// writer, the registry and the bus, and runs start-up and drain in order. Handlers reach shared
// state through it. Thread-safe accessors; the constructor and run() from the main thread only.
#pragma once
#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "connection_manager/bus.hpp"
#include "connection_manager/redis_bus.hpp"
#include "connection_manager/redis_presence.hpp"
#include "connection_manager/registry.hpp"
#include "gateway/config.hpp"
#include "gateway/event_sequencer.hpp"
#include "gateway/event_targets.hpp"
#include "gateway/jwks_source.hpp"
#include "gateway/metrics.hpp"
#include "gateway/session_services.hpp"
#include "gateway/token_verifier.hpp"
#include "gateway/webhooks.hpp"
#include "persistence/notify_writer.hpp"
#include "persistence/read_batcher.hpp"
#include "persistence/store_pool.hpp"
#include "persistence/store_probe.hpp"

namespace herald::gateway {

class listener;
class queue_consumers;

class server final : public session_services {
 public:
  // Builds every part and binds the listeners (throws config_error when a setting is wrong or
  // an address cannot be bound); nothing is accepted until run().
  explicit server(config cfg);
  ~server();

  // Starts the bus, the listeners' accepting and the I/O threads, and blocks until drained
  // after SIGTERM/SIGINT: the listeners answer 503 while requests in flight (a body still
  // arriving included) finish and sessions close with 1001; exits when none is left, or
  // after 9.5 s. Returns the exit code.
  int run();

  const config& cfg() const override { return cfg_; }
  cm::registry& registry() override { return *registry_; }
  persistence::store_pool& pool() override { return *pool_; }
  persistence::notify_writer& writer() { return *writer_; }
  persistence::read_batcher& readers() override { return *readers_; }
  const token_verifier& tokens() const override { return tokens_; }
  gateway::metrics& stats() override { return metrics_; }
  std::chrono::milliseconds subscription_settle() const override {
    return presence_ ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(0);
  }
  // Publishes on the bus (this node's sessions get it at once, other nodes through the bus).
  void publish(const cm::event& e);
  // Where a stored notification's completion runs to publish it: one strand, so that events
  // leave in the order the writer committed them.
  boost::asio::any_io_executor publish_executor() { return *publish_strand_; }

  bool draining() const override { return draining_.load(); }
  bool store_ready() const { return store_ready_.load(); }
  // Why the store is not ready (the probe's verdict), for /readyz.
  persistence::store_probe::state store_state() const { return store_state_.load(); }
  bool bus_ready() const { return bus_->healthy(); }
  // False while a configured message queue (AMQP, Redis stream) is not reachable.
  bool queues_ready(std::string* why) const;
  const queue_consumers* queues() const { return queues_.get(); }  // null: no queue configured
  // False only while a JWKS URL was never loaded (a later failure keeps the last good set).
  bool keys_ready() const { return !tokens_.jwks() || tokens_.jwks()->loaded(); }
  // Closes every connection of the user with 4003 `revoked`, here and (through the bus) on
  // every node; `done(closed)` gets this node's count, or with a bus the larger of it and the
  // cluster's from presence (which may lag). `done` runs on an unspecified thread.
  void revoke_user(std::uint64_t user_id, std::function<void(std::size_t)> done);
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
  void session_opened() override { ++sessions_; }
  void session_closed() override { --sessions_; }

  static std::int64_t now_ms();
  // Every reader of the item recounts (gateway/event_targets.hpp: whom an event reaches).
  static cm::event count_event_for(const persistence::item_ref& item) {
    return event_for(cm::event_type::count_changed, item.kind, item.user_id, item.audience);
  }
  // Every connection of the user recounts (after a read, delete or read-all).
  void user_count_changed(std::uint64_t user_id) override;
  void user_state_changed(std::uint64_t user_id, const proto::state_change& c) override;
  // Receipts and webhooks (gateway/webhooks.hpp).
  void acked(const persistence::viewer& v, const std::vector<std::uint64_t>& ids) override {
    acks_->add(v, ids);
  }
  void user_presence(const persistence::viewer& v, bool opened) override {
    if (!webhook_presence_) return;
    opened ? webhook_presence_->opened(v) : webhook_presence_->closed(v);
  }
  static std::shared_ptr<spdlog::logger> log();
  // Prometheus lines of the store's writer and readers (work done, deadlines, refusals), the
  // bus's counters in a cluster (dropped messages included) and presence deadlines.
  std::string shed_metrics() const;

 private:
  void start_threads();
  void begin_drain();
  void watch_store();
  void watch_expiry();
  void tick();
  void on_bus_event(const cm::event& e);
  void deliver_local(std::shared_ptr<const cm::event> e);
  // The bus came back (this node's or another's connection to Redis): every local session
  // resyncs from the store, once for a burst of such news.
  void resync_soon();

  config cfg_;
  token_verifier tokens_;
  gateway::metrics metrics_;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::unique_ptr<cm::registry> registry_;
  std::unique_ptr<cm::bus> bus_;
  cm::redis_bus* redis_bus_ = nullptr;  // bus_ in a cluster, for its counters on /metrics
  std::unique_ptr<cm::redis_presence> presence_;
  std::unique_ptr<event_sequencer> sequencer_;  // events in id order before the sessions
  // Notify completions publish here, one at a time in the writer's commit order.
  std::unique_ptr<boost::asio::strand<boost::asio::io_context::executor_type>> publish_strand_;
  std::unique_ptr<persistence::store_pool> pool_;
  std::unique_ptr<persistence::notify_writer> writer_;
  std::unique_ptr<persistence::read_batcher> readers_;
  std::unique_ptr<persistence::store_probe> probe_;
  std::unique_ptr<queue_consumers> queues_;  // null when no queue is configured
  std::unique_ptr<ack_batcher> acks_;
  std::unique_ptr<webhook_presence> webhook_presence_;  // when user.online/offline are sent
  std::unique_ptr<webhook_sender> webhooks_;            // when HERALD_WEBHOOK_URL is set
  std::unique_ptr<boost::asio::steady_timer> resync_timer_;
  std::atomic<bool> resync_pending_{false};
  std::atomic<persistence::store_probe::state> store_state_{
      persistence::store_probe::state::starting};
  std::shared_ptr<listener> public_listener_;
  std::shared_ptr<listener> internal_listener_;
  std::unique_ptr<boost::asio::steady_timer> store_timer_;
  std::unique_ptr<boost::asio::steady_timer> expiry_timer_;
  std::unique_ptr<boost::asio::steady_timer> tick_timer_;
  std::vector<std::thread> threads_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> store_ready_{false};
  std::string store_backend_;  // for the start-up line (persistence::capabilities_of)
  // run() waits here until the drain has finished (set by begin_drain's last check).
  std::mutex drained_mu_;
  std::condition_variable drained_cv_;
  bool drained_ = false;
  std::atomic<bool> migrated_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<int> sessions_{0};
  bool store_logged_down_ = false;  // watch_store: the not-ready state was logged
  std::int64_t expiry_checked_ms_ = 0;
  std::int64_t last_purge_ms_ = 0;
};

}  // namespace herald::gateway
