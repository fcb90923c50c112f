// The internal routes besides notify: retraction, presence, stats, health, readiness, metrics,
// and the dev-mode helpers (a token minter on the public listener, the API key for the console).
#include <nlohmann/json.hpp>

#include "gateway/http_session.hpp"
#include "gateway/queue_consumers.hpp"
#include "gateway/routes.hpp"
#include "gateway/server.hpp"
#include "gateway/state_events.hpp"
#include "proto/json_depth.hpp"
#include "proto/notify_request.hpp"

namespace herald::gateway {

namespace {

void respond_method(const std::shared_ptr<http_session>& s) {
  s->respond(error_response(proto::method_not_allowed()));
}

void handle_dev_token(const std::shared_ptr<http_session>& s, const request& req) {
  if (req.method() != http::verb::post) return respond_method(s);
  if (auto path = proto::json_too_deep(req.body())) {
    const std::string field = proto::deep_field(*path);
    s->respond(
        error_response(proto::invalid_argument(field, field + " nests deeper than 32 levels")));
    return;
  }
  auto body = nlohmann::json::parse(req.body(), nullptr, false);
  if (!body.is_object()) {
    s->respond(error_response(proto::invalid_argument("body", "the body must be a JSON object")));
    return;
  }
  auto uid = body.find("user_id");
  if (uid == body.end() || !uid->is_number_unsigned() || uid->get<std::uint64_t>() == 0 ||
      uid->get<std::uint64_t>() > proto::max_safe_id) {
    s->respond(
        error_response(proto::invalid_argument("user_id", "user_id must be a positive integer")));
    return;
  }
  std::vector<std::string> groups;
  if (auto g = body.find("groups"); g != body.end() && !g->is_null()) {
    if (!g->is_array()) {
      s->respond(
          error_response(proto::invalid_argument("groups", "groups must be an array of strings")));
      return;
    }
    for (const auto& e : *g) {
      if (!e.is_string()) {
        s->respond(error_response(
            proto::invalid_argument("groups", "groups must be an array of strings")));
        return;
      }
      groups.push_back(e.get<std::string>());
    }
  }
  std::int64_t ttl = 24 * 3600;
  if (auto t = body.find("ttl_s"); t != body.end() && !t->is_null()) {
    if (!t->is_number_unsigned() || t->get<std::uint64_t>() == 0 ||
        t->get<std::uint64_t>() > 30ull * 86400) {
      s->respond(
          error_response(proto::invalid_argument("ttl_s", "ttl_s must be 1 to 2592000 seconds")));
      return;
    }
    ttl = t->get<std::int64_t>();
  }
  const auto user = uid->get<std::uint64_t>();
  nlohmann::json out = {
      {"token", s->srv().tokens().mint(user, groups, server::now_ms() / 1000, ttl)},
      {"user_id", user},
      {"groups", groups}};
  s->respond(json_response(http::status::ok, out.dump()));
}

}  // namespace

bool handle_admin(const std::shared_ptr<http_session>& s, request& req, const target& t) {
  server& srv = s->srv();
  const std::string& p = t.path;
  const auto m = req.method();
  const bool get = m == http::verb::get || m == http::verb::head;

  if (p == "/v1/dev/token" && srv.cfg().dev) {  // without --dev: no such route
    handle_dev_token(s, req);
    return true;
  }
  if (p == "/v1/dev/config" && srv.cfg().dev) {
    if (!get) return respond_method(s), true;
    nlohmann::json out = {{"api_key", srv.cfg().api_keys.front()}};
    s->respond(json_response(http::status::ok, out.dump()));
    return true;
  }
  if (p == "/healthz") {
    if (!get) return respond_method(s), true;
    s->respond(json_response(http::status::ok, R"({"status":"ok"})"));
    return true;
  }
  if (p == "/readyz") {
    if (!get) return respond_method(s), true;
    if (srv.draining()) {
      s->respond(error_response(proto::unavailable("shutting down")));
    } else if (!srv.store_ready()) {
      s->respond(error_response(
          proto::unavailable(srv.store_state() == persistence::store_probe::state::full
                                 ? "the store cannot write (disk full)"
                                 : "the store does not answer")));
    } else if (!srv.bus_ready()) {
      s->respond(error_response(proto::unavailable("the bus does not answer")));
    } else if (!srv.keys_ready()) {
      s->respond(error_response(proto::unavailable("the JWKS key set was never loaded")));
    } else if (std::string why; !srv.queues_ready(&why)) {
      s->respond(error_response(proto::unavailable(why)));
    } else {
      s->respond(json_response(http::status::ok, R"({"status":"ready"})"));
    }
    return true;
  }
  if (p == "/metrics") {
    if (!get) return respond_method(s), true;
    srv.registry().totals([s](cm::node_totals n) {
      server& node = s->srv();
      response res{http::status::ok, 11};
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = node.stats().render(static_cast<std::int64_t>(n.users), node.store_ready(),
                                       node.bus_ready()) +
                   node.shed_metrics();
      res.prepare_payload();
      s->respond(std::move(res));
    });
    return true;
  }
  if (p == "/v1/stats") {
    if (!get) return respond_method(s), true;
    srv.registry().totals([s](cm::node_totals n) {
      auto answer = [s](std::uint64_t connections, std::uint64_t users, std::uint64_t nodes) {
        s->srv().pool().submit(
            s->executor(), [](persistence::store& st) { return st.stats(server::now_ms()); },
            [s, connections, users, nodes](persistence::outcome<persistence::store_stats> out) {
              nlohmann::json j = {{"connections", connections},
                                  {"users_online", users},
                                  {"nodes", nodes},
                                  {"node_id", s->srv().cfg().node_id}};
              if (const auto* q = s->srv().queues()) j["queues"] = q->stats_json();
              if (out.ok()) {
                j["notifications_stored"] = out.value->notifications_stored;
              } else {
                j["notifications_stored"] = nullptr;
              }
              s->respond(json_response(http::status::ok, j.dump()));
            });
      };
      auto* presence = s->srv().presence();
      if (!presence || !presence->healthy()) {
        answer(n.connections, n.users, 1);
        return;
      }
      presence->totals([n, answer](std::optional<cm::presence_totals> cluster) {
        if (!cluster) return answer(n.connections, n.users, 1);
        answer(std::max<std::uint64_t>(cluster->connections, n.connections),
               std::max<std::uint64_t>(cluster->users_online, n.users),
               std::max<std::uint64_t>(cluster->nodes, 1));
      });
    });
    return true;
  }
  if (p.rfind("/v1/users/", 0) == 0 && p.size() > 19 && p.substr(p.size() - 9) == "/presence") {
    const std::string_view idtext = std::string_view(p).substr(10, p.size() - 10 - 9);
    if (!get) return respond_method(s), true;
    auto id = parse_id(idtext);
    if (!id) {
      s->respond(error_response(
          proto::invalid_argument("user_id", "the user id must be a positive integer")));
      return true;
    }
    srv.registry().presence(*id, [s, id = *id](std::size_t local) {
      auto answer = [s](std::uint64_t n) {
        nlohmann::json j = {{"online", n > 0}, {"connections", n}};
        s->respond(json_response(http::status::ok, j.dump()));
      };
      auto* presence = s->srv().presence();
      if (!presence || !presence->healthy()) return answer(local);
      presence->user_connections(id, [local, answer](std::optional<std::uint64_t> c) {
        answer(c ? std::max<std::uint64_t>(*c, local) : local);
      });
    });
    return true;
  }
  if (p.rfind("/v1/users/", 0) == 0 && p.size() > 22 && p.substr(p.size() - 12) == "/connections") {
    // Revocation: every connection of the user, on every node, closes with 4003 `revoked`.
    if (m != http::verb::delete_) return respond_method(s), true;
    auto id = parse_id(std::string_view(p).substr(10, p.size() - 10 - 12));
    if (!id) {
      s->respond(error_response(
          proto::invalid_argument("user_id", "the user id must be a positive integer")));
      return true;
    }
    srv.revoke_user(*id, [s](std::size_t closed) {
      nlohmann::json j = {{"closed", closed}};
      s->respond(json_response(http::status::ok, j.dump()));
    });
    return true;
  }
  if (p.rfind("/v1/notifications/", 0) == 0) {
    if (m != http::verb::delete_) return respond_method(s), true;
    auto id = parse_id(std::string_view(p).substr(18));
    if (!id) {
      s->respond(error_response(proto::not_found("no such notification")));
      return true;
    }
    srv.pool().submit(
        s->executor(), [id = *id](persistence::store& st) { return st.retract(id); },
        [s](persistence::outcome<std::optional<persistence::item_ref>> out) {
          if (!out.ok()) {
            s->respond(
                error_response(proto::unavailable("the store cannot be reached; retry later")));
            return;
          }
          if (!*out.value) {
            s->respond(
                error_response(proto::not_found("no such notification, or already retracted")));
            return;
          }
          s->srv().publish(state_event_for_item(**out.value, proto::removal_reason::retracted));
          s->srv().publish(server::count_event_for(**out.value));
          s->respond(no_content());
        });
    return true;
  }
  return false;
}

}  // namespace herald::gateway
