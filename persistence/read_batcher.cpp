#include "persistence/read_batcher.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace herald::persistence {
namespace {

struct pending {
  read_request request;
  boost::asio::any_io_executor ex;
  read_batcher::done_fn done;
};

void complete(pending& p, outcome<read_result> out) {
  boost::asio::post(
      p.ex, [done = std::move(p.done), out = std::move(out)]() mutable { done(std::move(out)); });
}

outcome<read_result> failed(const std::string& why, bool unavailable) {
  outcome<read_result> out;
  out.error = why;
  out.unavailable = unavailable;
  return out;
}

}  // namespace

struct read_batcher::impl {
  std::string url;
  std::size_t max_batch = 1;
  clock_fn clock;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<pending> queue;
  bool stopping = false;
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> reads{0};

  void run();
  void answer(std::unique_ptr<store>& db, std::chrono::steady_clock::time_point& last_used,
              std::vector<pending>& batch);
};

read_batcher::read_batcher(std::string url, unsigned readers, std::size_t max_batch, clock_fn clock)
    : impl_(std::make_unique<impl>()) {
  impl_->url = std::move(url);
  impl_->max_batch = max_batch == 0 ? 1 : max_batch;
  impl_->clock = std::move(clock);
  for (unsigned i = 0; i < (readers == 0 ? 1 : readers); ++i) {
    impl_->threads.emplace_back([this] { impl_->run(); });
  }
}

read_batcher::~read_batcher() { stop(); }

void read_batcher::submit(read_request r, boost::asio::any_io_executor ex, done_fn done) {
  pending p{std::move(r), std::move(ex), std::move(done)};
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->stopping) {
      impl_->queue.push_back(std::move(p));
      impl_->wake.notify_one();
      return;
    }
  }
  complete(p, failed("the store readers are stopped", true));
}

void read_batcher::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
}

std::uint64_t read_batcher::batches() const { return impl_->batches.load(); }
std::uint64_t read_batcher::reads() const { return impl_->reads.load(); }

void read_batcher::impl::run() {
  std::unique_ptr<store> db;  // this reader's connection
  std::chrono::steady_clock::time_point last_used;
  for (;;) {
    std::vector<pending> batch;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [this] { return stopping || !queue.empty(); });
      if (queue.empty()) return;  // stopping, and everything queued is answered
      while (!queue.empty() && batch.size() < max_batch) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    answer(db, last_used, batch);
  }
}

// A connection idle for a while may have died with a database restart: it is checked first, and
// a batch that fails on a connection that was not fresh is tried once more on a fresh one, so
// callers see "unavailable" only while the database is down. Any other error is retried read by
// read, so one bad read cannot sink the others.
void read_batcher::impl::answer(std::unique_ptr<store>& db,
                                std::chrono::steady_clock::time_point& last_used,
                                std::vector<pending>& batch) {
  std::vector<read_request> requests;
  requests.reserve(batch.size());
  for (const auto& p : batch) requests.push_back(p.request);
  std::vector<read_result> results;
  std::string error;
  bool unavailable = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = !db;
    try {
      const auto now = std::chrono::steady_clock::now();
      if (db && now - last_used > std::chrono::seconds(1)) {
        try {
          db->ping();
        } catch (const std::exception&) {
          db.reset();
          fresh = true;
        }
      }
      if (!db) db = open_store(url);
      last_used = now;
      results = db->read_batch(requests, clock());
      error.clear();
      break;
    } catch (const store_unavailable& e) {
      db.reset();
      error = e.what();
      unavailable = true;
      if (fresh) break;
    } catch (const std::exception& e) {
      db.reset();
      error = e.what();
      unavailable = false;
      break;
    }
  }
  if (!error.empty() && !unavailable && batch.size() > 1) {
    for (auto& p : batch) {
      std::vector<pending> one;
      one.push_back(std::move(p));
      answer(db, last_used, one);
    }
    return;
  }
  if (error.empty() && results.size() != batch.size()) {
    error = "store: read_batch returned a wrong number of results";
  }
  if (!error.empty()) {
    for (auto& p : batch) complete(p, failed(error, unavailable));
    return;
  }
  batches.fetch_add(1);
  reads.fetch_add(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    outcome<read_result> out;
    out.value.emplace(std::move(results[i]));
    complete(batch[i], std::move(out));
  }
}

}  // namespace herald::persistence
