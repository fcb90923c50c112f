// One HTTP/1.1 connection: reads requests (keep-alive, body limit, timeouts), routes them, and
// writes the answers in order. Hands WebSocket upgrades on /v1/ws to a ws_session. Handlers
// answer through respond(), which may be called from any thread; shed() too.
#pragma once
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "gateway/http_types.hpp"
#include "gateway/listener.hpp"

namespace herald::gateway {

class server;
class pending_connections;

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(server& srv, boost::asio::ip::tcp::socket socket, listener::kind k);
  ~http_session();
  // Starts reading; while unauthenticated the connection is listed in `pending` (may be null).
  void run(std::shared_ptr<pending_connections> pending = nullptr, std::uint64_t pending_id = 0);
  // Sends the answer to the request being handled. Thread-safe.
  void respond(response res);
  // The request carried a valid API key or token: the connection leaves the pending list.
  void authenticated();
  // Closes the connection now when it is between requests, else after the answer being
  // written. Thread-safe; for shedding under pressure.
  void shed();
  server& srv() { return srv_; }
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  void read_header();
  void on_first_bytes(boost::beast::error_code ec, std::size_t n);
  void parse_header();
  void on_header(boost::beast::error_code ec);
  void on_body(boost::beast::error_code ec);
  void refuse_unread(const proto::api_error& e);
  // A failed read: a malformed request is refused (400); any other error (the peer left, the
  // read timed out) closes the connection.
  void end_failed_read(boost::beast::error_code ec);
  void handle(request req);
  void upgrade(request req);
  void write(response res);
  void on_write(bool close, boost::beast::error_code ec);
  void linger_close();
  void linger_read();
  void begin_request();
  void end_request();
  void leave_pending();

  server& srv_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<response> res_;
  listener::kind kind_;
  std::shared_ptr<pending_connections> pending_;
  std::uint64_t pending_id_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool handling_ = false;        // a request is routed and its answer not yet written
  bool in_request_ = false;      // counted in flight (from the first byte of its header)
  bool began_draining_ = false;  // the request began after the drain started
  bool body_unread_ = false;     // the answer goes out before the body was read: close after it
  bool shed_ = false;
  std::chrono::steady_clock::time_point linger_until_{};
  std::size_t linger_bytes_ = 0;
  bool kid_waited_ = false;  // an upgrade already waited once for a key fetch
};

}  // namespace herald::gateway
