// One browser WebSocket. Lives on its user's shard thread; the registry calls its on_*()
// there, and every other thread reaches it by posting to that shard. Keeps the connection's
// unread count (from the store at connect, then from events), one write in flight, and a send
// queue with a byte cap (past it: close 1013).
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <vector>

#include "connection_manager/send_queue.hpp"
#include "connection_manager/session.hpp"
#include "gateway/http_types.hpp"
#include "gateway/token_verifier.hpp"
#include "gateway/ws_framing.hpp"
#include "persistence/store.hpp"

namespace herald::gateway {

class server;

class ws_session final : public cm::session, public std::enable_shared_from_this<ws_session> {
 public:
  // Moves the socket to the user's shard and completes the upgrade there.
  static void launch(server& srv, boost::asio::ip::tcp::socket socket, request req, identity who,
                     std::optional<std::uint64_t> since);

  ws_session(server& srv, boost::asio::ip::tcp::socket socket, identity who);
  ~ws_session() override;

  void on_notification(std::uint64_t id, const std::shared_ptr<const std::string>& prefix) override;
  void on_frame(const std::shared_ptr<const std::string>& frame) override;
  void on_count_changed() override;
  void close_with(std::uint16_t code, const char* reason) override;
  void on_tick(std::int64_t now_s) override;

 private:
  void accept(request req, std::optional<std::uint64_t> since);
  void on_accept(boost::beast::error_code ec, std::optional<std::uint64_t> since);
  void load_initial(std::optional<std::uint64_t> since);
  // The count (and with `since` the missed items) arrived: sync, count, then what came early.
  void initial_loaded(std::optional<std::uint64_t> since, const persistence::unread_result& count,
                      std::vector<proto::notification>& items);
  void store_unavailable();  // closes with 1013
  void read();
  void on_readable();
  bool parse_frames();
  bool on_client_frame(const ws::client_frame& f);
  void handle_message(std::uint8_t op, std::string_view text);
  void protocol_error(std::uint16_t code, const char* reason);
  void shutdown_now();
  void handle_frame(std::string_view text);
  void send_error(std::string_view code, std::string_view message);
  void send_count();
  void recount();
  void enqueue(cm::outgoing o, bool is_count);
  void flush();
  void wait_writable();
  void finish();
  persistence::viewer viewer() const;

  server& srv_;
  boost::asio::ip::tcp::socket sock_;
  std::vector<std::uint8_t> rbuf_;  // unparsed bytes from the client; empty while idle
  std::size_t rlen_ = 0;
  std::string msg_;                 // a fragmented message being assembled
  cm::send_queue queue_;
  std::unique_ptr<boost::asio::steady_timer> close_timer_;
  std::unique_ptr<boost::asio::steady_timer> settle_timer_;  // cluster: recount after connect
  // Notifications that arrived before the initial count (or during a recount): their ids.
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const std::string>>> early_;
  std::vector<std::uint64_t> during_recount_;
  std::size_t partial_ = 0;        // bytes of the front frame already written
  std::int64_t last_rx_s_ = 0;
  std::int64_t ping_sent_s_ = 0;     // when the client last sent anything (epoch seconds)
  std::int64_t unread_ = 0;
  std::int64_t last_sent_unread_ = -1;
  std::uint64_t watermark_ = 0;  // highest id the count includes
  bool ready_ = false;           // initial sync and count sent
  bool registered_ = false;
  bool recounting_ = false;
  bool recount_again_ = false;
  bool count_dirty_ = false;  // a change arrived before the initial count was sent
  bool closing_ = false;
  bool finished_ = false;
  bool waiting_writable_ = false;
  bool reading_ = false;
  bool in_message_ = false;
  std::uint8_t msg_op_ = 0;
  bool close_sent_ = false;
  bool peer_closed_ = false;
  bool stop_reading_ = false;
  bool ping_outstanding_ = false;
};

}  // namespace herald::gateway
