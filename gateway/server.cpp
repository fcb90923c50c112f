#include "gateway/server.hpp"

#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>

#include "connection_manager/local_bus.hpp"
#include "connection_manager/redis_bus.hpp"
#include "gateway/listener.hpp"
#include "gateway/logging.hpp"
#include "gateway/queue_consumers.hpp"
#include "gateway/state_events.hpp"
#include "gateway/ws_session.hpp"
#include "persistence/webhook_events.hpp"
#include "proto/audience.hpp"

namespace herald::gateway {

namespace asio = boost::asio;

namespace {
constexpr auto drain_limit = std::chrono::milliseconds(9500);

// The verifier of the configured keys: the secret, the PEM public key, the JWKS source.
token_verifier make_verifier(const config& c) {
  token_verifier::options o;
  o.secret = c.jwt_secret;
  o.issuer = c.jwt_issuer;
  o.audience = c.jwt_audience;
  if (!c.jwt_public_key.empty()) {
    try {
      std::ifstream in(c.jwt_public_key, std::ios::binary);
      std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      o.public_key = parse_public_key_pem(pem);
    } catch (const std::invalid_argument& e) {
      throw config_error("HERALD_JWT_PUBLIC_KEY: '" + c.jwt_public_key + "' " + e.what());
    }
  }
  if (!c.jwt_jwks.empty()) {
    try {
      jwks_source::options jo;
      jo.location = c.jwt_jwks;
      o.jwks = std::make_shared<jwks_source>(jo);
    } catch (const std::invalid_argument& e) {
      throw config_error("HERALD_JWT_JWKS: " + std::string(e.what()));
    }
  }
  return token_verifier(std::move(o));
}

}  // namespace

std::shared_ptr<spdlog::logger> server::log() {
  static const auto l = logger("gateway");
  return l;
}

std::int64_t server::now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void server::user_count_changed(std::uint64_t user_id) {
  publish(event_for(cm::event_type::count_changed, proto::item_kind::personal, user_id, {}));
}

void server::user_state_changed(std::uint64_t user_id, const proto::state_change& c) {
  publish(state_event_for_user(user_id, c));
}

server::server(config cfg) : cfg_(std::move(cfg)), tokens_(make_verifier(cfg_)) {
  if (cfg_.node_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    cfg_.node_id = std::string(host) + "-" + std::to_string(::getpid());
  }
  unsigned n = cfg_.threads ? cfg_.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<asio::io_context*> raw;
  for (unsigned i = 0; i < n; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    raw.push_back(contexts_.back().get());
  }
  registry_ = std::make_unique<cm::registry>(raw, cfg_.max_connections_per_user);
  if (cfg_.bus.empty()) {
    bus_ = std::make_unique<cm::local_bus>();
  } else {
    try {
      cm::redis_bus::options bo;
      bo.url = cfg_.bus;
      bo.node_id = cfg_.node_id;
      auto rb = std::make_unique<cm::redis_bus>(*contexts_[0], bo);
      // Events may have been missed while Redis was away: every session resyncs.
      rb->set_on_reconnect([this] { resync_soon(); });
      // Meanwhile sessions push what they get through the store (see gateway/unread_tracker.hpp),
      // until the bus has been back long enough for every node's publisher to return.
      rb->set_on_lost([this] {
        log()->warn("bus subscription lost: connections push through the store until it returns");
        registry_->bus_lost_all();
      });
      rb->set_on_settled([this] { registry_->bus_back_all(); });
      cm::redis_presence::options po;
      po.url = cfg_.bus;
      po.node_id = cfg_.node_id;
      po.lookup_timeout = std::chrono::milliseconds(cfg_.presence_timeout_ms);
      presence_ = std::make_unique<cm::redis_presence>(
          *contexts_[0], po, [this](std::function<void(cm::redis_presence::user_counts)> done) {
            registry_->snapshot(std::move(done));
          });
      // Group sets too, so that a group notify's `online` counts every node's members.
      presence_->set_group_snapshot(
          [this](std::function<void(cm::redis_presence::group_counts)> done) {
            struct acc {
              std::mutex mu;
              cm::redis_presence::group_counts sets;
            };
            auto a = std::make_shared<acc>();
            registry_->for_each(
                [a](cm::session& s) {
                  if (s.groups().empty()) return;
                  std::vector<std::string> pairs;
                  for (const auto& p : s.groups().pairs()) pairs.push_back(p.str());
                  auto key = cm::redis_presence::group_set_key(pairs);
                  std::lock_guard lock(a->mu);
                  ++a->sets[key];
                },
                [a, done = std::move(done)] { done(std::move(a->sets)); });
          });
      auto* rbp = rb.get();
      redis_bus_ = rbp;
      registry_->set_user_hooks(
          [this, rbp](std::uint64_t u) {
            rbp->user_connected(u);
            presence_->refresh_soon();
          },
          [this, rbp](std::uint64_t u) {
            rbp->user_disconnected(u);
            presence_->refresh_soon();
          });
      bus_ = std::move(rb);
    } catch (const std::invalid_argument& e) {
      throw config_error(std::string("HERALD_BUS: ") + e.what());
    }
  }
  const auto store_caps = persistence::capabilities_of(cfg_.store);
  store_backend_ = store_caps.backend;
  const unsigned store_threads = cfg_.store_threads ? cfg_.store_threads : store_caps.pool_threads;
  publish_strand_ = std::make_unique<asio::strand<asio::io_context::executor_type>>(
      asio::make_strand(*contexts_[0]));
  // In a cluster, the order fence: each round asks the other nodes through the bus and this
  // node's writer; an answer goes out once what was committed before the question is published.
  event_sequencer::fence fence;
  if (redis_bus_) {
    fence.peers = [this] {
      return redis_bus_->subscribed() ? redis_bus_->peers() : std::vector<std::string>{};
    };
    fence.ask = [this](std::uint64_t round) {
      redis_bus_->fence_request(round);
      writer_->after_taken(*publish_strand_, [this, round] { sequencer_->confirmed({}, round); });
    };
    redis_bus_->set_on_fence_request([this](const std::string& from, std::uint64_t round) {
      writer_->after_taken(*publish_strand_,
                           [this, from, round] { redis_bus_->fence_answer(from, round); });
    });
    redis_bus_->set_on_fence_answer([this](const std::string& from, std::uint64_t round) {
      sequencer_->confirmed(from, round);
    });
  }
  sequencer_ = std::make_unique<event_sequencer>(
      *contexts_[0], std::chrono::milliseconds(cfg_.bus.empty() ? 0 : cfg_.cluster_order_window_ms),
      [this](std::shared_ptr<const cm::event> e) { deliver_local(std::move(e)); },
      std::move(fence));
  const std::chrono::milliseconds store_timeout(cfg_.store_timeout_ms);
  persistence::set_call_timeout(store_timeout);
  pool_ = std::make_unique<persistence::store_pool>(cfg_.store, store_threads, store_timeout);
  writer_ = std::make_unique<persistence::notify_writer>(cfg_.store, 512, cfg_.writer_queue,
                                                         store_timeout);
  // Counts and inbox pages: a few readers, each answering up to 16 queued reads per statement.
  readers_ = std::make_unique<persistence::read_batcher>(
      cfg_.store, cfg_.store_readers, 16, [] { return now_ms(); }, cfg_.read_queue, store_timeout);
  // Readiness on a connection of its own: a frozen store is seen within its timeout (at most
  // 2 s), whatever the request threads are stuck in.
  probe_ = std::make_unique<persistence::store_probe>(
      cfg_.store, std::chrono::milliseconds(500),
      std::min(store_timeout, std::chrono::milliseconds(2000)));
  writer_->set_write_observer([p = probe_.get()](bool committed) { p->write_outcome(committed); });
  public_listener_ = std::make_shared<listener>(*this, *contexts_[0], cfg_.public_addr,
                                                listener::kind::public_api);
  internal_listener_ = std::make_shared<listener>(*this, *contexts_[0], cfg_.internal_addr,
                                                  listener::kind::internal_api);
  internal_listener_->shed_also(public_listener_);
  if (!cfg_.amqp_url.empty() || !cfg_.stream.empty()) {
    try {
      queues_ = std::make_unique<queue_consumers>(*this, *contexts_.back());
    } catch (const std::invalid_argument& e) {
      throw config_error(std::string("HERALD_STREAM: ") + e.what());
    }
  }
  // Receipts and webhooks: nothing is written to the outbox without a receiver.
  persistence::set_webhook_types(cfg_.webhook_url.empty() ? 0u : cfg_.webhook_events);
  acks_ = std::make_unique<ack_batcher>(*contexts_[0], *pool_);
  if (!cfg_.webhook_url.empty()) {
    webhook_sender::options wo;
    wo.url = cfg_.webhook_url;
    wo.secret = cfg_.webhook_secret;
    wo.store_url = cfg_.store;
    wo.node_id = cfg_.node_id;
    webhooks_ = std::make_unique<webhook_sender>(wo);
    if (cfg_.webhook_events &
        (persistence::webhook_user_online | persistence::webhook_user_offline)) {
      webhook_presence::cluster_fn cluster;
      if (presence_) {
        cluster = [this](std::uint64_t user,
                         std::function<void(std::optional<std::uint64_t>)> done) {
          if (!presence_->healthy()) return done(std::nullopt);
          presence_->user_connections(user, std::move(done));
        };
      }
      webhook_presence_ = std::make_unique<webhook_presence>(
          *contexts_[0], *pool_, std::chrono::seconds(cfg_.offline_after_s), std::move(cluster));
    }
  }
}

bool server::queues_ready(std::string* why) const { return !queues_ || queues_->ready(why); }

server::~server() {
  queues_.reset();
  webhooks_.reset();
  writer_.reset();
  probe_.reset();
  readers_.reset();
  pool_.reset();
  presence_.reset();
  bus_.reset();
}

void server::publish(const cm::event& e) { bus_->publish(e); }

void server::online_count(std::shared_ptr<const cm::event> e,
                          std::function<void(std::size_t)> done) {
  registry_->count(e, [this, e, done = std::move(done)](std::size_t local) mutable {
    if (!presence_ || !presence_->healthy()) {
      done(local);
      return;
    }
    if (e->target == cm::event_target::group) {
      std::string why;
      auto aud = proto::audience::parse(e->group, &why);
      if (!aud) {
        done(local);
        return;
      }
      std::vector<std::string> pairs;
      for (const auto& p : aud->pairs()) pairs.push_back(p.str());
      presence_->group_connections(std::move(pairs),
                                   [local, done = std::move(done)](std::optional<std::uint64_t> n) {
                                     done(n ? std::max<std::size_t>(local, *n) : local);
                                   });
      return;
    }
    if (e->target == cm::event_target::everyone) {
      presence_->totals(
          [local, done = std::move(done)](std::optional<cm::presence_totals> t) {
            done(t ? std::max<std::size_t>(local, t->connections) : local);
          },
          true);  // within HERALD_PRESENCE_TIMEOUT_MS, else the local count
      return;
    }
    presence_->users_connections(e->users, [local, done = std::move(done)](
                                               std::optional<std::vector<std::uint64_t>> counts) {
      std::size_t cluster = 0;
      if (counts) {
        for (auto c : *counts) cluster += c;
      }
      done(std::max(local, cluster));
    });
  });
}

void server::revoke_user(std::uint64_t user_id, std::function<void(std::size_t)> done) {
  // Presence is asked first, while the user's connections still count; other nodes report no
  // number back, so the cluster figure is presence's (it may lag a few seconds).
  auto close_all = [this, user_id](std::function<void(std::size_t)> after) {
    registry_->close_user(user_id, [this, user_id, after = std::move(after)](std::size_t local) {
      cm::event e;
      e.type = cm::event_type::revoke;
      e.target = cm::event_target::users;
      e.users = {user_id};
      // Other nodes close theirs; here the bus's local delivery finds these already closing.
      publish(e);
      after(local);
    });
  };
  if (!presence_ || !presence_->healthy()) {
    close_all(std::move(done));
    return;
  }
  presence_->user_connections(
      user_id, [close_all, done = std::move(done)](std::optional<std::uint64_t> c) {
        const std::size_t cluster = c ? static_cast<std::size_t>(*c) : 0;
        close_all([cluster, done](std::size_t local) { done(std::max(local, cluster)); });
      });
}

void server::on_bus_event(const cm::event& e) {
  sequencer_->push(std::make_shared<const cm::event>(e));
}

void server::deliver_local(std::shared_ptr<const cm::event> shared) {
  const auto start = std::chrono::steady_clock::now();
  registry_->deliver(std::move(shared), [this, start](std::size_t n) {
    metrics_.bus_events += n;
    metrics_.observe_fanout(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  });
}

bool server::publish_counted(const cm::event& e, std::function<void(std::size_t)> done) {
  if (presence_) return false;
  const auto start = std::chrono::steady_clock::now();
  registry_->deliver(
      std::make_shared<const cm::event>(e), [this, start, done = std::move(done)](std::size_t n) {
        metrics_.bus_events += n;
        metrics_.observe_fanout(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        done(n);
      });
  return true;
}

int server::run() {
  // A JWKS URL's first fetch starts now, on the source's own thread; /readyz waits for it.
  if (tokens_.jwks()) tokens_.jwks()->start();
  bus_->start([this](const cm::event& e) { on_bus_event(e); });
  if (presence_) presence_->start();
  acks_->start();
  if (webhooks_) webhooks_->start();
  public_listener_->start();
  internal_listener_->start();
  if (queues_) queues_->start();

  asio::signal_set signals(*contexts_[0], SIGTERM, SIGINT);
  signals.async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    log()->info("signal {}: draining", sig);
    begin_drain();
  });

  store_timer_ = std::make_unique<asio::steady_timer>(*contexts_[0]);
  resync_timer_ = std::make_unique<asio::steady_timer>(*contexts_[0]);
  probe_->start();
  expiry_timer_ = std::make_unique<asio::steady_timer>(*contexts_[0]);
  tick_timer_ = std::make_unique<asio::steady_timer>(*contexts_[0]);
  expiry_checked_ms_ = now_ms();
  watch_store();
  watch_expiry();
  tick();

  log()->info("herald node {} listening: public {}, internal {}, store {}", cfg_.node_id,
              cfg_.public_addr.str(), cfg_.internal_addr.str(), store_backend_);
  start_threads();
  {
    std::unique_lock lock(drained_mu_);
    drained_cv_.wait(lock, [this] { return drained_; });
  }
  if (queues_) queues_->stop();
  if (presence_) {
    presence_->stop();  // removes this node's entries; needs the loop a moment longer
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  acks_->stop();
  acks_->flush();  // the store pool finishes it before it is destroyed
  if (webhooks_) webhooks_->stop();
  bus_->stop();
  if (tokens_.jwks()) tokens_.jwks()->stop();
  for (auto& c : contexts_) c->stop();
  for (auto& t : threads_) t.join();
  log()->info("drained, exiting");
  return 0;
}

void server::start_threads() {
  for (auto& c : contexts_) {
    threads_.emplace_back([ctx = c.get()] {
      auto guard = asio::make_work_guard(*ctx);
      for (;;) {
        try {
          ctx->run();
          return;
        } catch (const std::exception& e) {
          log()->error("I/O thread: {}", e.what());
        }
      }
    });
  }
}

void server::watch_store() {
  // Four times a second: the probe's verdict (it runs on a thread and connection of its own). A
  // change between ready and not ready is logged once, and a store that comes back gets every
  // session recounted.
  using state = persistence::store_probe::state;
  const auto st = probe_->current();
  const bool ready = st.ready();
  migrated_ = probe_->migrated();
  store_state_ = st.now;
  const bool was = store_ready_.exchange(ready);
  if (ready && !was) {
    log()->info("store ready");
    registry_->for_each([](cm::session& s) { s.on_count_changed(); });
  } else if (!ready && (was || !store_logged_down_)) {
    if (st.now != state::starting) {
      store_logged_down_ = true;
      if (st.now == state::full) {
        log()->error("store cannot write (disk full): {}", st.detail);
      } else if (st.now == state::frozen) {
        log()->error("store does not answer: {}", st.detail);
      } else {
        log()->warn("store unavailable: {}", st.detail);
      }
    }
  }
  if (ready) store_logged_down_ = false;
  if (draining_) return;
  store_timer_->expires_after(std::chrono::milliseconds(250));
  store_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) watch_store();
  });
}

