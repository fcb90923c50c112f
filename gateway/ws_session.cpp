#include "gateway/ws_session.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <new>
#include <charconv>
#include <span>

#include "gateway/server.hpp"
#include "gateway/ws_framing.hpp"
#include "proto/client_frame.hpp"
#include "proto/server_frames.hpp"

namespace herald::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t max_early = 256;
constexpr int sync_page = 100;
constexpr std::size_t read_chunk = 1024;  // bytes read at a time
constexpr int reads_per_turn = 16;         // then let other sessions of the shard run

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
      sock_(std::move(socket)),
      queue_(srv.cfg().max_queue_bytes) {
  srv_.session_opened();
}

ws_session::~ws_session() { srv_.session_closed(); }

persistence::viewer ws_session::viewer() const { return persistence::viewer{user_id(), groups()}; }

void ws_session::accept(request req, std::optional<std::uint64_t> since) {
  // The request was checked by the HTTP session (method, upgrade, key, version, token).
  auto res = std::make_shared<std::string>(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Server: herald\r\nSec-WebSocket-Accept: ");
  *res += ws::accept_key(req[http::field::sec_websocket_key]);
  *res += "\r\n\r\n";
  asio::async_write(sock_, asio::buffer(*res), [self = shared_from_this(), res, since](beast::error_code ec, std::size_t) {
    self->on_accept(ec, since);
  });
}

void ws_session::on_accept(beast::error_code ec, std::optional<std::uint64_t> since) {
  if (ec) return;  // the client went away during the handshake
  beast::error_code nb;
  sock_.non_blocking(true, nb);  // reads and writes never block the shard
  last_rx_s_ = server::now_ms() / 1000;
  if (srv_.draining()) {
    close_with(1001, "server shutting down");
    read();
    return;
  }
  srv_.registry().add(*this);
  registered_ = true;
  ++srv_.stats().connections;
  ++srv_.stats().connections_total;
  read();
  load_initial(since);
}

void ws_session::load_initial(std::optional<std::uint64_t> since) {
  auto v = viewer();
  if (!since) {
    // A count alone goes through the read batcher with the other counts and pages.
    srv_.readers().submit(
        {v, std::nullopt}, sock_.get_executor(),
        [self = shared_from_this()](persistence::outcome<persistence::read_result> out) {
          if (self->closing_) return;
          if (!out.ok()) return self->store_unavailable();
          std::vector<proto::notification> none;
          self->initial_loaded(std::nullopt, out.value->counts, none);
        });
    return;
  }
  srv_.pool().submit(
      sock_.get_executor(),
      [v, since](persistence::store& st) {
        const auto now = server::now_ms();
        std::pair<persistence::unread_result, std::vector<proto::notification>> out;
        out.first = st.unread_count(v, now);
        out.second = st.list_since(v, *since, sync_page + 1, now);
        return out;
      },
      [self = shared_from_this(), since](auto out) {
        if (self->closing_) return;
        if (!out.ok()) return self->store_unavailable();
        self->initial_loaded(since, out.value->first, out.value->second);
      });
}

void ws_session::store_unavailable() { close_with(1013, "store unavailable, try again later"); }

void ws_session::initial_loaded(std::optional<std::uint64_t> since,
                                const persistence::unread_result& count,
                                std::vector<proto::notification>& items) {
  if (since) {
    // Items past the count's snapshot arrive as notification frames instead.
    std::erase_if(items, [&](const proto::notification& n) { return n.id > count.watermark; });
    const bool more = items.size() > static_cast<std::size_t>(sync_page);
    if (more) items.resize(sync_page);
    enqueue(whole(proto::encode_sync(items, more)), false);
  }
  unread_ = count.unread;
  watermark_ = count.watermark;
  ready_ = true;
  send_count();
  auto early = std::move(early_);
  std::sort(early.begin(), early.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (early.size() >= max_early) {
    on_count_changed();  // some were dropped: the store knows the truth
  }
  for (auto& [id, prefix] : early) {
    // With `since`, items the count includes are in this sync page or the next ones.
    if (since && id <= count.watermark) continue;
    on_notification(id, prefix);
  }
  if (count_dirty_) {
    count_dirty_ = false;
    on_count_changed();
  }
  if (srv_.presence()) {
    // In a cluster, events for a newly seen user reach this node only once its Redis
    // subscription is confirmed; one recount after that window makes the count true
    // even if an event fell into it (the item itself is in the inbox and next sync).
    settle_timer_ =
        std::make_unique<asio::steady_timer>(sock_.get_executor(), std::chrono::seconds(1));
    settle_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      self->settle_timer_.reset();
      if (!ec) self->on_count_changed();
    });
  }
}

