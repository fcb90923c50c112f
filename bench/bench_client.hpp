// One benchmark WebSocket connection: connects from a chosen 127.0.0.x source address, reads
// frames and hands them to its sink, and keeps the per-phase tallies the worker checks.
// Thread safety: lives on its worker's single-threaded io_context.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::bench {

class bench_client;

// Receives what a client sees; implemented by the worker.
class client_sink {
 public:
  virtual ~client_sink() = default;
  virtual void on_frame(bench_client& client, std::string_view text) = 0;
  // The connection ended (or never opened); `ec` says why.
  virtual void on_closed(bench_client& client, const boost::system::error_code& ec) = 0;
};

class bench_client {
 public:
  bench_client(std::uint32_t index, std::uint64_t user_id, std::uint32_t user_index);

  // Connects, upgrades and reads until the connection ends. One run at a time.
  boost::asio::awaitable<void> run(client_sink& sink, boost::asio::ip::tcp::endpoint server,
                                   boost::asio::ip::address_v4 source, std::string host,
                                   std::string target);
  // Starts a close handshake (1001 going away); the read loop then ends.
  void close();
  // Drops the TCP connection at once.
  void abort();
  // Sends one text frame (the caller keeps at most one in flight).
  void send_text(std::string text);
  bool open() const { return open_; }

  std::uint32_t index() const { return index_; }
  std::uint64_t user_id() const { return user_id_; }
  std::uint32_t user_index() const { return user_index_; }

  // Per-phase tallies, reset by the worker.
  bool ready = false;     // got its first count frame since connecting
  bool counted = false;   // the worker already counted this connect attempt as done
  std::uint32_t got = 0;  // measured deliveries this phase
  std::uint32_t bad = 0;  // out-of-order or duplicate deliveries this phase
  std::int64_t last_seq = 0;
  std::int64_t seq_sum = 0;
  bool sync_done = false;
  std::vector<std::int64_t> synced_ids;

 private:
  using ws_stream = boost::beast::websocket::stream<boost::asio::ip::tcp::socket>;

  std::uint32_t index_;
  std::uint64_t user_id_;
  std::uint32_t user_index_;
  std::optional<ws_stream> ws_;
  bool open_ = false;
};

}  // namespace herald::bench