std::string server::shed_metrics() const {
  std::string o;
  auto counter = [&o](const char* name, const char* help, std::uint64_t v) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
         " " + std::to_string(v) + "\n";
  };
  counter("herald_store_timeouts_total", "Store calls answered 503 at their deadline.",
          pool_->timed_out() + writer_->timed_out() + readers_->timed_out());
  counter("herald_store_refused_total", "Notify requests and reads refused: their queue was full.",
          writer_->refused() + readers_->refused());
  counter("herald_writer_batches_total",
          "Notify batches the writer committed (one transaction each).",
          writer_->batches_written());
  counter("herald_writer_rows_total", "Notification rows the writer committed.",
          writer_->rows_written());
  counter("herald_reader_batches_total", "Batched read statements the store readers answered.",
          readers_->batches());
  counter("herald_reader_reads_total", "Counts and inbox pages the store readers answered.",
          readers_->reads());
  if (redis_bus_) {
    const auto b = redis_bus_->stats();
    counter("herald_bus_published_total", "Events this node handed to Redis.", b.published);
    counter("herald_bus_dropped_total", "Events not sent to other nodes because Redis was down.",
            b.dropped);
    counter("herald_bus_received_total", "Events from other nodes delivered here.", b.received);
    counter("herald_bus_malformed_total", "Bus messages that did not decode (dropped).",
            b.malformed);
    counter("herald_order_released_at_window_total",
            "Notification events released at HERALD_CLUSTER_ORDER_WINDOW_MS, not by the order "
            "fence (each may have overtaken a lower id).",
            sequencer_->released_at_window());
    counter("herald_order_rounds_given_up_total",
            "Order fence rounds not answered by every node within the window.",
            sequencer_->rounds_given_up());
  }
  if (queues_) o += queues_->metrics_text();
  counter("herald_acks_recorded_total",
          "Deliveries recorded from acks (first ack of an item by a user).", acks_->recorded());
  counter("herald_acks_dropped_total", "Acked ids shed: too many waiting for the store.",
          acks_->dropped());
  if (webhooks_) o += webhooks_->metrics();
  if (presence_) {
    counter("herald_presence_timeouts_total",
            "Presence lookups answered with the local count at their deadline.",
            presence_->lookups_timed_out());
  }
  return o;
}

