// Read rates on the internal listener: GET /v1/notifications (the broadcasts and group items
// sent, newest first, with their stats) and GET /v1/notifications/{id} (one item with its
// stats). The stats are counters kept by the store (distinct users who received, read and
// deleted the item), never counted here.
#include <charconv>

#include "gateway/http_session.hpp"
#include "gateway/routes.hpp"
#include "gateway/server.hpp"
#include "proto/json_text.hpp"

namespace herald::gateway {

namespace {

void encode_sent(const persistence::sent_item& si, std::string& out) {
  std::string item;
  proto::encode_item(si.item, item);
  item.pop_back();  // the closing brace: user_id and stats follow
  out += item;
  if (si.item.kind == proto::item_kind::personal) {
    out += ",\"user_id\":";
    proto::append_json_uint(out, si.item.user_id);
  }
  out += ",\"stats\":{\"delivered\":" + std::to_string(si.stats.delivered) +
         ",\"read\":" + std::to_string(si.stats.read) +
         ",\"deleted\":" + std::to_string(si.stats.deleted) + "}}";
}

template <class T>
bool store_failed(const std::shared_ptr<http_session>& s, const persistence::outcome<T>& out) {
  if (out.ok()) return false;
  s->respond(error_response(proto::unavailable("the store cannot be reached; retry later")));
  return true;
}

}  // namespace

// True when it answered: GET/HEAD of /v1/notifications or /v1/notifications/{id}, and any
// method but GET on /v1/notifications (405). Other methods on an item fall through (DELETE
// retracts, in the admin routes).
bool handle_notifications(const std::shared_ptr<http_session>& s, request& req, const target& t) {
  const std::string& p = t.path;
  const auto m = req.method();
  const bool get = m == http::verb::get || m == http::verb::head;
  if (p == "/v1/notifications") {
    if (!get) {
      s->respond(error_response(proto::method_not_allowed()));
      return true;
    }
    persistence::sent_query q;
    if (auto v = t.param("kind")) {
      if (*v == "broadcast") {
        q.kind = proto::item_kind::broadcast;
      } else if (*v == "group") {
        q.kind = proto::item_kind::group;
      } else if (*v != "all") {
        s->respond(error_response(
            proto::invalid_argument("kind", "kind must be broadcast, group or all")));
        return true;
      }
    }
    if (auto v = t.param("limit")) {
      int n = 0;
      auto [e, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (v->empty() || ec != std::errc() || e != v->data() + v->size() || n < 1 || n > 100) {
        s->respond(error_response(
            proto::invalid_argument("limit", "limit must be an integer from 1 to 100")));
        return true;
      }
      q.limit = n;
    }
    if (auto v = t.param("before")) {
      auto id = parse_id(*v);
      if (!id) {
        s->respond(error_response(
            proto::invalid_argument("before", "before must be a positive notification id")));
        return true;
      }
      q.before = id;
    }
    s->srv().pool().submit(
        s->executor(), [q](persistence::store& st) { return st.list_sent(q); },
        [s](persistence::outcome<persistence::sent_page> out) {
          if (store_failed(s, out)) return;
          std::string body = "{\"notifications\":[";
          for (std::size_t i = 0; i < out.value->items.size(); ++i) {
            if (i) body += ',';
            encode_sent(out.value->items[i], body);
          }
          body += "],\"next_before\":";
          body += out.value->next_before ? std::to_string(*out.value->next_before) : "null";
          body += "}";
          s->respond(json_response(http::status::ok, std::move(body)));
        });
    return true;
  }
  if (p.rfind("/v1/notifications/", 0) != 0 || !get) return false;
  auto id = parse_id(std::string_view(p).substr(18));
  if (!id) {
    s->respond(error_response(proto::not_found("no such notification")));
    return true;
  }
  s->srv().pool().submit(
      s->executor(), [id = *id](persistence::store& st) { return st.sent_item_of(id); },
      [s](persistence::outcome<std::optional<persistence::sent_item>> out) {
        if (store_failed(s, out)) return;
        if (!*out.value) {
          s->respond(error_response(proto::not_found("no such notification, or retracted")));
          return;
        }
        std::string body;
        encode_sent(**out.value, body);
        s->respond(json_response(http::status::ok, std::move(body)));
      });
  return true;
}

}  // namespace herald::gateway
