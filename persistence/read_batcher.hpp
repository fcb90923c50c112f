// Batched reads: unread counts and inbox pages queue up while the reader threads are busy, and a
// free reader takes up to `max_batch` of them and answers them with one statement (one snapshot,
// one round trip). Under load a database round trip, its statement overhead and the thread
// hand-offs are shared by a batch instead of paid per request; an idle reader takes a request at
// once, so a quiet server adds no wait. Each reader thread owns one store_connection (opened
// lazily, reopened after a failure). The queue is bounded (past it, a read is refused at once)
// and each read has a deadline from submission (see call_deadline.hpp). submit() is thread-safe.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "persistence/store.hpp"
#include "persistence/store_pool.hpp"

namespace herald::persistence {

class read_batcher {
 public:
  using done_fn = std::function<void(outcome<read_result>)>;
  using clock_fn = std::function<std::int64_t()>;  // wall clock in ms

  read_batcher(std::string url, unsigned readers, std::size_t max_batch, clock_fn clock,
               std::size_t max_queue = 4096,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  ~read_batcher();  // answers what is queued, then joins
  read_batcher(const read_batcher&) = delete;
  read_batcher& operator=(const read_batcher&) = delete;

  // Queues r; `done` runs on `ex` with its result, or with outcome.unavailable set when the
  // database could not be reached.
  void submit(read_request r, boost::asio::any_io_executor ex, done_fn done);
  void stop();

  // Counters (the server's /metrics shows them).
  std::uint64_t batches() const;
  std::uint64_t reads() const;
  std::uint64_t refused() const;    // overloaded: the queue was full
  std::uint64_t timed_out() const;  // answered at their deadline

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace herald::persistence
