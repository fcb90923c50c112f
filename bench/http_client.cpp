#include "bench/http_client.hpp"

#include "bench/process_probe.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

namespace herald::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

http_client::http_client(asio::any_io_executor ex, host_port server)
    : server_(std::move(server)), stream_(ex) {}

void http_client::close() {
  boost::system::error_code ec;
  stream_.socket().close(ec);
  connected_ = false;
  buffer_.clear();
}

asio::awaitable<http_result> http_client::request(http::verb method, std::string target,
                                                  std::string body, const std::string& bearer) {
  const bool reused = connected_;
  auto result = co_await attempt(method, target, body, bearer);
  if (result.status == 0 && reused)  // the server may have closed an idle keep-alive connection
    result = co_await attempt(method, target, body, bearer);
  co_return result;
}

asio::awaitable<http_result> http_client::attempt(http::verb method, const std::string& target,
                                                  const std::string& body,
                                                  const std::string& bearer) {
  http_result result;
  boost::system::error_code ec;
  const std::int64_t t0 = monotonic_ns();
  stream_.expires_after(std::chrono::seconds(30));
  if (!connected_) {
    const asio::ip::tcp::endpoint ep(asio::ip::make_address(server_.host), server_.port);
    co_await stream_.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      close();
      result.error = "connect: " + ec.message();
      co_return result;
    }
    stream_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
    connected_ = true;
  }
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, server_.host);
  req.keep_alive(true);
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  if (!body.empty() || method == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }
  co_await http::async_write(stream_, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    close();
    result.error = "write: " + ec.message();
    co_return result;
  }
  http::response<http::string_body> res;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  co_await http::async_read(stream_, buffer_, parser,
                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    close();
    result.error = "read: " + ec.message();
    co_return result;
  }
  res = parser.release();
  result.status = static_cast<int>(res.result_int());
  result.body = std::move(res.body());
  result.latency_ns = monotonic_ns() - t0;
  if (!res.keep_alive()) close();
  co_return result;
}

}  // namespace herald::bench
