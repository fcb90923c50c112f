// A keep-alive HTTP/1.1 client for one connection: requests go one after another, the
// connection is reopened when the server closed it. Thread safety: one coroutine at a time.
#pragma once
#include "bench/bench_options.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <string>

namespace herald::bench {

struct http_result {
  int status = 0;  // 0 when no answer came
  std::string body;
  std::string error;  // transport error, when status is 0
  std::int64_t latency_ns = 0;
};

class http_client {
 public:
  http_client(boost::asio::any_io_executor ex, host_port server);

  boost::asio::awaitable<http_result> request(boost::beast::http::verb method, std::string target,
                                              std::string body, const std::string& bearer);
  void close();

 private:
  boost::asio::awaitable<http_result> attempt(boost::beast::http::verb method,
                                              const std::string& target, const std::string& body,
                                              const std::string& bearer);

  host_port server_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

}  // namespace herald::bench
