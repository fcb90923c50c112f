// The inbox API on the public listener (Authorization: Bearer JWT): list, count, get, read,
// read-all, delete. Read, read-all and delete are the inbox commands the WebSocket's client
// frames use too (inbox_commands.hpp); each change that moves a count makes the user's sessions
// recount.
#include <charconv>
#include <nlohmann/json.hpp>

#include "gateway/http_session.hpp"
#include "gateway/inbox_commands.hpp"
#include "gateway/routes.hpp"
#include "gateway/server.hpp"
#include "proto/notify_request.hpp"

namespace herald::gateway {

namespace {

std::string unread_body(std::int64_t n) { return "{\"unread\":" + std::to_string(n) + "}"; }

void respond_unavailable(const std::shared_ptr<http_session>& s, persistence::failure why) {
  using persistence::failure;
  const char* text = why == failure::full ? "the store cannot write (disk full); retry later"
                     : why == failure::timed_out || why == failure::in_doubt
                         ? "the store did not answer in time; retry later"
                     : why == failure::overloaded
                         ? "too many requests are waiting for the store; retry later"
                         : "the store cannot be reached; retry later";
  s->respond(error_response(proto::unavailable(text)));
}

template <class T>
bool store_failed(const std::shared_ptr<http_session>& s, const persistence::outcome<T>& out) {
  if (out.ok()) return false;
  respond_unavailable(s, out.why);
  return true;
}

// The answer to a read, delete or read-all (inbox_commands): the count after it, or 204 for a
// delete.
void answer_command(const std::shared_ptr<http_session>& s, const command_outcome& out,
                    bool no_body) {
  switch (out.st) {
    case command_outcome::status::unavailable:
      respond_unavailable(s, out.why);
      return;
    case command_outcome::status::not_found:
      s->respond(error_response(proto::not_found("no such notification")));
      return;
    case command_outcome::status::ok:
      if (no_body) {
        s->respond(no_content());
      } else {
        s->respond(json_response(http::status::ok, unread_body(out.unread.value_or(0))));
      }
      return;
  }
}

std::optional<persistence::inbox_query> parse_inbox_query(const target& t, proto::api_error& err) {
  persistence::inbox_query q;
  if (auto v = t.param("limit")) {
    int n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (v->empty() || ec != std::errc() || p != v->data() + v->size() || n < 1 || n > 100) {
      err = proto::invalid_argument("limit", "limit must be an integer from 1 to 100");
      return std::nullopt;
    }
    q.limit = n;
  }
  if (auto v = t.param("before")) {
    auto id = parse_id(*v);
    if (!id) {
      err = proto::invalid_argument("before", "before must be a positive notification id");
      return std::nullopt;
    }
    q.before = id;
  }
  if (auto v = t.param("status")) {
    if (*v == "unread") {
      q.unread_only = true;
    } else if (*v != "all") {
      err = proto::invalid_argument("status", "status must be all or unread");
      return std::nullopt;
    }
  }
  if (auto v = t.param("kind")) {
    if (*v == "personal") {
      q.kind = proto::item_kind::personal;
    } else if (*v == "broadcast") {
      q.kind = proto::item_kind::broadcast;
    } else if (*v == "group") {
      q.kind = proto::item_kind::group;
    } else if (*v != "all") {
      err = proto::invalid_argument("kind", "kind must be all, personal, broadcast or group");
      return std::nullopt;
    }
  }
  return q;
}

std::string encode_page(const persistence::inbox_page& page) {
  std::string out = "{\"notifications\":[";
  for (std::size_t i = 0; i < page.items.size(); ++i) {
    if (i) out += ',';
    proto::encode_item(page.items[i], out);
  }
  out += "],\"next_before\":";
  out += page.next_before ? std::to_string(*page.next_before) : "null";
  out += ",\"unread\":" + std::to_string(page.unread) + "}";
  return out;
}

}  // namespace

bool handle_inbox(const std::shared_ptr<http_session>& s, request& req, const target& t) {
  server& srv = s->srv();
  // Resolve the route first: unknown paths are 404, wrong methods 405, then the token.
  enum class op { list, count, read_all, get, read, remove } which;
  std::uint64_t id = 0;
  const auto m = req.method();
  const std::string& p = t.path;
  auto method_is = [&](http::verb v) {
    return m == v || (v == http::verb::get && m == http::verb::head);
  };
  http::verb want;
  if (p == "/v1/inbox") {
    which = op::list;
    want = http::verb::get;
  } else if (p == "/v1/inbox/unread_count") {
    which = op::count;
    want = http::verb::get;
  } else if (p == "/v1/inbox/read_all") {
    which = op::read_all;
    want = http::verb::post;
  } else if (p.rfind("/v1/inbox/", 0) == 0) {
    std::string_view rest = std::string_view(p).substr(10);
    const bool read = rest.size() > 5 && rest.substr(rest.size() - 5) == "/read";
    if (read) rest.remove_suffix(5);
    auto parsed = parse_id(rest);
    if (!parsed) {
      s->respond(error_response(proto::not_found("no such notification")));
      return true;
    }
    id = *parsed;
    if (read) {
      which = op::read;
      want = http::verb::post;
    } else if (m == http::verb::delete_) {
      which = op::remove;
      want = http::verb::delete_;
    } else {
      which = op::get;
      want = http::verb::get;
    }
  } else {
    return false;
  }
  if (!method_is(want)) {
    s->respond(error_response(proto::method_not_allowed()));
    return true;
  }
  std::string why;
  auto who = srv.tokens().verify(bearer_token(req), server::now_ms() / 1000, &why);
  if (!who) {
    s->respond(error_response(proto::unauthenticated(why)));
    return true;
  }
  persistence::viewer v{who->user_id, std::move(who->groups)};
  const auto uid = v.user_id;
  auto ex = s->executor();

  switch (which) {
    case op::list: {
      proto::api_error err;
      auto q = parse_inbox_query(t, err);
      if (!q) {
        s->respond(error_response(err));
        return true;
      }
      srv.readers().submit({v, *q}, ex, [s](persistence::outcome<persistence::read_result> out) {
        if (store_failed(s, out)) return;
        s->respond(json_response(http::status::ok, encode_page(out.value->page)));
      });
      return true;
    }
    case op::count:
      srv.readers().submit(
          {v, std::nullopt}, ex, [s](persistence::outcome<persistence::read_result> out) {
            if (store_failed(s, out)) return;
            s->respond(json_response(http::status::ok, unread_body(out.value->counts.unread)));
          });
      return true;
    case op::read_all:
      read_everything(srv, v, true, ex,
                      [s](command_outcome out) { answer_command(s, out, false); });
      return true;
    case op::get: {
      bool mark = true;
      if (auto mr = t.param("mark_read")) {
        if (*mr == "false" || *mr == "0") {
          mark = false;
        } else if (*mr != "true" && *mr != "1") {
          s->respond(error_response(
              proto::invalid_argument("mark_read", "mark_read must be true or false")));
          return true;
        }
      }
      srv.pool().submit(
          ex,
          [v, id, mark](persistence::store& st) { return st.get(v, id, mark, server::now_ms()); },
          [s, uid](persistence::outcome<persistence::mark_result> out) {
            if (store_failed(s, out)) return;
            if (!out.value->found || !out.value->item) {
              s->respond(error_response(proto::not_found("no such notification")));
              return;
            }
            if (out.value->change) s->srv().user_state_changed(uid, *out.value->change);
            if (out.value->changed) s->srv().user_count_changed(uid);
            s->respond(json_response(http::status::ok, proto::encode_item(*out.value->item)));
          });
      return true;
    }
    case op::read:
      read_item(srv, v, id, true, ex, [s](command_outcome out) { answer_command(s, out, false); });
      return true;
    case op::remove:
      remove_item(srv, v, id, ex, [s](command_outcome out) { answer_command(s, out, true); });
      return true;
  }
  return true;
}

}  // namespace herald::gateway
