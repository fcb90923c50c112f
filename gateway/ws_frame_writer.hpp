// Writes a session's queued frames to its non-blocking socket: frames are framed in place and
// everything queued goes out in one gather write (or one send() of a copy when small), with no
// operation allocated per frame; a frame the kernel took only part of is finished first on the
// next call. Written frames and bytes are tallied per I/O thread. Not thread-safe: one
// session's thread.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>

#include "connection_manager/send_queue.hpp"
#include "gateway/metrics.hpp"

namespace herald::gateway {

// A WebSocket's socket: bound to its shard's io_context executor.
using ws_socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

class ws_frame_writer {
 public:
  enum class result {
    done,     // the queue is empty
    blocked,  // the kernel buffer is full: wait until the socket is writable, then call again
    failed,   // the peer is gone; the queue was cleared
  };
  result write(ws_socket& sock, cm::send_queue& q);
  // The front frame is partly on the wire (it must be finished before anything else).
  bool mid_frame() const { return partial_ > 0; }
  // A close frame went out whole.
  bool close_sent() const { return close_sent_; }
  // Adds this thread's tally of written frames and bytes to the metrics (each tick, and every
  // 64 writes: two contended atomic adds per write were a measurable part of a broadcast).
  static void fold_tally(metrics& m);
  static bool tally_due();

 private:
  // Bytes of the front frame already written (a frame is below 4 GiB: the send queue's cap).
  std::uint32_t partial_ = 0;
  bool close_sent_ = false;
};

}  // namespace herald::gateway
