#include "gateway/listener.hpp"

#include <boost/asio/ip/address.hpp>

#include "gateway/http_session.hpp"
#include "gateway/server.hpp"

namespace herald::gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

listener::listener(server& srv, asio::io_context& ctx, const endpoint& at, kind k)
    : srv_(srv), acceptor_(ctx), kind_(k) {
  const char* key = k == kind::public_api ? "HERALD_PUBLIC_ADDR" : "HERALD_INTERNAL_ADDR";
  boost::system::error_code ec;
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(at.host, std::to_string(at.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) throw config_error(std::string(key) + ": cannot resolve '" + at.host + "'");
  const tcp::endpoint ep = results.begin()->endpoint();
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw config_error(std::string(key) + ": cannot listen on " + at.str() + ": " + ec.message());
}

void listener::start() { accept(); }

void listener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void listener::accept() {
  // Spread connections over the I/O threads; a WebSocket later moves to its user's shard.
  auto& ctx = srv_.registry().context(next_++ % srv_.registry().shard_count());
  acceptor_.async_accept(ctx, [self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<http_session>(self->srv_, std::move(s), self->kind_)->run();
    } else if (ec == asio::error::no_descriptors) {
      server::log()->warn("accept: out of file descriptors");
    }
    self->accept();
  });
}

}  // namespace herald::gateway
