#include "gateway/ws_frame_writer.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <new>
#include <span>

#include "gateway/ws_framing.hpp"

namespace herald::gateway {

namespace asio = boost::asio;

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

// Gather buffers for one write, left uninitialised: write() constructs the ones it uses (a
// zeroed array of 192 buffers per write cost more than the framing itself).
union gather_buffers {
  gather_buffers() {}
  asio::const_buffer at[max_batch_frames * 3];
};

}  // namespace

void ws_frame_writer::fold_tally(metrics& m) {
  if (tally.writes == 0) return;
  m.frames_sent.fetch_add(tally.frames, std::memory_order_relaxed);
  m.bytes_sent.fetch_add(tally.bytes, std::memory_order_relaxed);
  tally = {};
}

bool ws_frame_writer::tally_due() { return tally.writes >= 64; }

ws_frame_writer::result ws_frame_writer::write(ws_socket& sock, cm::send_queue& q) {
  // Data frames are framed here and written straight to the socket: everything queued goes
  // out in one non-blocking gather write, with no operation allocated per frame.
  while (!q.empty()) {
    std::array<std::array<std::uint8_t, 10>, max_batch_frames> headers;
    gather_buffers bufs;
    std::size_t nb = 0, frames = 0, total = 0, skip = partial_;
    for (std::size_t i = 0; i < q.size() && frames < max_batch_frames; ++i, ++frames) {
      const cm::outgoing& f = q.at(i);
      const std::size_t hl = ws::server_header(f.opcode, f.size(), headers[frames].data());
      const asio::const_buffer parts[3] = {asio::buffer(headers[frames].data(), hl),
                                           asio::buffer(*f.body),
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
    boost::system::error_code ec;
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
        ec = boost::system::error_code(errno, boost::system::system_category());
      } else {
        n = static_cast<std::size_t>(r);
      }
    } else {
      n = sock.write_some(std::span<const asio::const_buffer>(bufs.at, nb), ec);
    }
    if (ec == asio::error::would_block || ec == asio::error::try_again) return result::blocked;
    if (ec) {
      q.clear();
      partial_ = 0;
      return result::failed;
    }
    tally.bytes += n;
    std::size_t left = n + partial_;
    partial_ = 0;
    while (!q.empty()) {
      const std::size_t fs = q.front().size() + ws::server_header_size(q.front().size());
      if (left < fs) {
        partial_ = static_cast<std::uint32_t>(left);
        break;
      }
      left -= fs;
      if (q.front().opcode == ws::close) close_sent_ = true;
      q.pop_front();
      ++tally.frames;
    }
    q.set_in_flight(partial_ > 0);
    ++tally.writes;
    if (n < total) return result::blocked;
  }
  return result::done;
}

}  // namespace herald::gateway
