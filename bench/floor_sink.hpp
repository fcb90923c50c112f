// The receiving end of the floor scenario: accepts plain TCP connections and reports when every
// one of them has received round r of fixed-size frames. Thread safety: one io_context thread.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

namespace herald::bench {

class floor_sink {
 public:
  using reporter = std::function<void(nlohmann::json)>;

  floor_sink(boost::asio::io_context& io, int sockets, std::size_t frame_len, reporter report);
  ~floor_sink();

  // Listens on an ephemeral loopback port and returns it; accepting starts at once.
  std::uint16_t listen();
  void stop();

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> read_loop(std::shared_ptr<boost::asio::ip::tcp::socket> socket);

  boost::asio::io_context& io_;
  int expected_;
  std::size_t frame_len_;
  reporter report_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::map<std::int64_t, int> arrivals_;
};

}  // namespace herald::bench
