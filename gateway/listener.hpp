// Accepts TCP connections for one listener (public or internal) and starts an http_session
// for each, spreading them over the I/O threads. Runs on the first I/O thread.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "gateway/config.hpp"

namespace herald::gateway {

class server;

class listener : public std::enable_shared_from_this<listener> {
 public:
  enum class kind { public_api, internal_api };
  // Binds at once; throws config_error naming the setting when the address cannot be bound.
  listener(server& srv, boost::asio::io_context& ctx, const endpoint& at, kind k);
  void start();
  void stop();
  kind which() const { return kind_; }

 private:
  void accept();
  server& srv_;
  boost::asio::ip::tcp::acceptor acceptor_;
  kind kind_;
  std::size_t next_ = 0;
};

}  // namespace herald::gateway
