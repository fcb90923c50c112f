// Group commit for notify requests: requests queue up while a batch is being written, and the
// next batch takes all of them (up to a cap) in one transaction. Each request is answered only
// after its batch commits. One writer thread with its own connection. submit() is thread-safe.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "persistence/store.hpp"
#include "persistence/store_pool.hpp"

namespace herald::persistence {

class notify_writer {
 public:
  using done_fn = std::function<void(outcome<insert_result>)>;

  notify_writer(std::string url, std::size_t max_batch = 512);
  ~notify_writer();  // finishes queued requests, then joins
  notify_writer(const notify_writer&) = delete;
  notify_writer& operator=(const notify_writer&) = delete;

  // Queues r for the next batch; `done` runs on `ex` once the batch committed (or failed: then
  // outcome.unavailable is set and nothing of it was stored).
  void submit(insert_request r, boost::asio::any_io_executor ex, done_fn done);
  void stop();

  // Counters for /metrics.
  std::uint64_t batches_written() const;
  std::uint64_t rows_written() const;

 private:
  struct pending;
  struct impl;
  void run();
  void write(std::deque<pending>& batch);
  std::optional<bool> resolve(const std::string& token);
  std::unique_ptr<impl> impl_;
};

}  // namespace herald::persistence