void server::resync_soon() {
  if (resync_pending_.exchange(true)) return;
  // A reconnect of the publisher and the subscriber, or several nodes' news, come together.
  asio::post(*contexts_[0], [this] {
    resync_timer_->expires_after(std::chrono::milliseconds(200));
    resync_timer_->async_wait([this](boost::system::error_code ec) {
      resync_pending_ = false;
      if (ec || draining_) return;
      // Lost again meanwhile: its return calls for the resync once more.
      if (auto* rb = dynamic_cast<cm::redis_bus*>(bus_.get()); rb && !rb->subscribed()) return;
      log()->info("bus back: every local connection resyncs from the store");
      registry_->resync_all();
    });
  });
}

void server::watch_expiry() {
  // Every second: items that expired since the last look make their readers recount; now and
  // then a small purge deletes expired rows.
  const std::int64_t now = now_ms();
  const std::int64_t from = expiry_checked_ms_;
  const bool purge = now - last_purge_ms_ > 10000;
  if (purge) last_purge_ms_ = now;
  if (!store_ready_) {
    expiry_timer_->expires_after(std::chrono::seconds(1));
    expiry_timer_->async_wait([this](boost::system::error_code ec) {
      if (!ec) watch_expiry();
    });
    return;
  }
  const std::int64_t changes_before = now - std::int64_t{cfg_.changes_days} * 86'400'000;
  pool_->submit(
      contexts_[0]->get_executor(),
      [from, now, purge, changes_before](persistence::store& st) {
        // The `removed` (expired) changes first: logged once, whichever node is first.
        auto gone = st.record_expiries(from, now, now);
        auto items = st.expired_between(from, now);
        // Small batches keep each transaction short; keep going while there is a backlog.
        for (int i = 0; purge && i < 50 && st.purge_expired(now, 500) == 500; ++i) {
        }
        for (int i = 0; purge && i < 50 && st.purge_changes(changes_before, 500) == 500; ++i) {
        }
        return std::make_pair(std::move(gone), std::move(items));
      },
      [this, now](persistence::outcome<
                  std::pair<std::vector<persistence::item_ref>, std::vector<persistence::item_ref>>>
                      out) {
        if (out.ok()) {
          expiry_checked_ms_ = now;
          // Expiry is seen by every node from the shared store: deliver locally only, the
          // state frames before the counts they cause.
          for (const auto& item : out.value->first) {
            on_bus_event(state_event_for_item(item, proto::removal_reason::expired));
          }
          for (const auto& item : out.value->second) on_bus_event(count_event_for(item));
        }
        if (draining_) return;
        expiry_timer_->expires_after(std::chrono::seconds(1));
        expiry_timer_->async_wait([this](boost::system::error_code ec) {
          if (!ec) watch_expiry();
        });
      });
}

