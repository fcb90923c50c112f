#include "gateway/http_session.hpp"
#include "gateway/state_events.hpp"

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <charconv>
#include <limits>

#include "gateway/pending_connections.hpp"
#include "gateway/request_limits.hpp"
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
// A lingering close (after an answer with Connection: close) lasts at most this long and reads
// at most this much, however the client trickles bytes.
constexpr auto linger_deadline = std::chrono::seconds(3);
constexpr std::size_t linger_max_bytes = 1 << 20;
constexpr std::size_t header_limit = 16 * 1024;
constexpr std::size_t first_read_bytes =
    1536;  // most request heads; an idle connection costs no more

// The field a malformed request head is refused for.
const char* malformed_field(const beast::error_code& ec) {
  if (ec == http::error::bad_method) return "method";
  if (ec == http::error::bad_target) return "target";
  if (ec == http::error::bad_version) return "version";
  if (ec == http::error::bad_content_length) return "Content-Length";
  if (ec == http::error::bad_transfer_encoding) return "Transfer-Encoding";
  if (ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension) return "body";
  return "header";
}

// A syntax error in the request (as opposed to the peer leaving or a timeout).
bool is_malformed(const beast::error_code& ec) {
  return ec.category() == beast::error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::need_more && ec != http::error::need_buffer &&
         ec != http::error::body_limit && ec != http::error::header_limit &&
         ec != http::error::buffer_overflow;
}
}  // namespace

http_session::http_session(server& srv, tcp::socket socket, listener::kind k)
    : srv_(srv), stream_(std::move(socket)), kind_(k) {}

http_session::~http_session() {
  end_request();
  leave_pending();
}

void http_session::run(std::shared_ptr<pending_connections> pending, std::uint64_t pending_id) {
  pending_ = std::move(pending);
  pending_id_ = pending_id;
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
}

void http_session::leave_pending() {
  if (pending_) pending_->remove(pending_id_);
  pending_.reset();
  pending_id_ = 0;
}

void http_session::authenticated() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->leave_pending(); });
}

void http_session::shed() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    self->pending_.reset();  // already taken off the list by whoever shed it
    self->pending_id_ = 0;
    if (self->shed_) return;
    self->shed_ = true;
    self->keep_alive_ = false;
    if (!self->handling_) {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    }
  });
}

void http_session::begin_request() {
  if (in_request_) return;
  in_request_ = true;
  began_draining_ = srv_.draining();
  srv_.request_started();
}

void http_session::end_request() {
  if (!in_request_) return;
  in_request_ = false;
  srv_.request_finished();
}

void http_session::read_header() {
  if (shed_) {
    stream_.close();
    return;
  }
  parser_.emplace();
  parser_->header_limit(header_limit);
  // The route picks the body limit once the head is known (on_header).
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  if (buffer_.size() > 0) {
    parse_header();  // a pipelined request is already here
    return;
  }
  // Wait for the first byte before counting a request in flight (the drain waits for it).
  stream_.expires_after(idle_timeout);
  stream_.async_read_some(buffer_.prepare(first_read_bytes),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->on_first_bytes(ec, n);
                          });
}

void http_session::on_first_bytes(beast::error_code ec, std::size_t n) {
  if (ec) {
    stream_.close();
    return;
  }
  buffer_.commit(n);
  parse_header();
}

void http_session::parse_header() {
  begin_request();
  stream_.expires_after(read_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void http_session::refuse_unread(const proto::api_error& e) {
  version_ = 11;
  keep_alive_ = false;  // the rest of the request is not read: the connection cannot be reused
  body_unread_ = true;
  handling_ = true;
  write(error_response(e));
}

void http_session::end_failed_read(beast::error_code ec) {
  if (!is_malformed(ec)) {
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    end_request();
    return;
  }
  srv_.stats().requests_refused_malformed++;
  refuse_unread(
      proto::invalid_argument(malformed_field(ec), "malformed HTTP request: " + ec.message()));
}

void http_session::on_header(beast::error_code ec) {
  if (ec == http::error::header_limit) {
    srv_.stats().requests_refused_too_large++;
    refuse_unread(proto::too_large("request header is too large"));
    return;
  }
  if (ec) {
    end_failed_read(ec);
    return;
  }
  const auto& h = parser_->get();
  const bool has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;
  const body_plan plan =
      plan_body(srv_.cfg(), kind_ == listener::kind::internal_api, h, parse_target(h.target()));
  if (has_body && (plan.answer_without_body || began_draining_)) {
    // The route answers from the head alone (unknown route, no valid key, draining): the body
    // is never read, and the connection closes after the answer.
    srv_.stats().requests_answered_unread++;
    body_unread_ = true;
    stream_.expires_never();
    handle(parser_->release());
    return;
  }
  if (auto len = parser_->content_length(); len && *len > plan.limit) {
    on_body(http::error::body_limit);
    return;
  }
  parser_->body_limit(plan.limit);
  stream_.expires_after(read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code read_ec, std::size_t) {
                     self->on_body(read_ec);
                   });
}

void http_session::on_body(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    srv_.stats().requests_refused_too_large++;
    version_ = parser_->get().version();
    refuse_unread(proto::too_large());
    return;
  }
  if (ec) {
    end_failed_read(ec);
    return;
  }
  stream_.expires_never();
  handle(parser_->release());
}

