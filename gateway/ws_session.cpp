// ws_session, the socket: moving it to its shard, the handshake, the read loop (bytes into the
// ws::message_reader, its events handled), the write path (the send queue through the frame
// writer) and the close. The client's commands and the count live in ws_session_commands.cpp and
// ws_session_counts.cpp.
#include "gateway/ws_session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>

#include "gateway/state_events.hpp"
#include "gateway/ws_frame_writer.hpp"
#include "gateway/ws_framing.hpp"
#include "proto/server_frames.hpp"

namespace herald::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t read_chunk = 1024;               // bytes read at a time
constexpr int reads_per_turn = 16;                     // then let other sessions of the shard run
constexpr auto close_grace = std::chrono::seconds(1);  // for the close handshake to finish

cm::outgoing control(std::uint8_t opcode, std::string payload) {
  cm::outgoing o;
  o.body = std::make_shared<const std::string>(std::move(payload));
  o.opcode = opcode;
  return o;
}

}  // namespace

std::int64_t ws_session::now_s() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

void ws_session::launch(session_services& svc, tcp::socket socket, request req, identity who,
                        std::optional<std::uint64_t> since, std::string pending,
                        std::optional<std::uint64_t> changes_since) {
  const std::size_t shard = svc.registry().shard_for(who.user_id);
  auto& target = svc.registry().context(shard);
  // Sessions of one user share a shard: the connection moves to that shard's io_context, into
  // a socket bound to that context's own executor (smaller than the polymorphic one).
  ws_socket moved(target);
  boost::system::error_code ec;
  const auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return;
  const int fd = socket.release(ec);
  if (ec || fd < 0) return;
  moved.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  auto s = std::make_shared<ws_session>(svc, std::move(moved), std::move(who));
  if (!pending.empty()) {
    // Frames sent in the same TCP segment as the upgrade request are the first input.
    const std::size_t n = std::min(pending.size(), s->reader_.buffer_limit());
    auto room = s->reader_.prepare(n);
    const std::size_t take = std::min(n, room.size());
    std::memcpy(room.data(), pending.data(), take);
    s->reader_.commit(take);
  }
  asio::post(target, [s, req = std::move(req), since, changes_since]() mutable {
    s->accept(std::move(req), since, changes_since);
  });
}

ws_session::ws_session(session_services& svc, ws_socket socket, identity who)
    : cm::session(who.user_id, std::move(who.groups)),
      svc_(svc),
      sock_(std::move(socket)),
      reader_(svc.cfg().max_frame_bytes),
      queue_(svc.cfg().max_queue_bytes),
      tracker_(*this),
      life_(who.exp, now_s()) {
  svc_.session_opened();
}

ws_session::~ws_session() { svc_.session_closed(); }

persistence::viewer ws_session::viewer() const { return persistence::viewer{user_id(), groups()}; }

void ws_session::accept(request req, std::optional<std::uint64_t> since,
                        std::optional<std::uint64_t> changes_since) {
  // The request was checked by the HTTP session (method, upgrade, key, version, token).
  auto res = std::make_shared<std::string>(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Server: herald\r\nSec-WebSocket-Accept: ");
  *res += ws::accept_key(req[http::field::sec_websocket_key]);
  *res += "\r\n\r\n";
  asio::async_write(
      sock_, asio::buffer(*res),
      [self = shared_from_this(), res, since, changes_since](beast::error_code ec, std::size_t) {
        self->on_accept(ec, since, changes_since);
      });
}

void ws_session::on_accept(beast::error_code ec, std::optional<std::uint64_t> since,
                           std::optional<std::uint64_t> changes_since) {
  if (ec) return;  // the client went away during the handshake
  beast::error_code nb;
  sock_.non_blocking(true, nb);  // reads and writes never block the shard
  life_.heard(now_s());
  phase_ = phase::open;
  if (svc_.draining()) {
    close_with(ws::close_code::going_away, "server shutting down");
    wait_readable();
    return;
  }
  svc_.registry().add(*this);
  registered_ = true;
  svc_.user_presence(viewer(), true);  // webhooks: user.online / user.offline
  ++svc_.stats().connections;
  ++svc_.stats().connections_total;
  load_initial(since, changes_since);
  if (reader_.pending() > 0) {
    on_readable();  // frames that came with the upgrade request
  } else {
    wait_readable();
  }
}

// ---- reading

void ws_session::wait_readable() {
  // An idle connection holds no read buffer and no read operation: only a wait for data.
  if (read_waiting_ || stop_reading_ || phase_ == phase::finished) return;
  read_waiting_ = true;
  sock_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
    self->read_waiting_ = false;
    if (ec) {
      self->finish();
      return;
    }
    self->on_readable();
  });
}

