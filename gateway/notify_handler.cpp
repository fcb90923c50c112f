// POST /v1/notify and /v1/notify/batch: validate (proto), count the connections it will reach,
// store it durably (group commit) when it is persisted or keyed, then publish and answer.
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

#include "gateway/event_targets.hpp"
#include "gateway/http_session.hpp"
#include "gateway/notify_process.hpp"
#include "gateway/routes.hpp"
#include "gateway/server.hpp"
#include "proto/notify_request.hpp"
#include "proto/server_frames.hpp"

namespace herald::gateway {

namespace {

void publish_items(server& srv, const std::vector<proto::notification>& items) {
  for (const auto& n : items) {
    cm::event e = event_for(cm::event_type::notification, n.kind, n.user_id, n.audience);
    e.id = n.id;
    e.payload = std::make_shared<const std::string>(proto::encode_notification_prefix(n));
    srv.publish(e);
  }
}

cm::event desktop_event(const proto::notify_request& r) {
  cm::event e = event_for(cm::event_type::desktop, r);
  e.payload =
      std::make_shared<const std::string>(proto::encode_desktop(r.title, r.content, r.data_json));
  return e;
}

void publish_desktop(server& srv, const proto::notify_request& r) { srv.publish(desktop_event(r)); }

// At most one line a second: a store fault fails every request, and /readyz and its log line
// already say why.
void log_not_stored(const std::string& why) {
  static std::atomic<std::int64_t> last_ms{0};
  static std::atomic<std::uint64_t> since_last{0};
  const auto now = server::now_ms();
  auto last = last_ms.load(std::memory_order_relaxed);
  const auto n = since_last.fetch_add(1, std::memory_order_relaxed) + 1;
  if (now - last < 1000 || !last_ms.compare_exchange_strong(last, now)) return;
  since_last.fetch_sub(n, std::memory_order_relaxed);
  server::log()->warn("notify not stored ({} in the last second or so): {}", n, why);
}

// The 503 message: whether anything was stored is known, except past the deadline of a batch
// that was already being written.
const char* not_stored_message(persistence::failure why) {
  using persistence::failure;
  switch (why) {
    case failure::full:
      return "the store cannot write (disk full); nothing was stored, retrying with the same "
             "idempotency key is safe";
    case failure::timed_out:
      return "the store did not answer in time; nothing was stored, retrying with the same "
             "idempotency key is safe";
    case failure::overloaded:
      return "too many notifications are waiting for the store; nothing was stored, retrying "
             "with the same idempotency key is safe";
    case failure::in_doubt:
      return "the store did not confirm the write (its answer was late or its connection was lost "
             "during the commit): outcome unknown; retrying with the same idempotency key is safe "
             "(it stores at most one)";
    default:
      return "the store cannot be reached; nothing was stored, retrying with the same "
             "idempotency key is safe";
  }
}

}  // namespace

void process_notify(server& srv, proto::notify_request r, boost::asio::any_io_executor ex,
                    notify_done done) {
  if (!r.persist && !r.idempotency_key && !srv.presence()) {
    // A transient push on a single node: `online` is what the delivery itself reached.
    const auto e = desktop_event(r);
    srv.publish_counted(
        e, [r = std::move(r), ex, done = std::move(done)](std::size_t online) mutable {
          auto body = proto::encode_notify_answer(r, {}, static_cast<std::int64_t>(online));
          boost::asio::post(ex, [done = std::move(done), body = std::move(body)] {
            done({200, body});
          });
        });
    return;
  }
  auto counted = std::make_shared<const cm::event>(event_for(cm::event_type::notification, r));
  srv.online_count(
      counted, [&srv, r = std::move(r), ex, done = std::move(done)](std::size_t online) mutable {
        const bool stored = r.persist || r.idempotency_key.has_value();
        if (!stored) {
          publish_desktop(srv, r);
          auto answer = proto::encode_notify_answer(r, {}, static_cast<std::int64_t>(online));
          boost::asio::post(ex, [done = std::move(done), answer = std::move(answer)] {
            done({200, answer});
          });
          return;
        }
        persistence::insert_request ir;
        ir.request = r;
        ir.now_ms = server::now_ms();
        ir.default_ttl_s = srv.default_ttl_s();
        ir.online = static_cast<std::int64_t>(online);
        // The completion runs on the publish strand (events leave in commit order); the answer
        // goes back to the request's executor.
        done = [ex, inner = std::move(done)](notify_result res) mutable {
          boost::asio::post(ex, [inner = std::move(inner), res = std::move(res)]() mutable {
            inner(std::move(res));
          });
        };
        srv.writer().submit(
            std::move(ir), srv.publish_executor(),
            [&srv, r = std::move(r),
             done = std::move(done)](persistence::outcome<persistence::insert_result> out) {
              if (!out.ok()) {
                log_not_stored(out.error);
                done({503, proto::encode_error(proto::unavailable(not_stored_message(out.why)))});
                return;
              }
              auto& res = *out.value;
              if (res.duplicate) {
                done({200, res.previous_answer});
                return;
              }
              if (r.persist) {
                publish_items(srv, res.items);
              } else {
                publish_desktop(srv, r);
              }
              done({200, res.answer});
            });
      });
}

void handle_notify(const std::shared_ptr<http_session>& s, request req, bool batch) {
  server& srv = s->srv();
  if (!batch) {
    auto parsed = proto::parse_notify(req.body());
    if (auto* err = std::get_if<proto::api_error>(&parsed)) {
      srv.stats().count_notify(err->status);
      s->respond(error_response(*err));
      return;
    }
    process_notify(
        srv, std::move(std::get<proto::notify_request>(parsed)), s->executor(),
        [s](notify_result r) {
          s->srv().stats().count_notify(r.status);
          s->respond(json_response(static_cast<http::status>(r.status), std::move(r.body)));
        });
    return;
  }
  auto parsed = proto::parse_notify_batch(req.body());
  if (auto* err = std::get_if<proto::api_error>(&parsed)) {
    srv.stats().count_notify(err->status);
    s->respond(error_response(*err));
    return;
  }
  auto& entries = std::get<std::vector<proto::notify_parse_result>>(parsed);
  auto finish_one = gather_batch(entries.size(), [s](std::string out, bool) {
    s->srv().stats().count_notify(200);
    s->respond(json_response(http::status::ok, std::move(out)));
  });
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (auto* err = std::get_if<proto::api_error>(&entries[i])) {
      notify_result r{err->status, proto::encode_error(*err)};
      boost::asio::post(s->executor(), [finish_one, i, r = std::move(r)]() mutable {
        finish_one(i, std::move(r));
      });
      continue;
    }
    process_notify(srv, std::move(std::get<proto::notify_request>(entries[i])), s->executor(),
                   [finish_one, i](notify_result r) { finish_one(i, std::move(r)); });
  }
}

std::function<void(std::size_t, notify_result)> gather_batch(std::size_t n, batch_done done) {
  struct gather {
    std::vector<std::string> results;
    std::size_t remaining = 0;
    bool unavailable = false;
  };
  auto g = std::make_shared<gather>();
  g->results.resize(n);
  g->remaining = n;
  return [g, done = std::move(done)](std::size_t i, notify_result r) {
    if (r.status == 503) g->unavailable = true;
    g->results[i] = std::move(r.body);
    if (--g->remaining > 0) return;
    std::string out = "{\"results\":[";
    for (std::size_t k = 0; k < g->results.size(); ++k) {
      if (k) out += ',';
      out += g->results[k];
    }
    out += "]}";
    done(std::move(out), g->unavailable);
  };
}

}  // namespace herald::gateway
