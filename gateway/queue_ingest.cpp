#include "gateway/queue_ingest.hpp"

#include <boost/asio/post.hpp>
#include <memory>
#include <variant>
#include <vector>

#include "gateway/notify_process.hpp"
#include "gateway/server.hpp"
#include "proto/notify_request.hpp"

namespace herald::gateway {
namespace {

constexpr std::size_t max_key_bytes = 255;

void refuse(boost::asio::any_io_executor ex, const std::function<void(queue_outcome)>& done,
            const proto::api_error& e) {
  boost::asio::post(ex, [done, body = proto::encode_error(e)] {
    done({queue_verdict::refused, body});
  });
}

// Gives a keyless request the fallback key; an error when that key cannot be one.
std::optional<proto::api_error> apply_key(proto::notify_request& r, const std::string& key,
                                          const char* field) {
  if (r.idempotency_key || key.empty()) return std::nullopt;
  if (key.size() > max_key_bytes) {
    return proto::invalid_argument(
        field, std::string(field) + " is used as the idempotency key and must be 1 to 255 bytes");
  }
  r.idempotency_key = key;
  return std::nullopt;
}

bool looks_like_batch(const std::string& body) {
  return body.find("\"notifications\"") != std::string::npos;
}

}  // namespace

void ingest_queue_body(server& srv, queue_body in, boost::asio::any_io_executor ex,
                       std::function<void(queue_outcome)> done) {
  const auto& cfg = srv.cfg();
  if (in.body.size() > cfg.max_batch_bytes) return refuse(ex, done, proto::too_large());
  if (looks_like_batch(in.body)) {
    auto parsed = proto::parse_notify_batch(in.body);
    auto* err = std::get_if<proto::api_error>(&parsed);
    // An object without a `notifications` array is taken as one notify body (which says why
    // it is refused, or takes it).
    if (err && err->field != "notifications") return refuse(ex, done, *err);
    if (!err) {
      auto& entries = std::get<std::vector<proto::notify_parse_result>>(parsed);
      // Runs on `ex`: a single-threaded io_context executor, so the gather needs no lock.
      auto finish_one = gather_batch(entries.size(), [done](std::string out, bool unavailable) {
        done({unavailable ? queue_verdict::unavailable : queue_verdict::done, std::move(out)});
      });
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (auto* e = std::get_if<proto::api_error>(&entries[i])) {
          boost::asio::post(
              ex, [finish_one, i, r = notify_result{e->status, proto::encode_error(*e)}]() mutable {
                finish_one(i, std::move(r));
              });
          continue;
        }
        auto& r = std::get<proto::notify_request>(entries[i]);
        const std::string key =
            in.fallback_key.empty() ? std::string() : in.fallback_key + ":" + std::to_string(i);
        if (auto e = apply_key(r, key, in.fallback_field)) {
          boost::asio::post(
              ex, [finish_one, i, r = notify_result{e->status, proto::encode_error(*e)}]() mutable {
                finish_one(i, std::move(r));
              });
          continue;
        }
        process_notify(srv, std::move(r), ex,
                       [finish_one, i](notify_result res) { finish_one(i, std::move(res)); });
      }
      return;
    }
  }
  if (in.body.size() > cfg.max_body_bytes) return refuse(ex, done, proto::too_large());
  auto parsed = proto::parse_notify(in.body);
  if (auto* err = std::get_if<proto::api_error>(&parsed)) return refuse(ex, done, *err);
  auto& r = std::get<proto::notify_request>(parsed);
  if (auto e = apply_key(r, in.fallback_key, in.fallback_field)) return refuse(ex, done, *e);
  process_notify(srv, std::move(r), ex, [done](notify_result res) {
    done({res.status == 200 ? queue_verdict::done : queue_verdict::unavailable,
          std::move(res.body)});
  });
}

}  // namespace herald::gateway