void ws_session::on_readable() {
  if (!drain_reader()) return;
  for (int turn = 0; turn < reads_per_turn; ++turn) {
    auto room = reader_.prepare(read_chunk);
    beast::error_code ec;
    const std::size_t n = sock_.read_some(asio::buffer(room.data(), room.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      shutdown_now();
      return;
    }
    reader_.commit(n);
    life_.heard(now_s());
    if (!drain_reader()) return;
    if (turn + 1 == reads_per_turn) {
      asio::post(sock_.get_executor(), [self = shared_from_this()] { self->on_readable(); });
      return;
    }
  }
  reader_.compact();
  wait_readable();
}

bool ws_session::drain_reader() {
  using kind = ws::message_reader::kind;
  while (!stop_reading_ && phase_ != phase::finished) {
    if (commands_in_flight_ >= svc_.cfg().max_commands_in_flight) {
      // Backpressure: what this client sent stays in its socket until its commands finish.
      if (!read_paused_) ++svc_.stats().ws_commands_throttled;
      read_paused_ = true;
      return false;
    }
    const auto e = reader_.next();
    switch (e.what) {
      case kind::none:
        return true;
      case kind::error:
        protocol_error(e.code, e.reason);
        return false;
      case kind::close:
        peer_closed_ = true;
        if (close_sent_) {
          shutdown_now();
          return false;
        }
        close_with(e.code == 1005 ? ws::close_code::normal : e.code, "");
        break;
      case kind::ping:
        if (!closing()) enqueue(control(ws::pong, std::string(e.payload)));
        break;
      case kind::pong:
        break;
      case kind::message:
        if (!closing()) handle_message(e.opcode, e.payload);
        break;
    }
  }
  return false;
}

void ws_session::protocol_error(std::uint16_t code, const char* reason) {
  // The close frame goes out; what the client still sends is read and dropped until it is
  // written (a lingering close), so that an unread byte does not make the kernel reset the
  // connection before the close frame arrives.
  ++svc_.stats().ws_protocol_closes;
  stop_reading_ = true;
  close_with(code, reason);
  auto self = shared_from_this();
  auto discard = std::make_shared<std::function<void()>>();
  *discard = [self, discard] {
    self->sock_.async_wait(tcp::socket::wait_read, [self, discard](beast::error_code ec) {
      if (ec || self->phase_ == phase::finished) {
        *discard = nullptr;
        if (!ec) return;
        self->finish();
        return;
      }
      std::array<char, 1024> sink;
      beast::error_code rec;
      for (int i = 0; i < 64; ++i) {
        const std::size_t n = self->sock_.read_some(asio::buffer(sink), rec);
        if (rec || n == 0) break;
      }
      if (rec && rec != asio::error::would_block && rec != asio::error::try_again) {
        *discard = nullptr;
        self->shutdown_now();
        return;
      }
      (*discard)();
    });
  };
  (*discard)();
}

// ---- writing

void ws_session::on_frame(const std::shared_ptr<const std::string>& frame) {
  if (closing()) return;
  cm::outgoing o;
  o.body = frame;
  enqueue(std::move(o));
}

void ws_session::on_state(const std::shared_ptr<const std::string>& frame, std::uint64_t seq,
                          const std::string& audience) {
  if (closing()) return;
  if (state_visible(audience, groups())) on_frame(frame);
  tracker_.on_state(seq);
}

void ws_session::send_frame(std::string frame) {
  cm::outgoing o;
  o.body = std::make_shared<const std::string>(std::move(frame));
  enqueue(std::move(o));
}

void ws_session::send_error(std::string_view code, std::string_view message) {
  send_frame(proto::encode_error_frame(code, message));
}

void ws_session::enqueue(cm::outgoing o) {
  if (closing()) return;
  if (!queue_.push(std::move(o))) {
    ++svc_.stats().slow_client_closes;
    close_with(ws::close_code::try_again_later, "client too slow");
    return;
  }
  if (!waiting_writable_) flush();
}

void ws_session::flush() {
  const auto r = writer_.write(sock_, queue_);
  if (ws_frame_writer::tally_due()) ws_frame_writer::fold_tally(svc_.stats());
  switch (r) {
    case ws_frame_writer::result::blocked:
      wait_writable();
      return;
    case ws_frame_writer::result::failed:  // the peer is gone
      shutdown_now();
      return;
    case ws_frame_writer::result::done:
      break;
  }
  if (writer_.close_sent()) close_sent_ = true;
  // The close frame is out: once the client answered, we are done. After a protocol error the
  // sending side closes and the rest of what the client sends is drained until it hangs up
  // (or the close timer fires), so the close frame is not lost to a reset.
  if (close_sent_ && peer_closed_) {
    shutdown_now();
  } else if (close_sent_ && stop_reading_) {
    beast::error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_send, ignored);
  }
}

