#include "bench/floor_sink.hpp"

#include "bench/process_probe.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace herald::bench {

namespace asio = boost::asio;
using asio::ip::tcp;

floor_sink::floor_sink(asio::io_context& io, int sockets, std::size_t frame_len, reporter report)
    : io_(io),
      expected_(sockets),
      frame_len_(frame_len),
      report_(std::move(report)),
      acceptor_(io) {}

floor_sink::~floor_sink() { stop(); }

std::uint16_t floor_sink::listen() {
  const tcp::endpoint any(asio::ip::make_address_v4("127.0.0.1"), 0);
  acceptor_.open(any.protocol());
  acceptor_.bind(any);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return acceptor_.local_endpoint().port();
}

void floor_sink::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& s : sockets_) s->close(ec);
  sockets_.clear();
}

asio::awaitable<void> floor_sink::accept_loop() {
  while (static_cast<int>(sockets_.size()) < expected_) {
    boost::system::error_code ec;
    auto socket = std::make_shared<tcp::socket>(io_);
    co_await acceptor_.async_accept(*socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) continue;
    sockets_.push_back(socket);
    asio::co_spawn(io_, read_loop(socket), asio::detached);
  }
  report_({{"ev", "floor_ready"}, {"sockets", sockets_.size()}});
}

asio::awaitable<void> floor_sink::read_loop(std::shared_ptr<tcp::socket> socket) {
  char buffer[4096];
  std::size_t total = 0;
  std::int64_t rounds = 0;
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = co_await socket->async_read_some(
        asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    total += n;
    const auto now_rounds = static_cast<std::int64_t>(total / frame_len_);
    for (; rounds < now_rounds; ++rounds) {
      if (++arrivals_[rounds + 1] == expected_) {
        report_({{"ev", "floor_round"}, {"round", rounds + 1}, {"t_last", monotonic_ns()}});
        arrivals_.erase(rounds + 1);
      }
    }
  }
}

}  // namespace herald::bench
