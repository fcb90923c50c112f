#include "gateway/ws_session.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <span>

#include "gateway/server.hpp"
#include "proto/client_frame.hpp"
#include "proto/server_frames.hpp"

namespace herald::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t max_early = 256;
constexpr int sync_page = 100;
constexpr std::size_t read_step = 128;  // bytes reserved for a pending read

std::size_t frame_header_size(std::size_t len) { return len < 126 ? 2 : len <= 0xFFFF ? 4 : 10; }

const std::shared_ptr<const std::string>& count_prefix() {
  static const auto p = std::make_shared<const std::string>("{\"type\":\"count\"");
  return p;
}

cm::outgoing with_tail(std::shared_ptr<const std::string> body, std::int64_t unread) {
  cm::outgoing o;
  o.body = std::move(body);
  o.tail_len = static_cast<std::uint8_t>(proto::encode_notification_tail(unread, o.tail.data()));
  return o;
}

cm::outgoing whole(std::string frame) {
  cm::outgoing o;
  o.body = std::make_shared<const std::string>(std::move(frame));
  return o;
}

}  // namespace

void ws_session::launch(server& srv, tcp::socket socket, request req, identity who,
                        std::optional<std::uint64_t> since) {
  const std::size_t shard = srv.registry().shard_for(who.user_id);
  auto& target = srv.registry().context(shard);
  tcp::socket moved(target);
  if (&socket.get_executor().context() == &target) {
    moved = std::move(socket);
  } else {
    // Sessions of one user share a shard: move the connection to that shard's io_context.
    boost::system::error_code ec;
    const auto protocol = socket.local_endpoint(ec).protocol();
    const int fd = ec ? -1 : ::dup(socket.native_handle());
    socket.close(ec);
    if (fd < 0) return;
    moved.assign(protocol, fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
  }
  auto s = std::make_shared<ws_session>(srv, std::move(moved), std::move(who));
  asio::post(target, [s, req = std::move(req), since]() mutable { s->accept(std::move(req), since); });
}

ws_session::ws_session(server& srv, tcp::socket socket, identity who)
    : cm::session(who.user_id, std::move(who.groups)),
      srv_(srv),
      ws_(std::move(socket)),
      queue_(srv.cfg().max_queue_bytes) {
  srv_.session_opened();
}

ws_session::~ws_session() { srv_.session_closed(); }

persistence::viewer ws_session::viewer() const { return persistence::viewer{user_id(), groups()}; }

void ws_session::accept(request req, std::optional<std::uint64_t> since) {
  const auto& cfg = srv_.cfg();
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(10);
  // Keep-alive is on_tick()'s: Beast's own pings would write around the session's writes.
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  ws_.set_option(t);
  ws_.read_message_max(cfg.max_frame_bytes);
  ws_.auto_fragment(false);
  ws_.write_buffer_bytes(256);  // unused by an uncompressed server stream: keep it small
  // Any frame from the client (a pong included) counts as life.
  ws_.control_callback([this](websocket::frame_type, beast::string_view) {
    last_rx_s_ = server::now_ms() / 1000;
    ping_outstanding_ = false;
  });
  ws_.text(true);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "herald"); }));
  ws_.async_accept(req, [self = shared_from_this(), since](beast::error_code ec) { self->on_accept(ec, since); });
}

void ws_session::on_accept(beast::error_code ec, std::optional<std::uint64_t> since) {
  if (ec) return;  // the client went away during the handshake
  if (srv_.draining()) {
    close_with(1001, "server shutting down");
    read();
    return;
  }
  beast::error_code nb;
  beast::get_lowest_layer(ws_).non_blocking(true, nb);  // flush() writes without blocking
  last_rx_s_ = server::now_ms() / 1000;
  srv_.registry().add(*this);
  registered_ = true;
  ++srv_.stats().connections;
  ++srv_.stats().connections_total;
  read();
  load_initial(since);
}

