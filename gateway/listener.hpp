// Accepts TCP connections for one listener (public or internal) and starts an http_session
// for each, spreading them over the I/O threads. Runs on the first I/O thread.
//
// Bounds (README "Resource bounds"): at most HERALD_MAX_PENDING_CONNECTIONS unauthenticated
// connections (the oldest is shed for a new one) and HERALD_MAX_CONNECTIONS_PER_IP of them per
// source address (more are closed at accept); the public listener closes new connections when
// fewer than HERALD_RESERVED_FDS descriptors remain, so that the internal listener (health,
// readiness, notify) keeps room. When accept() runs out of descriptors, one spare descriptor
// is given up to take the waiting connection off the queue, accepting pauses briefly, the
// oldest unauthenticated public connections are shed, and one line per second is logged.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

#include "gateway/config.hpp"

namespace herald::gateway {

class server;
class pending_connections;

class listener : public std::enable_shared_from_this<listener> {
 public:
  enum class kind { public_api, internal_api };
  // Binds at once; throws config_error naming the setting when the address cannot be bound.
  listener(server& srv, boost::asio::io_context& ctx, const endpoint& at, kind k);
  ~listener();
  void start();
  void stop();
  // When this listener runs out of descriptors it also sheds `other`'s pending connections
  // (the internal listener sheds the public one's). Call before start().
  void shed_also(std::shared_ptr<listener> other) { shed_also_ = std::move(other); }
  // Closes up to n of the oldest unauthenticated connections; returns how many. Thread-safe.
  std::size_t shed_oldest(std::size_t n);

 private:
  void accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket s);
  void admit(boost::asio::ip::tcp::socket s);
  void out_of_descriptors();
  void note(const char* what);

  server& srv_;
  boost::asio::ip::tcp::acceptor acceptor_;
  kind kind_;
  std::size_t next_ = 0;
  std::shared_ptr<pending_connections> pending_;
  std::shared_ptr<listener> shed_also_;
  boost::asio::steady_timer pause_;
  int spare_fd_ = -1;         // a descriptor on /dev/null, given up when accept() has none
  std::size_t fd_limit_ = 0;  // RLIMIT_NOFILE at start
  // Log once per interval, with counts.
  std::chrono::steady_clock::time_point last_log_{};
  std::uint64_t unlogged_pauses_ = 0;
  std::uint64_t unlogged_refused_ = 0;
  std::uint64_t unlogged_shed_ = 0;
};

}  // namespace herald::gateway
