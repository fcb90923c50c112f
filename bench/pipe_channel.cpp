#include "bench/pipe_channel.hpp"

#include <unistd.h>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <stdexcept>

namespace herald::bench {

namespace asio = boost::asio;

pipe_channel::pipe_channel(asio::any_io_executor ex, int read_fd, int write_fd)
    : in_(ex, read_fd), out_fd_(write_fd) {}

pipe_channel::~pipe_channel() {
  if (out_fd_ >= 0) ::close(out_fd_);
}

asio::awaitable<std::optional<nlohmann::json>> pipe_channel::read() {
  boost::system::error_code ec;
  const std::size_t n = co_await asio::async_read_until(
      in_, asio::dynamic_buffer(pending_), '\n', asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return std::nullopt;
  auto message = nlohmann::json::parse(pending_.substr(0, n - 1));
  pending_.erase(0, n);
  co_return message;
}

void pipe_channel::send(const nlohmann::json& message) {
  const std::string line = message.dump() + "\n";
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t w = ::write(out_fd_, line.data() + off, line.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("pipe write failed");
    }
    off += static_cast<std::size_t>(w);
  }
}

}  // namespace herald::bench
