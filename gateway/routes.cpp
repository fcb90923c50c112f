#include "gateway/routes.hpp"

#include "gateway/http_session.hpp"
#include "gateway/request_limits.hpp"
#include "gateway/server.hpp"

namespace herald::gateway {

void route_public(const std::shared_ptr<http_session>& s, request req, const target& t) {
  if (t.path.rfind("/v1/inbox", 0) == 0 && handle_inbox(s, req, t)) return;
  if (t.path == "/v1/dev/token" && s->srv().cfg().dev) {
    handle_admin(s, req, t);
    return;
  }
  if (t.path.rfind("/v1/", 0) != 0 && t.path != "/v1" && handle_static(s, req, t, false)) return;
  s->respond(error_response(proto::not_found("no such route: " + t.path)));
}

void route_internal(const std::shared_ptr<http_session>& s, request req, const target& t) {
  server& srv = s->srv();
  const bool open_route = open_internal_route(srv.cfg(), t);
  if (admin_page(t)) {
    if (handle_static(s, req, t, true)) return;
    s->respond(error_response(proto::not_found("no such file: " + t.path)));
    return;
  }
  if (!open_route && !api_key_ok(srv.cfg(), req)) {
    s->respond(error_response(
        proto::unauthenticated("a valid API key is required (Authorization: Bearer KEY)")));
    return;
  }
  if (!open_route) s->authenticated();
  if ((t.path == "/v1/notify" || t.path == "/v1/notify/batch")) {
    if (req.method() != http::verb::post) {
      s->respond(error_response(proto::method_not_allowed()));
      return;
    }
    handle_notify(s, std::move(req), t.path == "/v1/notify/batch");
    return;
  }
  if (t.path.rfind("/v1/notifications", 0) == 0 && handle_notifications(s, req, t)) return;
  if (handle_admin(s, req, t)) return;
  s->respond(error_response(proto::not_found("no such route: " + t.path)));
}

}  // namespace herald::gateway