void ws_session::load_initial(std::optional<std::uint64_t> since) {
  auto v = viewer();
  srv_.pool().submit(
      ws_.get_executor(),
      [v, since](persistence::store& st) {
        const auto now = server::now_ms();
        std::pair<persistence::unread_result, std::vector<proto::notification>> out;
        out.first = st.unread_count(v, now);
        if (since) out.second = st.list_since(v, *since, sync_page + 1, now);
        return out;
      },
      [self = shared_from_this(), since](auto out) {
        if (self->closing_) return;
        if (!out.ok()) {
          self->close_with(1013, "store unavailable, try again later");
          return;
        }
        auto& [count, items] = *out.value;
        if (since) {
          // Items past the count's snapshot arrive as notification frames instead.
          std::erase_if(items, [&](const proto::notification& n) { return n.id > count.watermark; });
          const bool more = items.size() > static_cast<std::size_t>(sync_page);
          if (more) items.resize(sync_page);
          self->enqueue(whole(proto::encode_sync(items, more)), false);
        }
        self->unread_ = count.unread;
        self->watermark_ = count.watermark;
        self->ready_ = true;
        self->send_count();
        auto early = std::move(self->early_);
        std::sort(early.begin(), early.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        if (early.size() >= max_early) {
          self->on_count_changed();  // some were dropped: the store knows the truth
        }
        for (auto& [id, prefix] : early) self->on_notification(id, prefix);
      });
}

void ws_session::read() {
  // Read in small steps: a whole-message read would reserve a frame-sized buffer (1.5 KB) for
  // every idle connection. Messages still end at read_message_max (1009 past it).
  ws_.async_read_some(rd_, read_step,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void ws_session::on_read(beast::error_code ec) {
  if (ec) {
    finish();
    return;
  }
  last_rx_s_ = server::now_ms() / 1000;
  ping_outstanding_ = false;
  if (!ws_.is_message_done()) {
    read();
    return;
  }
  if (!closing_) {
    const auto data = rd_.cdata();
    handle_frame(std::string_view(static_cast<const char*>(data.data()), data.size()));
  }
  rd_.consume(rd_.size());
  rd_.shrink_to_fit();  // idle connections keep no buffer
  read();
}

void ws_session::handle_frame(std::string_view text) {
  if (!ws_.got_text()) {
    send_error("invalid_frame", "frames must be JSON text");
    return;
  }
  auto parsed = proto::parse_client_frame(text);
  if (auto* err = std::get_if<proto::frame_error>(&parsed)) {
    send_error(err->code, err->message);
    return;
  }
  const auto f = std::get<proto::client_frame>(parsed);
  auto self = shared_from_this();
  auto v = viewer();
  auto& pool = srv_.pool();
  auto ex = ws_.get_executor();
  switch (f.type) {
    case proto::client_frame_type::ping:
      enqueue(whole(proto::encode_pong()), false);
      return;
    case proto::client_frame_type::read:
    case proto::client_frame_type::remove: {
      const bool is_read = f.type == proto::client_frame_type::read;
      pool.submit(
          ex,
          [v, id = f.id, is_read](persistence::store& st) {
            return is_read ? st.mark_read(v, id, server::now_ms()) : st.remove_for_user(v, id, server::now_ms());
          },
          [self, id = f.id](persistence::outcome<persistence::mark_result> out) {
            if (!out.ok()) {
              self->send_error("unavailable", "the store cannot be reached; retry later");
              return;
            }
            if (!out.value->found) {
              self->send_error("not_found", "no notification " + std::to_string(id));
              return;
            }
            if (out.value->changed) {
              cm::event e;
              e.type = cm::event_type::count_changed;
              e.target = cm::event_target::users;
              e.users = {self->user_id()};
              self->srv_.publish(e);
            }
          });
      return;
    }
    case proto::client_frame_type::read_all:
      pool.submit(
          ex, [v](persistence::store& st) { return st.mark_all_read(v, server::now_ms()); },
          [self](persistence::outcome<std::int64_t> out) {
            if (!out.ok()) {
              self->send_error("unavailable", "the store cannot be reached; retry later");
              return;
            }
            if (*out.value > 0) {
              cm::event e;
              e.type = cm::event_type::count_changed;
              e.target = cm::event_target::users;
              e.users = {self->user_id()};
              self->srv_.publish(e);
            }
          });
      return;
    case proto::client_frame_type::sync:
      pool.submit(
          ex, [v, since = f.since](persistence::store& st) {
            return st.list_since(v, since, sync_page + 1, server::now_ms());
          },
          [self](persistence::outcome<std::vector<proto::notification>> out) {
            if (!out.ok()) {
              self->send_error("unavailable", "the store cannot be reached; retry later");
              return;
            }
            auto& items = *out.value;
            const bool more = items.size() > static_cast<std::size_t>(sync_page);
            if (more) items.resize(sync_page);
            self->enqueue(whole(proto::encode_sync(items, more)), false);
          });
      return;
  }
}

void ws_session::send_error(std::string_view code, std::string_view message) {
  enqueue(whole(proto::encode_error_frame(code, message)), false);
}

void ws_session::send_count() {
  last_sent_unread_ = unread_;
  auto o = with_tail(count_prefix(), unread_);
  o.is_count = true;
  enqueue(std::move(o), true);
}

void ws_session::on_notification(std::uint64_t id, const std::shared_ptr<const std::string>& prefix) {
  if (closing_) return;
  if (!ready_) {
    if (early_.size() < max_early) early_.emplace_back(id, prefix);
    return;
  }
  if (recounting_ && during_recount_.size() < max_early) during_recount_.push_back(id);
  if (id > watermark_) ++unread_;
  last_sent_unread_ = unread_;
  enqueue(with_tail(prefix, unread_), false);
}

void ws_session::on_frame(const std::shared_ptr<const std::string>& frame) {
  if (closing_) return;
  cm::outgoing o;
  o.body = frame;
  enqueue(std::move(o), false);
}

void ws_session::on_count_changed() {
  if (closing_ || !ready_) return;  // not ready: the initial count is still to come
  if (recounting_) {
    recount_again_ = true;
    return;
  }
  recount();
}

void ws_session::recount() {
  recounting_ = true;
  recount_again_ = false;
  during_recount_.clear();
  auto v = viewer();
  srv_.pool().submit(
      ws_.get_executor(), [v](persistence::store& st) { return st.unread_count(v, server::now_ms()); },
      [self = shared_from_this()](persistence::outcome<persistence::unread_result> out) {
        self->recounting_ = false;
        if (self->closing_) return;
        if (!out.ok()) {
          // The store is down: the resync after it returns recounts every session.
          self->during_recount_.clear();
          return;
        }
        std::int64_t arrived_after = 0;
        for (auto id : self->during_recount_) arrived_after += id > out.value->watermark ? 1 : 0;
        const bool overflow = self->during_recount_.size() >= max_early;
        self->during_recount_.clear();
        self->unread_ = out.value->unread + arrived_after;
        self->watermark_ = std::max(self->watermark_, out.value->watermark);
        if (self->unread_ != self->last_sent_unread_) self->send_count();
        if (self->recount_again_ || overflow) self->recount();
      });
}

void ws_session::enqueue(cm::outgoing o, bool is_count) {
  if (closing_) return;
  const bool within = is_count ? queue_.push_count(std::move(o)) : queue_.push(std::move(o));
  if (!within) {
    ++srv_.stats().slow_client_closes;
    close_with(1013, "client too slow");
    return;
  }
  if (!waiting_writable_) flush();
}

namespace {

// A server-to-client frame header (FIN set, no mask); returns its length.
std::size_t frame_header(std::uint8_t opcode, std::size_t len, std::uint8_t* h) {
  h[0] = static_cast<std::uint8_t>(0x80 | opcode);
  if (len < 126) {
    h[1] = static_cast<std::uint8_t>(len);
    return 2;
  }
  if (len <= 0xFFFF) {
    h[1] = 126;
    h[2] = static_cast<std::uint8_t>(len >> 8);
    h[3] = static_cast<std::uint8_t>(len);
    return 4;
  }
  h[1] = 127;
  for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(len) >> (56 - 8 * i));
  return 10;
}

constexpr std::size_t max_batch_frames = 64;

}  // namespace

void ws_session::flush() {
  // Data frames are framed here and written straight to the socket: everything queued goes
  // out in one non-blocking gather write, with no operation allocated per frame. Only when the
  // kernel buffer is full does the session wait for the socket to become writable.
  auto& sock = beast::get_lowest_layer(ws_);
  while (!queue_.empty()) {
    std::array<std::array<std::uint8_t, 10>, max_batch_frames> headers;
    std::array<asio::const_buffer, max_batch_frames * 3> bufs;
    std::size_t nb = 0, frames = 0, total = 0, skip = partial_;
    for (std::size_t i = 0; i < queue_.size() && frames < max_batch_frames; ++i, ++frames) {
      const cm::outgoing& f = queue_.at(i);
      const std::uint8_t opcode = f.is_ping ? 0x9 : 0x1;
      const std::size_t hl = frame_header(opcode, f.size(), headers[frames].data());
      const asio::const_buffer parts[3] = {asio::buffer(headers[frames].data(), hl), asio::buffer(*f.body),
                                           asio::buffer(f.tail.data(), f.tail_len)};
      for (const auto& part : parts) {
        if (part.size() <= skip) {  // already on the wire (the front frame's written part)
          skip -= part.size();
          continue;
        }
        bufs[nb++] = part + skip;
        total += part.size() - skip;
        skip = 0;
      }
    }
    beast::error_code ec;
    const std::size_t n = sock.write_some(std::span<const asio::const_buffer>(bufs.data(), nb), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      wait_writable();
      return;
    }
    if (ec) {
      // The peer is gone: the read side sees it and finishes the session.
      queue_.clear();
      partial_ = 0;
      closing_ = true;
      sock.shutdown(tcp::socket::shutdown_both, ec);
      return;
    }
    srv_.stats().bytes_sent += n;
    std::size_t left = n + partial_;
    partial_ = 0;
    while (!queue_.empty()) {
      const std::size_t fs = queue_.front().size() + frame_header_size(queue_.front().size());
      if (left < fs) {
        partial_ = left;
        break;
      }
      left -= fs;
      queue_.pop_front();
      ++srv_.stats().frames_sent;
    }
    queue_.set_in_flight(partial_ > 0);
    if (n < total) {
      wait_writable();
      return;
    }
  }
  if (close_pending_) start_close();
}

void ws_session::wait_writable() {
  waiting_writable_ = true;
  beast::get_lowest_layer(ws_).async_wait(tcp::socket::wait_write,
                                          [self = shared_from_this()](beast::error_code ec) {
                                            self->waiting_writable_ = false;
                                            if (ec || self->finished_) return;
                                            self->flush();
                                          });
}

void ws_session::on_tick(std::int64_t now_s) {
  // Keep-alive: after ping_interval of silence a ping goes out; when nothing (not even the
  // pong) arrives within pong_timeout after it, the connection is dead: cut it.
  if (closing_) return;
  if (ping_outstanding_) {
    if (now_s - ping_sent_s_ >= static_cast<std::int64_t>(srv_.cfg().pong_timeout_s)) {
      beast::error_code ignored;
      closing_ = true;
      beast::get_lowest_layer(ws_).shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(ws_).close(ignored);
    }
    return;
  }
  if (now_s - last_rx_s_ < static_cast<std::int64_t>(srv_.cfg().ping_interval_s)) return;
  ping_outstanding_ = true;
  ping_sent_s_ = now_s;
  static const auto empty = std::make_shared<const std::string>();
  cm::outgoing o;
  o.body = empty;
  o.is_ping = true;
  enqueue(std::move(o), false);
}

void ws_session::close_with(std::uint16_t code, const char* reason) {
  if (closing_) return;
  closing_ = true;
  // Frames not yet on the wire are dropped; a frame partly written is finished first, so that
  // the close frame does not land inside it.
  if (partial_ > 0) {
    cm::outgoing keep = std::move(queue_.front());
    queue_.clear();
    queue_.push(std::move(keep));
    queue_.set_in_flight(true);
  } else {
    queue_.clear();
  }
  early_.clear();
  early_.shrink_to_fit();
  close_code_ = code;
  close_reason_ = reason;
  close_pending_ = true;
  if (queue_.empty()) start_close();
  // A client that reads nothing never lets the close frame out: cut the connection.
  close_timer_ = std::make_unique<asio::steady_timer>(ws_.get_executor(), std::chrono::seconds(1));
  close_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    beast::error_code ignored;
    beast::get_lowest_layer(self->ws_).shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(self->ws_).close(ignored);
  });
}

void ws_session::start_close() {
  close_pending_ = false;
  ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
                  [self = shared_from_this()](beast::error_code) {});
}

void ws_session::finish() {
  if (finished_) return;
  finished_ = true;
  closing_ = true;
  if (registered_) {
    srv_.registry().remove(*this);
    registered_ = false;
    --srv_.stats().connections;
  }
  if (close_timer_) close_timer_->cancel();
}

}  // namespace herald::gateway