void ws_session::read() {
  // An idle connection holds no read buffer and no read operation: only a wait for data.
  reading_ = true;
  sock_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
    self->reading_ = false;
    if (ec) {
      self->finish();
      return;
    }
    self->on_readable();
  });
}

void ws_session::on_readable() {
  const std::size_t limit = srv_.cfg().max_frame_bytes + 14 + read_chunk;
  for (int turn = 0; turn < reads_per_turn; ++turn) {
    if (rbuf_.size() < rlen_ + read_chunk) rbuf_.resize(std::min(limit, rlen_ + read_chunk));
    if (rlen_ == rbuf_.size()) {
      protocol_error(1009, "frame too large");  // unreachable: parsing refuses it first
      return;
    }
    beast::error_code ec;
    const std::size_t n = sock_.read_some(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {
      shutdown_now();
      return;
    }
    rlen_ += n;
    last_rx_s_ = server::now_ms() / 1000;
    ping_outstanding_ = false;
    if (!parse_frames()) return;
    if (turn + 1 == reads_per_turn) {
      asio::post(sock_.get_executor(), [self = shared_from_this()] { self->on_readable(); });
      return;
    }
  }
  if (rlen_ == 0) {
    rbuf_.clear();
    rbuf_.shrink_to_fit();  // idle connections keep no buffer
  }
  read();
}

bool ws_session::parse_frames() {
  std::size_t off = 0;
  bool go_on = true;
  while (go_on && off < rlen_) {
    ws::client_frame f;
    std::size_t used = 0;
    const std::size_t room = srv_.cfg().max_frame_bytes - std::min(msg_.size(), srv_.cfg().max_frame_bytes);
    const auto st = ws::parse_client_frame(rbuf_.data() + off, rlen_ - off, room, f, used);
    if (st == ws::parse_status::incomplete) break;
    if (st == ws::parse_status::too_big) {
      protocol_error(1009, "frame too large");
      return false;
    }
    if (st == ws::parse_status::protocol_error) {
      protocol_error(1002, "protocol error");
      return false;
    }
    off += used;
    go_on = on_client_frame(f);
  }
  if (!go_on) return false;
  if (off > 0) {
    std::memmove(rbuf_.data(), rbuf_.data() + off, rlen_ - off);
    rlen_ -= off;
  }
  return true;
}

bool ws_session::on_client_frame(const ws::client_frame& f) {
  const std::string_view payload(reinterpret_cast<const char*>(f.payload), f.size);
  switch (f.op) {
    case ws::close:
      peer_closed_ = true;
      if (close_sent_) {
        shutdown_now();
        return false;
      }
      if (!closing_) {
        std::uint16_t code = 1000;
        if (f.size == 1) {
          protocol_error(1002, "close frame with a one-byte payload");
          return false;
        }
        if (f.size >= 2) code = static_cast<std::uint16_t>((f.payload[0] << 8) | f.payload[1]);
        const bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                           (code >= 3000 && code <= 4999);
        if (!valid) {
          protocol_error(1002, "invalid close code");
          return false;
        }
        close_with(code, "");
      }
      return true;
    case ws::ping:
      if (!closing_) {
        cm::outgoing o;
        o.body = std::make_shared<const std::string>(payload);
        o.opcode = ws::pong;
        enqueue(std::move(o), false);
      }
      return true;
    case ws::pong:
      return true;
    case ws::continuation:
      if (!in_message_) {
        protocol_error(1002, "continuation without a message");
        return false;
      }
      msg_.append(payload);
      if (!f.fin) return true;
      in_message_ = false;
      if (!closing_) handle_message(msg_op_, msg_);
      msg_.clear();
      msg_.shrink_to_fit();
      return true;
    default:  // text or binary
      if (in_message_) {
        protocol_error(1002, "a new message inside a fragmented one");
        return false;
      }
      if (!f.fin) {
        in_message_ = true;
        msg_op_ = f.op;
        msg_.assign(payload);
        return true;
      }
      if (!closing_) handle_message(f.op, payload);
      return true;
  }
}

void ws_session::handle_message(std::uint8_t op, std::string_view text) {
  if (op != ws::text) {
    send_error("invalid_frame", "frames must be JSON text");
    return;
  }
  handle_frame(text);
}

void ws_session::protocol_error(std::uint16_t code, const char* reason) {
  // Nothing more is read from a stream that broke the protocol: the close frame goes out, and
  // the connection ends as soon as it is written (or by close_with's timer).
  stop_reading_ = true;
  close_with(code, reason);
}

void ws_session::handle_frame(std::string_view text) {
  auto parsed = proto::parse_client_frame(text);
  if (auto* err = std::get_if<proto::frame_error>(&parsed)) {
    send_error(err->code, err->message);
    return;
  }
  const auto f = std::get<proto::client_frame>(parsed);
  auto self = shared_from_this();
  auto v = viewer();
  auto& pool = srv_.pool();
  auto ex = sock_.get_executor();
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
            if (out.value->changed) self->srv_.user_count_changed(self->user_id());
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
            if (*out.value > 0) self->srv_.user_count_changed(self->user_id());
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
  if (closing_) return;
  if (!ready_) {
    // The initial count is in flight and may predate this change: recount once it is sent.
    count_dirty_ = true;
    return;
  }
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
  srv_.readers().submit(
      {v, std::nullopt}, sock_.get_executor(),
      [self = shared_from_this()](persistence::outcome<persistence::read_result> out) {
        self->recounting_ = false;
        if (self->closing_) return;
        if (!out.ok()) {
          // The store is down: the resync after it returns recounts every session.
          self->during_recount_.clear();
          return;
        }
        std::int64_t arrived_after = 0;
        const auto& count = out.value->counts;
        for (auto id : self->during_recount_) arrived_after += id > count.watermark ? 1 : 0;
        const bool overflow = self->during_recount_.size() >= max_early;
        self->during_recount_.clear();
        self->unread_ = count.unread + arrived_after;
        self->watermark_ = std::max(self->watermark_, count.watermark);
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

constexpr std::size_t max_batch_frames = 64;
constexpr std::size_t small_write = 1024;

// Written frames and bytes are tallied per I/O thread and folded into the shared counters every
// 64 writes and on every session's tick (each second): two contended atomic adds per write
// were a measurable part of a broadcast's cost per recipient.
struct write_tally {
  std::uint64_t frames = 0, bytes = 0, writes = 0;
};
thread_local write_tally tally;

void fold_tally(metrics& m) {
  if (tally.writes == 0) return;
  m.frames_sent.fetch_add(tally.frames, std::memory_order_relaxed);
  m.bytes_sent.fetch_add(tally.bytes, std::memory_order_relaxed);
  tally = {};
}

// Gather buffers for one write, left uninitialised: flush() constructs the ones it uses (a
// zeroed array of 192 buffers per write cost more than the framing itself).
union gather_buffers {
  gather_buffers() {}
  asio::const_buffer at[max_batch_frames * 3];
};

}  // namespace

void ws_session::flush() {
  // Data frames are framed here and written straight to the socket: everything queued goes
  // out in one non-blocking gather write, with no operation allocated per frame. Only when the
  // kernel buffer is full does the session wait for the socket to become writable.
  auto& sock = sock_;
  while (!queue_.empty()) {
    std::array<std::array<std::uint8_t, 10>, max_batch_frames> headers;
    gather_buffers bufs;
    std::size_t nb = 0, frames = 0, total = 0, skip = partial_;
    for (std::size_t i = 0; i < queue_.size() && frames < max_batch_frames; ++i, ++frames) {
      const cm::outgoing& f = queue_.at(i);
      const std::size_t hl = ws::server_header(f.opcode, f.size(), headers[frames].data());
      const asio::const_buffer parts[3] = {asio::buffer(headers[frames].data(), hl), asio::buffer(*f.body),
                                           asio::buffer(f.tail.data(), f.tail_len)};
      for (const auto& part : parts) {
        if (part.size() <= skip) {  // already on the wire (the front frame's written part)
          skip -= part.size();
          continue;
        }
        new (&bufs.at[nb++]) asio::const_buffer(part + skip);
        total += part.size() - skip;
        skip = 0;
      }
    }
    beast::error_code ec;
    std::size_t n = 0;
    if (total <= small_write && nb > 1) {
      // A small write (the common broadcast case: one frame of a few hundred bytes) goes out
      // as one contiguous send(): the kernel handles one buffer for less than a gather list.
      thread_local std::array<char, small_write> one;
      std::size_t at = 0;
      for (std::size_t i = 0; i < nb; ++i) {
        std::memcpy(one.data() + at, bufs.at[i].data(), bufs.at[i].size());
        at += bufs.at[i].size();
      }
      ssize_t r;
      do {
        r = ::send(sock.native_handle(), one.data(), total, MSG_NOSIGNAL);
      } while (r < 0 && errno == EINTR);
      if (r < 0) {
        ec = beast::error_code(errno, boost::system::system_category());
      } else {
        n = static_cast<std::size_t>(r);
      }
    } else {
      n = sock.write_some(std::span<const asio::const_buffer>(bufs.at, nb), ec);
    }
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      wait_writable();
      return;
    }
    if (ec) {
      // The peer is gone.
      queue_.clear();
      partial_ = 0;
      shutdown_now();
      return;
    }
    tally.bytes += n;
    std::size_t left = n + partial_;
    partial_ = 0;
    while (!queue_.empty()) {
      const std::size_t fs = queue_.front().size() + ws::server_header_size(queue_.front().size());
      if (left < fs) {
        partial_ = left;
        break;
      }
      left -= fs;
      if (queue_.front().opcode == ws::close) close_sent_ = true;
      queue_.pop_front();
      ++tally.frames;
    }
    queue_.set_in_flight(partial_ > 0);
    if (++tally.writes == 64) fold_tally(srv_.stats());
    if (n < total) {
      wait_writable();
      return;
    }
  }
  // The close frame is out: once the client answered (or broke the protocol), we are done.
  if (close_sent_ && (peer_closed_ || stop_reading_)) shutdown_now();
}

void ws_session::wait_writable() {
  waiting_writable_ = true;
  sock_.async_wait(tcp::socket::wait_write,
                                          [self = shared_from_this()](beast::error_code ec) {
                                            self->waiting_writable_ = false;
                                            if (ec || self->finished_) return;
                                            self->flush();
                                          });
}

void ws_session::on_tick(std::int64_t now_s) {
  fold_tally(srv_.stats());
  // Keep-alive: after ping_interval of silence a ping goes out; when nothing (not even the
  // pong) arrives within pong_timeout after it, the connection is dead: cut it.
  if (closing_) return;
  if (ping_outstanding_) {
    if (now_s - ping_sent_s_ >= static_cast<std::int64_t>(srv_.cfg().pong_timeout_s)) {
      shutdown_now();
    }
    return;
  }
  if (now_s - last_rx_s_ < static_cast<std::int64_t>(srv_.cfg().ping_interval_s)) return;
  ping_outstanding_ = true;
  ping_sent_s_ = now_s;
  static const auto empty = std::make_shared<const std::string>();
  cm::outgoing o;
  o.body = empty;
  o.opcode = ws::ping;
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
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(reason, std::min<std::size_t>(std::strlen(reason), 120));
  cm::outgoing o;
  o.body = std::make_shared<const std::string>(std::move(payload));
  o.opcode = ws::close;
  queue_.push(std::move(o));
  // A client that reads nothing never lets the close frame out, and one that never answers it
  // keeps the connection: cut it after a second either way.
  close_timer_ = std::make_unique<asio::steady_timer>(sock_.get_executor(), std::chrono::seconds(1));
  close_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->shutdown_now();
  });
  if (!waiting_writable_) flush();
}

void ws_session::shutdown_now() {
  closing_ = true;
  beast::error_code ignored;
  sock_.shutdown(tcp::socket::shutdown_both, ignored);
  sock_.close(ignored);  // a pending wait fails and runs finish()
  // Without a pending wait, finish here, but never synchronously: this may run inside a
  // registry delivery or tick, which must not see the session unregister.
  if (!reading_ && !finished_) asio::post(sock_.get_executor(), [self = shared_from_this()] { self->finish(); });
}

void ws_session::finish() {
  if (finished_) return;
  finished_ = true;
  fold_tally(srv_.stats());
  closing_ = true;
  if (registered_) {
    srv_.registry().remove(*this);
    registered_ = false;
    --srv_.stats().connections;
  }
  if (close_timer_) close_timer_->cancel();
  if (settle_timer_) settle_timer_->cancel();
  beast::error_code ignored;
  sock_.close(ignored);
  queue_.clear();
}

}  // namespace herald::gateway
