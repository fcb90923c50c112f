#include "gateway/queue_consumers.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>

#include "connection_manager/amqp_consumer.hpp"
#include "connection_manager/stream_consumer.hpp"
#include "gateway/queue_ingest.hpp"
#include "gateway/server.hpp"
#include "proto/api_error.hpp"

namespace herald::gateway {

namespace {
// A message the store did not take is tried again after this, doubling up to the cap.
constexpr auto retry_first = std::chrono::milliseconds(500);
constexpr auto retry_cap = std::chrono::milliseconds(4000);
}  // namespace

struct queue_consumers::amqp_glue : std::enable_shared_from_this<amqp_glue> {
  server& srv;
  boost::asio::any_io_executor work;
  const std::atomic<bool>& paused;
  counters stats;
  std::unique_ptr<cm::amqp_consumer> consumer;

  amqp_glue(server& s, boost::asio::any_io_executor w, const std::atomic<bool>& p)
      : srv(s), work(std::move(w)), paused(p) {}

  // On the consumer thread.
  void received(cm::amqp_consumer::delivery d) {
    stats.consumed.fetch_add(1, std::memory_order_relaxed);
    if (d.redelivered) stats.redelivered.fetch_add(1, std::memory_order_relaxed);
    stats.in_flight.fetch_add(1, std::memory_order_relaxed);
    srv.request_started();
    auto held = std::make_shared<const cm::amqp_consumer::delivery>(std::move(d));
    boost::asio::post(work,
                      [self = shared_from_this(), held] { self->attempt(held, retry_first); });
  }

  void finished() {
    stats.in_flight.fetch_sub(1, std::memory_order_relaxed);
    srv.request_finished();
  }

  void attempt(std::shared_ptr<const cm::amqp_consumer::delivery> d,
               std::chrono::milliseconds next_wait) {
    // Its connection is gone (the broker gives it again) or the node is draining (it stays with
    // the broker): let it go unsettled.
    if (d->generation != consumer->generation() || paused) return finished();
    ingest_queue_body(srv, {d->body, d->message_id, "message_id"}, work,
                      [self = shared_from_this(), d, next_wait](queue_outcome o) {
                        switch (o.verdict) {
                          case queue_verdict::done:
                            self->consumer->ack(*d, std::move(o.answer));
                            return self->finished();
                          case queue_verdict::refused:
                            self->stats.refused.fetch_add(1, std::memory_order_relaxed);
                            self->consumer->reject(*d, std::move(o.answer));
                            return self->finished();
                          case queue_verdict::unavailable:
                            self->stats.retried.fetch_add(1, std::memory_order_relaxed);
                            self->retry_later(d, next_wait);
                            return;
                        }
                      });
  }

  // Nothing is acked while the store is down: the message stays in flight (the prefetch window
  // bounds how many) and is tried again.
  void retry_later(std::shared_ptr<const cm::amqp_consumer::delivery> d,
                   std::chrono::milliseconds wait) {
    auto timer = std::make_shared<boost::asio::steady_timer>(work, wait);
    timer->async_wait([self = shared_from_this(), d, wait, timer](boost::system::error_code) {
      self->attempt(d, std::min(retry_cap, wait * 2));
    });
  }
};

struct queue_consumers::stream_glue : std::enable_shared_from_this<stream_glue> {
  server& srv;
  boost::asio::any_io_executor work;
  const std::atomic<bool>& paused;
  counters stats;
  std::unique_ptr<cm::stream_consumer> consumer;

  stream_glue(server& s, boost::asio::any_io_executor w, const std::atomic<bool>& p)
      : srv(s), work(std::move(w)), paused(p) {}

  // On the consumer's strand.
  void received(cm::stream_consumer::entry e) {
    stats.consumed.fetch_add(1, std::memory_order_relaxed);
    if (e.redelivered) stats.redelivered.fetch_add(1, std::memory_order_relaxed);
    stats.in_flight.fetch_add(1, std::memory_order_relaxed);
    srv.request_started();
    auto held = std::make_shared<const cm::stream_consumer::entry>(std::move(e));
    boost::asio::post(work,
                      [self = shared_from_this(), held] { self->attempt(held, retry_first); });
  }

  void finished() {
    stats.in_flight.fetch_sub(1, std::memory_order_relaxed);
    srv.request_finished();
  }

  void refuse(const cm::stream_consumer::entry& e, std::string error) {
    stats.refused.fetch_add(1, std::memory_order_relaxed);
    consumer->dead(e.id, e.body, std::move(error));
    finished();
  }