void http_session::handle(request req) {
  version_ = req.version();
  keep_alive_ = req.keep_alive() && !body_unread_ && !shed_;
  handling_ = true;
  const target t = parse_target(req.target());
  // A request that began after SIGTERM gets 503; one that began before gets its real answer.
  if (began_draining_) {
    srv_.stats().upgrades_refused += websocket::is_upgrade(req) ? 1 : 0;
    keep_alive_ = false;
    write(error_response(proto::unavailable("shutting down")));
    return;
  }
  if (t.bad) {
    write(
        error_response(proto::invalid_argument("query", "malformed percent-encoding in the URL")));
    return;
  }
  if (kind_ == listener::kind::public_api && t.path == "/v1/ws") {
    if (srv_.draining()) {  // no new WebSocket once the drain has begun
      ++srv_.stats().upgrades_refused;
      keep_alive_ = false;
      write(error_response(proto::unavailable("shutting down")));
      return;
    }
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
          asio::post(self->stream_.get_executor(),
                     [self, held] { self->upgrade(std::move(*held)); });
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
    auto res = error_response(
        proto::invalid_argument("Sec-WebSocket-Version", "WebSocket version 13 is required"));
    res.set(http::field::sec_websocket_version, "13");
    write(std::move(res));
    return;
  }
  if (!ws::valid_client_key(req[http::field::sec_websocket_key])) {
    keep_alive_ = false;
    write(error_response(
        proto::invalid_argument("Sec-WebSocket-Key", "a valid Sec-WebSocket-Key is required")));
    return;
  }
  std::optional<std::uint64_t> since;
  if (auto s = t.param("since")) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (s->empty() || ec != std::errc() || p != s->data() + s->size() || v > proto::max_safe_id) {
      keep_alive_ = false;
      write(error_response(
          proto::invalid_argument("since", "since must be a non-negative integer id")));
      return;
    }
    since = v;
  }
  std::optional<std::uint64_t> changes_since;
  if (auto bad = parse_changes_since(t.param("changes_since"), since.has_value(), changes_since)) {
    keep_alive_ = false;
    write(error_response(proto::invalid_argument("changes_since", *bad)));
    return;
  }
  // Authenticated: the connection leaves the pending list before it becomes a WebSocket.
  leave_pending();
  // The socket leaves this HTTP session; the request counted by handle() is finished.
  end_request();
  handling_ = false;
  // Bytes after the request head (frames sent in the same segment) go with the socket.
  std::string pending(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  buffer_.consume(buffer_.size());
  ws_session::launch(srv_, stream_.release_socket(), std::move(req), std::move(*who), since,
                     std::move(pending), changes_since);
}

void http_session::respond(response res) {
  asio::dispatch(
      stream_.get_executor(),
      [self = shared_from_this(), res = std::move(res)]() mutable { self->write(std::move(res)); });
}

void http_session::write(response res) {
  const bool close = !keep_alive_ || body_unread_ || shed_ || srv_.draining();
  res.version(version_);
  res.keep_alive(!close);
  res.set(http::field::server, "herald");
  res_ = std::make_shared<response>(std::move(res));
  stream_.expires_after(read_timeout);
  http::async_write(stream_, *res_,
                    [self = shared_from_this(), close](beast::error_code ec, std::size_t) {
                      self->on_write(close, ec);
                    });
}

void http_session::on_write(bool close, beast::error_code ec) {
  res_.reset();
  handling_ = false;
  end_request();
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
  // not answer it with a reset that would destroy the answer before the client reads it. One
  // deadline for the whole linger: a client trickling bytes does not extend it.
  leave_pending();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  linger_until_ = std::chrono::steady_clock::now() + linger_deadline;
  linger_bytes_ = 0;
  stream_.expires_at(linger_until_);
  buffer_.clear();
  linger_read();
}

void http_session::linger_read() {
  stream_.async_read_some(buffer_.prepare(16 * 1024),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->linger_bytes_ += n;
                            if (ec || self->linger_bytes_ > linger_max_bytes ||
                                std::chrono::steady_clock::now() >= self->linger_until_) {
                              self->stream_.close();
                              return;
                            }
                            self->linger_read();
                          });
}

}  // namespace herald::gateway
