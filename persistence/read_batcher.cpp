#include "persistence/read_batcher.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include "persistence/call_deadline.hpp"
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
  std::shared_ptr<pending_answer<read_result>> answer;
};

outcome<read_result> failed(failure why, const std::string& error) {
  return failed_outcome<read_result>(why, error);
}

}  // namespace

struct read_batcher::impl {
  explicit impl(std::chrono::milliseconds timeout) : watch(timeout) {}
  std::string url;
  std::size_t max_batch = 1;
  std::size_t max_queue = 1;
  deadline_watch watch;
  std::atomic<std::uint64_t> refused{0};
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
  void complete(pending& p, outcome<read_result> out) {
    watch.remove(*p.answer);
    p.answer->finish(std::move(out));
  }
};

read_batcher::read_batcher(std::string url, unsigned readers, std::size_t max_batch, clock_fn clock,
                           std::size_t max_queue, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>(timeout)) {
  impl_->url = std::move(url);
  impl_->max_batch = max_batch == 0 ? 1 : max_batch;
  impl_->max_queue = max_queue == 0 ? 1 : max_queue;
  impl_->clock = std::move(clock);
  for (unsigned i = 0; i < (readers == 0 ? 1 : readers); ++i) {
    impl_->threads.emplace_back([this] { impl_->run(); });
  }
}

read_batcher::~read_batcher() { stop(); }

void read_batcher::submit(read_request r, boost::asio::any_io_executor ex, done_fn done) {
  auto answer = std::make_shared<pending_answer<read_result>>(std::move(ex), std::move(done));
  failure refusal = failure::none;
  {
    std::lock_guard lock(impl_->mutex);
    // Reads answered at their deadline wait at the front: they take no room.
    auto& q = impl_->queue;
    while (!q.empty() && q.front().answer->answered()) q.pop_front();
    if (impl_->stopping) {
      refusal = failure::unreachable;
    } else if (q.size() >= impl_->max_queue) {
      refusal = failure::overloaded;
    } else {
      impl_->watch.add(answer);
      q.push_back({std::move(r), answer});
      impl_->wake.notify_one();
      return;
    }
  }
  if (refusal == failure::overloaded) impl_->refused.fetch_add(1, std::memory_order_relaxed);
  answer->finish(failed(refusal, refusal == failure::overloaded
                                     ? "store: too many reads wait for the store"
                                     : "store: the store readers are stopped"));
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
std::uint64_t read_batcher::refused() const { return impl_->refused.load(); }
std::uint64_t read_batcher::timed_out() const { return impl_->watch.expired(); }

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
        if (queue.front().answer->start()) batch.push_back(std::move(queue.front()));
        queue.pop_front();  // or dropped: answered at its deadline
      }
    }
    if (!batch.empty()) answer(db, last_used, batch);
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
  failure why = failure::error;
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
    } catch (const store_full& e) {
      error = e.what();  // keep the connection: reopening may fail on a full disk
      unavailable = true;
      why = failure::full;
      break;
    } catch (const store_unavailable& e) {
      db.reset();
      error = e.what();
      unavailable = true;
      why = failure::unreachable;
      if (fresh) break;
    } catch (const std::exception& e) {
      db.reset();
      error = e.what();
      unavailable = false;
      why = failure::error;
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
    why = failure::error;
  }
  if (!error.empty()) {
    for (auto& p : batch) complete(p, failed(why, error));
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
