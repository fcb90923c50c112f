#include "bench/bench_client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace herald::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;

bench_client::bench_client(std::uint32_t index, std::uint64_t user_id, std::uint32_t user_index)
    : index_(index), user_id_(user_id), user_index_(user_index) {}

asio::awaitable<void> bench_client::run(client_sink& sink, tcp::endpoint server,
                                        asio::ip::address_v4 source, std::string host,
                                        std::string target) {
  boost::system::error_code ec;
  auto ex = co_await asio::this_coro::executor;
  tcp::socket socket(ex);
  socket.open(tcp::v4(), ec);
  if (!ec) {
    // Defer the port choice to connect() so each source address has the whole port range
    // per destination.
    int one = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    socket.bind(tcp::endpoint(source, 0), ec);
  }
  if (!ec) co_await socket.async_connect(server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    sink.on_closed(*this, ec);
    co_return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  ws_.emplace(std::move(socket));
  ws_->read_message_max(16 * 1024 * 1024);
  ws_->set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
    req.set(beast::http::field::user_agent, "herald-bench");
  }));
  co_await ws_->async_handshake(host, target, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    ws_.reset();
    sink.on_closed(*this, ec);
    co_return;
  }
  open_ = true;
  beast::flat_buffer buffer;
  for (;;) {
    co_await ws_->async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    const auto data = buffer.cdata();
    sink.on_frame(*this, std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer.consume(buffer.size());
    if (buffer.capacity() > 16 * 1024)
      buffer = beast::flat_buffer();  // give back sync-sized buffers
  }
  // The stream object stays until the next run (operations still finishing reference it); its
  // socket goes now. The sink still sees open() == true, so it knows the connection had opened.
  boost::system::error_code ignored;
  beast::get_lowest_layer(*ws_).close(ignored);
  sink.on_closed(*this, ec);
  open_ = false;
}

void bench_client::close() {
  if (!ws_ || !open_) return;
  ws_->async_close(websocket::close_code::going_away, [](const boost::system::error_code&) {});
}

void bench_client::abort() {
  if (!ws_) return;
  boost::system::error_code ec;
  beast::get_lowest_layer(*ws_).close(ec);
}

void bench_client::send_text(std::string text) {
  if (!ws_ || !open_) return;
  auto owned = std::make_shared<std::string>(std::move(text));
  ws_->text(true);
  ws_->async_write(asio::buffer(*owned), [owned](const boost::system::error_code&, std::size_t) {});
}

}  // namespace herald::bench
