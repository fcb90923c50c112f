// Group commit for notify requests: requests queue up while a batch is being written, and the
// next batch takes all of them (up to a cap) in one transaction. Each request is answered only
// after its batch commits. One writer thread with its own connection. The queue is bounded (past
// it, a request is refused at once) and each request has a deadline from submission: one still
// queued then is answered timed_out and never written; one whose batch is running is answered
// in_doubt (it may commit later). submit() is thread-safe.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "persistence/call_deadline.hpp"
#include "persistence/store.hpp"
#include "persistence/store_pool.hpp"

namespace herald::persistence {

class notify_writer {
 public:
  using done_fn = std::function<void(outcome<insert_result>)>;

  // max_queue: requests waiting for a batch before submit() refuses (overloaded); timeout: each
  // request's deadline (zero: none).
  notify_writer(std::string url, std::size_t max_batch = 512, std::size_t max_queue = 4096,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  ~notify_writer();  // finishes queued requests, then joins
  notify_writer(const notify_writer&) = delete;
  notify_writer& operator=(const notify_writer&) = delete;

  // Queues r for the next batch; `done` runs on `ex` once: when the batch committed, or when it
  // failed (outcome.unavailable set; outcome.why says whether nothing was stored or, for
  // in_doubt, whether that is unknown).
  void submit(insert_request r, boost::asio::any_io_executor ex, done_fn done);
  void stop();
  // Called on the writer thread after each batch: true when it committed, false when the store
  // could not write (failure::full). For the store's readiness.
  void set_write_observer(std::function<void(bool committed)> f);
  // Posts `f` to `ex` once every batch taken so far has been answered (at once when none is
  // being written): on the executor the answers went to, it runs after them. Batches taken
  // later lock the id sequence after this call, so they only hold higher ids than any item
  // committed before it (the cluster's order fence, gateway/event_sequencer.hpp).
  void after_taken(boost::asio::any_io_executor ex, std::function<void()> f);

  // Counters (the server's /metrics shows them).
  std::uint64_t batches_written() const;
  std::uint64_t rows_written() const;
  std::uint64_t refused() const;    // overloaded: the queue was full
  std::uint64_t timed_out() const;  // answered at their deadline

 private:
  struct impl;
  using call = call_queue<insert_request, insert_result>::call;
  void run();
  void write(std::vector<call>& batch);
  std::optional<bool> resolve(const std::string& token);
  std::unique_ptr<impl> impl_;
};

}  // namespace herald::persistence