void ws_session::wait_writable() {
  waiting_writable_ = true;
  sock_.async_wait(tcp::socket::wait_write, [self = shared_from_this()](beast::error_code ec) {
    self->waiting_writable_ = false;
    if (ec || self->phase_ == phase::finished) return;
    self->flush();
  });
}

void ws_session::on_tick(std::int64_t now_s) {
  ws_frame_writer::fold_tally(svc_.stats());
  if (closing()) return;
  tracker_.on_tick();
  const auto& c = svc_.cfg();
  const auto due = life_.tick(now_s, {static_cast<std::int64_t>(c.token_refresh_window_s),
                                      static_cast<std::int64_t>(c.ping_interval_s),
                                      static_cast<std::int64_t>(c.pong_timeout_s)});
  // The connection lives as long as its token: a warning ahead of exp, then 4001.
  if (due.expired) {
    ++svc_.stats().ws_tokens_expired;
    close_with(ws::close_code::token_expired, "token expired");
    return;
  }
  if (due.warn) send_frame(proto::encode_token_expiring(life_.exp()));
  if (due.cut) {
    shutdown_now();
    return;
  }
  if (!due.ping) return;
  static const auto empty = std::make_shared<const std::string>();
  cm::outgoing o;
  o.body = empty;
  o.opcode = ws::ping;
  enqueue(std::move(o));
}

void ws_session::close_with(std::uint16_t code, const char* reason) {
  if (closing()) return;
  phase_ = phase::closing;
  // Frames not yet on the wire are dropped; a frame partly written is finished first, so that
  // the close frame does not land inside it.
  if (writer_.mid_frame()) {
    cm::outgoing keep = std::move(queue_.front());
    queue_.clear();
    queue_.push(std::move(keep));
    queue_.set_in_flight(true);
  } else {
    queue_.clear();
  }
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(reason, std::min<std::size_t>(std::strlen(reason), 120));
  queue_.push(control(ws::close, std::move(payload)));
  // A client that reads nothing never lets the close frame out, and one that never answers it
  // keeps the connection: cut it after a grace period either way.
  // (This replaces a settle timer still pending: its wait ends with operation_aborted.)
  timer_ = std::make_unique<asio::steady_timer>(sock_.get_executor(), close_grace);
  timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->shutdown_now();
  });
  if (!waiting_writable_) flush();
}

void ws_session::shutdown_now() {
  if (phase_ == phase::finished) return;
  if (phase_ != phase::closing) phase_ = phase::closing;
  beast::error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_both, ignored);
  sock_.close(ignored);  // a pending wait fails and runs finish()
  // Finish never synchronously: this may run inside a registry delivery or tick, which must
  // not see the session unregister.
  asio::post(sock_.get_executor(), [self = shared_from_this()] { self->finish(); });
}

void ws_session::finish() {
  if (phase_ == phase::finished) return;
  phase_ = phase::finished;
  ws_frame_writer::fold_tally(svc_.stats());
  if (registered_) {
    svc_.registry().remove(*this);
    registered_ = false;
    svc_.user_presence(viewer(), false);
    --svc_.stats().connections;
  }
  if (timer_) timer_->cancel();
  beast::error_code ignored;
  sock_.close(ignored);
  queue_.clear();
}

}  // namespace herald::gateway
