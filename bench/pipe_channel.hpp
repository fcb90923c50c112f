// One JSON object per line over a pair of pipe descriptors: how the bench parent and its worker
// processes talk. Thread safety: use from the thread running the executor only.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace herald::bench {

class pipe_channel {
 public:
  pipe_channel(boost::asio::any_io_executor ex, int read_fd, int write_fd);
  ~pipe_channel();
  pipe_channel(const pipe_channel&) = delete;
  pipe_channel& operator=(const pipe_channel&) = delete;

  // The next message, or nullopt when the other end closed.
  boost::asio::awaitable<std::optional<nlohmann::json>> read();
  // Writes one message; blocks until the pipe took all of it.
  void send(const nlohmann::json& message);

 private:
  boost::asio::posix::stream_descriptor in_;
  int out_fd_;
  std::string pending_;
};

}  // namespace herald::bench