void server::tick() {
  registry_->tick(now_ms() / 1000);
  tick_timer_->expires_after(std::chrono::seconds(1));
  tick_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec && !draining_) tick();
  });
}

void server::begin_drain() {
  if (draining_.exchange(true)) return;
  store_timer_->cancel();
  if (resync_timer_) resync_timer_->cancel();
  expiry_timer_->cancel();
  tick_timer_->cancel();
  if (tokens_.jwks()) tokens_.jwks()->cancel();  // a fetch in flight must not hold the exit
  if (queues_) queues_->pause();                 // queued messages stay with the broker
  registry_->for_each([](cm::session& s) { s.close_with(1001, "server shutting down"); });
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + drain_limit;
  // The listeners answer 503 for at least the grace period, so that load balancers see it.
  const auto grace_end = start + std::chrono::milliseconds(cfg_.drain_grace_ms);
  auto poll = std::make_shared<asio::steady_timer>(*contexts_[0]);
  auto check = std::make_shared<std::function<void()>>();
  *check = [this, poll, check, deadline, grace_end] {
    const auto now = std::chrono::steady_clock::now();
    if ((in_flight_ == 0 && sessions_ == 0 && now >= grace_end) || now >= deadline) {
      public_listener_->stop();
      internal_listener_->stop();
      {
        std::lock_guard lock(drained_mu_);
        drained_ = true;
      }
      drained_cv_.notify_all();
      *check = nullptr;  // break the cycle
      return;
    }
    poll->expires_after(std::chrono::milliseconds(20));
    poll->async_wait([check](boost::system::error_code) {
      if (*check) (*check)();
    });
  };
  (*check)();
}

}  // namespace herald::gateway
