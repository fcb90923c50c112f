#include "gateway/http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>

#include "gateway/routes.hpp"
#include "gateway/server.hpp"
#include "gateway/ws_framing.hpp"
#include "gateway/ws_session.hpp"

namespace herald::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {
constexpr auto read_timeout = std::chrono::seconds(30);
constexpr auto idle_timeout = std::chrono::seconds(60);
}  // namespace

http_session::http_session(server& srv, tcp::socket socket, listener::kind k)
    : srv_(srv), stream_(std::move(socket)), kind_(k) {}

void http_session::run() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
}

void http_session::read_header() {
  parser_.emplace();
  parser_->header_limit(16 * 1024);
  // The route decides the limit once the target is known; let the header through first.
  parser_->body_limit(std::max(srv_.cfg().max_body_bytes, srv_.cfg().max_batch_bytes));
  stream_.expires_after(buffer_.size() ? read_timeout : idle_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void http_session::on_header(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    on_body(ec);  // a Content-Length past every limit
    return;
  }
  if (ec) {
    if (ec == http::error::header_limit) {
      version_ = 11;
      keep_alive_ = false;
      handling_ = true;
      srv_.request_started();
      write(error_response(proto::too_large("request header is too large")));
      return;
    }
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    return;
  }
  const auto& h = parser_->get();
  std::string_view tgt = h.target();
  const bool batch =
      h.method() == http::verb::post && (tgt == "/v1/notify/batch" || tgt.rfind("/v1/notify/batch?", 0) == 0);
  const std::size_t limit = batch ? srv_.cfg().max_batch_bytes : srv_.cfg().max_body_bytes;
  if (auto len = parser_->content_length(); len && *len > limit) {
    on_body(http::error::body_limit);
    return;
  }
  parser_->body_limit(limit);
  stream_.expires_after(read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
}

void http_session::on_body(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    version_ = parser_->get().version();
    keep_alive_ = false;  // the rest of the body is not read: the connection cannot be reused
    handling_ = true;
    srv_.request_started();
    write(error_response(proto::too_large()));
    return;
  }
  if (ec) {
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    return;
  }
  stream_.expires_never();
  handle(parser_->release());
}

void http_session::handle(request req) {
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  handling_ = true;
  srv_.request_started();
  const target t = parse_target(req.target());
  if (srv_.draining()) {
    srv_.stats().upgrades_refused += websocket::is_upgrade(req) ? 1 : 0;
    keep_alive_ = false;
    write(error_response(proto::unavailable("shutting down")));
    return;
  }
  if (t.bad) {
    write(error_response(proto::invalid_argument("query", "malformed percent-encoding in the URL")));
    return;
  }
  if (kind_ == listener::kind::public_api && t.path == "/v1/ws") {
    if (req.method() != http::verb::get) {
      write(error_response(proto::method_not_allowed()));
      return;
    }
    if (!websocket::is_upgrade(req)) {
      write(error_response(proto::invalid_argument("upgrade", "a WebSocket upgrade is required")));
      return;
    }
    upgrade(std::move(req));
    return;
  }
  auto self = shared_from_this();
  try {
    if (kind_ == listener::kind::public_api) {
      route_public(self, std::move(req), t);
    } else {
      route_internal(self, std::move(req), t);
    }
  } catch (const std::exception& e) {
    server::log()->error("handler failed: {}", e.what());
    respond(error_response(proto::internal_error()));
  }
}

void http_session::upgrade(request req) {
  const target t = parse_target(req.target());
  const auto& cfg = srv_.cfg();
  if (!cfg.allowed_origins.empty()) {
    auto it = req.find(http::field::origin);
    if (it != req.end()) {
      const std::string_view origin = it->value();
      bool ok = false;
      for (const auto& o : cfg.allowed_origins) ok = ok || origin == o;
      if (!ok) {
        ++srv_.stats().upgrades_refused;
        keep_alive_ = false;
        write(error_response(proto::forbidden("origin not allowed")));
        return;
      }
    }
  }
  std::string token;
  if (auto q = t.param("token")) {
    token = *q;
  } else {
    token = std::string(bearer_token(req));
  }
  std::string why;
  token_verifier::refusal refused;
  auto who = srv_.tokens().verify(token, server::now_ms() / 1000, &why, &refused);
  if (!who && refused.unknown_kid && !kid_waited_) {
    // A kid the key set lacks (a key rotation): answer once the fetch it started is done,
    // which runs on the key set's thread, so this thread serves others meanwhile.
    kid_waited_ = true;
    auto held = std::make_shared<request>(req);  // a copy: `t` and `token` still read req
    auto self = shared_from_this();
    if (srv_.tokens().after_key_fetch(refused, [self, held] {
          asio::post(self->stream_.get_executor(), [self, held] { self->upgrade(std::move(*held)); });
        })) {
      return;
    }
  }
  kid_waited_ = false;
  if (!who) {
    ++srv_.stats().upgrades_refused;
    keep_alive_ = false;
    write(error_response(proto::unauthenticated(why)));
    return;
  }
  if (req[http::field::sec_websocket_version] != "13") {
    keep_alive_ = false;
    auto res = error_response(proto::invalid_argument("Sec-WebSocket-Version", "WebSocket version 13 is required"));
    res.set(http::field::sec_websocket_version, "13");
    write(std::move(res));
    return;
  }
  if (!ws::valid_client_key(req[http::field::sec_websocket_key])) {
    keep_alive_ = false;
    write(error_response(proto::invalid_argument("Sec-WebSocket-Key", "a valid Sec-WebSocket-Key is required")));
    return;
  }
  std::optional<std::uint64_t> since;
  if (auto s = t.param("since")) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (s->empty() || ec != std::errc() || p != s->data() + s->size() || v > proto::max_safe_id) {
      keep_alive_ = false;
      write(error_response(proto::invalid_argument("since", "since must be a non-negative integer id")));
      return;
    }
    since = v;
  }
  // The socket leaves this HTTP session; the request counted by handle() is finished.
  srv_.request_finished();
  handling_ = false;
  ws_session::launch(srv_, stream_.release_socket(), std::move(req), std::move(*who), since);
}

void http_session::respond(response res) {
  asio::dispatch(stream_.get_executor(),
                 [self = shared_from_this(), res = std::move(res)]() mutable { self->write(std::move(res)); });
}

void http_session::write(response res) {
  const bool close = !keep_alive_ || srv_.draining();
  res.version(version_);
  res.keep_alive(!close);
  res.set(http::field::server, "herald");
  res_ = std::make_shared<response>(std::move(res));
  stream_.expires_after(read_timeout);
  http::async_write(stream_, *res_, [self = shared_from_this(), close](beast::error_code ec, std::size_t) {
    self->on_write(close, ec);
  });
}

void http_session::on_write(bool close, beast::error_code ec) {
  res_.reset();
  if (handling_) {
    handling_ = false;
    srv_.request_finished();
  }
  if (ec) {
    stream_.close();
    return;
  }
  if (close) {
    linger_close();
    return;
  }
  read_header();
}

void http_session::linger_close() {
  // Half-close and read what the client still sends (an unread body), so that the kernel does
  // not answer it with a reset that would destroy the answer before the client reads it.
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.expires_after(std::chrono::seconds(2));
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(16 * 1024),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) {
                              self->stream_.close();
                              return;
                            }
                            self->linger_close();
                          });
}

}  // namespace herald::gateway