  void attempt(std::shared_ptr<const cm::stream_consumer::entry> e,
               std::chrono::milliseconds next_wait) {
    if (paused) {
      consumer->release(e->id);  // stays pending on this consumer: read again at the next start
      return finished();
    }
    if (!e->has_body) {
      return refuse(*e, proto::encode_error(
                            proto::invalid_argument("body", "the stream entry has no field body")));
    }
    // The entry id keys a keyless body, so that an entry read again (a restart, a claim) after
    // its commit is not stored twice.
    ingest_queue_body(
        srv, {e->body, consumer->key() + "/" + e->id, "id"}, work,
        [self = shared_from_this(), e, next_wait](queue_outcome o) {
          switch (o.verdict) {
            case queue_verdict::done:
              self->consumer->ack(e->id);
              return self->finished();
            case queue_verdict::refused:
              return self->refuse(*e, std::move(o.answer));
            case queue_verdict::unavailable: {
              self->stats.retried.fetch_add(1, std::memory_order_relaxed);
              auto timer = std::make_shared<boost::asio::steady_timer>(self->work, next_wait);
              timer->async_wait([self, e, next_wait, timer](boost::system::error_code) {
                self->attempt(e, std::min(retry_cap, next_wait * 2));
              });
              return;
            }
          }
        });
  }
};

queue_consumers::queue_consumers(server& srv, boost::asio::io_context& work)
    : srv_(srv), work_(work.get_executor()) {
  const auto& cfg = srv_.cfg();
  if (!cfg.amqp_url.empty()) {
    amqp_ = std::make_shared<amqp_glue>(srv_, work_, paused_);
    cm::amqp_consumer::options o;
    o.url = cfg.amqp_url;
    o.queue = cfg.amqp_queue;
    o.prefetch = cfg.amqp_prefetch;
    // The glue outlives the consumer: stop() joins the consumer's thread first.
    amqp_->consumer = std::make_unique<cm::amqp_consumer>(
        o, [g = amqp_.get()](cm::amqp_consumer::delivery d) { g->received(std::move(d)); });
  }
  if (!cfg.stream.empty()) {
    stream_ = std::make_shared<stream_glue>(srv_, work_, paused_);
    cm::stream_consumer::options o;
    o.url = cfg.stream;
    o.consumer = cfg.node_id;
    o.prefetch = cfg.stream_prefetch;
    stream_->consumer = std::make_unique<cm::stream_consumer>(
        work, o, [g = stream_.get()](cm::stream_consumer::entry e) { g->received(std::move(e)); });
  }
}

queue_consumers::~queue_consumers() { stop(); }

void queue_consumers::start() {
  if (amqp_) amqp_->consumer->start();
  if (stream_) stream_->consumer->start();
}

void queue_consumers::pause() {
  paused_ = true;
  if (amqp_) amqp_->consumer->pause();
  if (stream_) stream_->consumer->pause();
}

void queue_consumers::stop() {
  if (amqp_) amqp_->consumer->stop();
  if (stream_) stream_->consumer->stop();
}

bool queue_consumers::ready(std::string* why) const {
  if (amqp_ && !amqp_->consumer->ready()) {
    if (why) *why = "the AMQP queue " + srv_.cfg().amqp_queue + " is not reachable";
    return false;
  }
  if (stream_ && !stream_->consumer->ready()) {
    if (why) *why = "the Redis stream " + stream_->consumer->key() + " is not reachable";
    return false;
  }
  return true;
}

std::string queue_consumers::metrics_text() const {
  std::ostringstream o;
  struct source {
    const char* name;
    const counters* c;
    bool up;
  };
  std::vector<source> sources;
  if (amqp_) sources.push_back({"amqp", &amqp_->stats, amqp_->consumer->ready()});
  if (stream_) sources.push_back({"stream", &stream_->stats, stream_->consumer->ready()});
  auto family = [&](const char* name, const char* type, const char* help, auto get) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (const auto& s : sources) o << name << "{source=\"" << s.name << "\"} " << get(s) << "\n";
  };
  family("herald_queue_consumed_total", "counter",
         "Messages received from a queue (redeliveries included).",
         [](const source& s) { return s.c->consumed.load(); });
  family("herald_queue_refused_total", "counter",
         "Messages refused as HTTP would refuse them (rejected, or moved to the dead stream).",
         [](const source& s) { return s.c->refused.load(); });
  family("herald_queue_redelivered_total", "counter",
         "Messages received again (redelivered by the broker, or claimed from another consumer).",
         [](const source& s) { return s.c->redelivered.load(); });
  family("herald_queue_retries_total", "counter", "Tries again of messages the store did not take.",
         [](const source& s) { return s.c->retried.load(); });
  family("herald_queue_in_flight", "gauge", "Messages taken and not yet settled.",
         [](const source& s) { return s.c->in_flight.load(); });
  family("herald_queue_up", "gauge", "1 when the queue is reachable and consumed.",
         [](const source& s) { return s.up ? 1 : 0; });
  return o.str();
}

nlohmann::json queue_consumers::stats_json() const {
  auto one = [](const counters& c, bool up) {
    return nlohmann::json{{"consumed", c.consumed.load()},       {"refused", c.refused.load()},
                          {"redelivered", c.redelivered.load()}, {"retried", c.retried.load()},
                          {"in_flight", c.in_flight.load()},     {"up", up}};
  };
  nlohmann::json j = nlohmann::json::object();
  if (amqp_) j["amqp"] = one(amqp_->stats, amqp_->consumer->ready());
  if (stream_) j["stream"] = one(stream_->stats, stream_->consumer->ready());
  return j;
}

}  // namespace herald::gateway
