// One browser WebSocket: the owner of its socket, composing the units that hold Herald's
// guarantees: ws::message_reader (the read side of RFC 6455), unread_tracker (the count the
// client shows and which notifications it may still get), inbox_commands (the client's
// read/delete/read-all), connection_lifetime (its token's exp and the keep-alive),
// session_reads (what it sends from the store) and a cm::send_queue with a byte cap (past it: close
// 1013). Lives on its user's shard thread; the registry calls its on_*() there, and every other
// thread reaches it by posting to that shard.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <string>

#include "connection_manager/send_queue.hpp"
#include "connection_manager/session.hpp"
#include "gateway/connection_lifetime.hpp"
#include "gateway/http_types.hpp"
#include "gateway/session_services.hpp"
#include "gateway/token_verifier.hpp"
#include "gateway/unread_tracker.hpp"
#include "gateway/ws_frame_writer.hpp"
#include "gateway/ws_message_reader.hpp"
#include "persistence/store.hpp"
#include "proto/client_frame.hpp"

namespace herald::gateway {

class ws_session final : public cm::session,
                         public std::enable_shared_from_this<ws_session>,
                         private unread_tracker::actions {
 public:
  // Moves the socket to the user's shard and completes the upgrade there. `pending` holds
  // bytes the client sent after the upgrade request (its first frames).
  static void launch(session_services& svc, boost::asio::ip::tcp::socket socket, request req,
                     identity who, std::optional<std::uint64_t> since, std::string pending,
                     std::optional<std::uint64_t> changes_since = std::nullopt);

  ws_session(session_services& svc, ws_socket socket, identity who);
  ~ws_session() override;

  void on_notification(std::uint64_t id, const std::shared_ptr<const std::string>& prefix) override;
  void on_frame(const std::shared_ptr<const std::string>& frame) override;
  // A state frame: sent when this connection can see its item; its seq frees held counts.
  void on_state(const std::shared_ptr<const std::string>& frame, std::uint64_t seq,
                const std::string& audience) override;
  void on_count_changed() override;
  void close_with(std::uint16_t code, const char* reason) override;
  void on_tick(std::int64_t now_s) override;
  // After a bus outage: the items this connection may have missed, in order, then the count.
  void on_resync() override;
  // The bus is down: live arrivals go out through the store until on_bus_back.
  void on_bus_lost() override;
  void on_bus_back() override;

 private:
  enum class phase : std::uint8_t {
    handshake,  // writing the 101 answer
    open,       // registered; reading frames (the tracker knows whether the count is loaded)
    closing,    // our close frame is queued: waiting for it to go out and for the peer's
    finished,   // unregistered, socket closed
  };

  // `changes_since`: the seq after which the initial sync lists changes (state events).
  void accept(request req, std::optional<std::uint64_t> since,
              std::optional<std::uint64_t> changes_since);
  void on_accept(boost::beast::error_code ec, std::optional<std::uint64_t> since,
                 std::optional<std::uint64_t> changes_since);
  void load_initial(std::optional<std::uint64_t> since, std::optional<std::uint64_t> changes_since);
  void initial_loaded(std::optional<std::uint64_t> since, const persistence::unread_result& count);

  // Reading (ws_session.cpp) and the client's commands (ws_session_commands.cpp).
  void wait_readable();
  void on_readable();
  bool drain_reader();  // handles complete events; false when reading must stop
  void handle_message(std::uint8_t op, std::string_view text);
  void handle_command(const proto::client_frame& f);
  void refresh(const std::string& token);
  void command_started();
  void command_finished();
  void protocol_error(std::uint16_t code, const char* reason);

  // The count (ws_session_counts.cpp): the tracker's actions.
  void send_count(std::int64_t unread) override;
  void send_notification(std::uint64_t id, const std::shared_ptr<const std::string>& prefix,
                         std::int64_t unread) override;
  void start_recount() override;
  void start_resync(std::uint64_t from) override;

  // Writing.
  void send_frame(std::string frame);  // a whole text frame
  void send_error(std::string_view code, std::string_view message);
  void enqueue(cm::outgoing o);
  void flush();
  void wait_writable();

  void shutdown_now();
  void finish();
  persistence::viewer viewer() const;
  static std::int64_t now_s();  // wall clock, in the seconds of a token's exp
  bool closing() const { return phase_ == phase::closing || phase_ == phase::finished; }

  session_services& svc_;
  ws_socket sock_;
  ws::message_reader reader_;
  cm::send_queue queue_;
  ws_frame_writer writer_;
  unread_tracker tracker_;
  // The cluster's settle recount after connect, then (replacing it) the close grace period.
  std::unique_ptr<boost::asio::steady_timer> timer_;
  connection_lifetime life_;  // the token's exp and the keep-alive
  std::uint16_t commands_in_flight_ = 0;
  phase phase_ = phase::handshake;
  bool registered_ : 1 = false;
  bool read_waiting_ : 1 = false;  // an async wait for readability is pending
  bool read_paused_ : 1 = false;   // commands in flight at the cap: the socket is not read
  bool stop_reading_ : 1 = false;  // the peer broke the protocol
  bool waiting_writable_ : 1 = false;
  bool close_sent_ : 1 = false;
  bool peer_closed_ : 1 = false;
};

}  // namespace herald::gateway
