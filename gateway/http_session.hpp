// One HTTP/1.1 connection: reads requests (keep-alive, body limit, timeouts), routes them, and
// writes the answers in order. Hands WebSocket upgrades on /v1/ws to a ws_session. Handlers
// answer through respond(), which may be called from any thread.
#pragma once
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <memory>
#include <optional>

#include "gateway/http_types.hpp"
#include "gateway/listener.hpp"

namespace herald::gateway {

class server;

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(server& srv, boost::asio::ip::tcp::socket socket, listener::kind k);
  void run();
  // Sends the answer to the request being handled. Thread-safe.
  void respond(response res);
  server& srv() { return srv_; }
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

 private:
  void read_header();
  void on_header(boost::beast::error_code ec);
  void on_body(boost::beast::error_code ec);
  void handle(request req);
  void upgrade(request req);
  void write(response res);
  void on_write(bool close, boost::beast::error_code ec);
  void linger_close();

  server& srv_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<response> res_;
  listener::kind kind_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool handling_ = false;
  bool kid_waited_ = false;  // an upgrade already waited once for a key fetch
};

}  // namespace herald::gateway
