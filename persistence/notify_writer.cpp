#include "persistence/notify_writer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <boost/asio/post.hpp>

#include "persistence/call_deadline.hpp"

namespace herald::persistence {

struct notify_writer::pending {
  insert_request request;
  std::shared_ptr<pending_answer<insert_result>> answer;
};

struct notify_writer::impl {
  explicit impl(std::chrono::milliseconds timeout) : watch(timeout) {}
  std::string url;
  std::size_t max_batch;
  std::size_t max_queue;
  deadline_watch watch;
  std::function<void(bool)> observer;  // set before the first submit
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<pending> queue;
  bool stopping = false;
  std::unique_ptr<store> db;  // used by the writer thread only
  std::chrono::steady_clock::time_point last_used;
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> rows{0};
  std::atomic<std::uint64_t> refused{0};
  std::thread thread;
};

namespace {

constexpr std::size_t max_batch_rows = 8192;

outcome<insert_result> failed(failure why, const std::string& error) {
  return failed_outcome<insert_result>(why, error);
}

}  // namespace

notify_writer::notify_writer(std::string url, std::size_t max_batch, std::size_t max_queue,
                             std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>(timeout)) {
  impl_->url = std::move(url);
  impl_->max_batch = max_batch == 0 ? 1 : max_batch;
  impl_->max_queue = max_queue == 0 ? 1 : max_queue;
  impl_->thread = std::thread([this] { run(); });
}

notify_writer::~notify_writer() { stop(); }

void notify_writer::submit(insert_request r, boost::asio::any_io_executor ex, done_fn done) {
  auto answer = std::make_shared<pending_answer<insert_result>>(std::move(ex), std::move(done));
  failure refusal = failure::none;
  {
    std::lock_guard lock(impl_->mutex);
    // Requests answered at their deadline wait at the front: they take no room.
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
                                     ? "store: too many notifications wait for the writer"
                                     : "store: the notify writer is stopped"));
}

void notify_writer::set_write_observer(std::function<void(bool)> f) {
  impl_->observer = std::move(f);
}

void notify_writer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint64_t notify_writer::batches_written() const { return impl_->batches.load(); }
std::uint64_t notify_writer::rows_written() const { return impl_->rows.load(); }
std::uint64_t notify_writer::refused() const { return impl_->refused.load(); }
std::uint64_t notify_writer::timed_out() const { return impl_->watch.expired(); }

void notify_writer::run() {
  for (;;) {
    std::deque<pending> batch;
    {
      std::unique_lock lock(impl_->mutex);
      impl_->wake.wait(lock, [this] { return impl_->stopping || !impl_->queue.empty(); });
      if (impl_->queue.empty()) return;  // stopping, and everything queued is answered
      // Up to max_batch requests, and about max_batch_rows rows (user_ids fan out).
      std::size_t rows = 0;
      while (!impl_->queue.empty() && batch.size() < impl_->max_batch && rows < max_batch_rows) {
        auto& front = impl_->queue.front();
        // One answered at its deadline (timed out) is dropped, never written.
        if (front.answer->start()) {
          const auto& r = front.request.request;
          rows += r.target == proto::target_kind::users ? r.user_ids.size() : 1;
          batch.push_back(std::move(front));
        }
        impl_->queue.pop_front();
      }
    }
    if (!batch.empty()) write(batch);
  }
}

// After a COMMIT cut off with its connection: whether the batch committed, read on a new
// connection (which waits for the old transaction's locks), trying for up to about 10 s while
// the database restarts. nullopt when it could not be read.
std::optional<bool> notify_writer::resolve(const std::string& token) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto pause = std::chrono::milliseconds(50);
  for (;;) {
    try {
      if (!impl_->db) impl_->db = open_store(impl_->url);
      impl_->last_used = std::chrono::steady_clock::now();
      return impl_->db->batch_committed(token);
    } catch (const std::exception&) {
      impl_->db.reset();
    }
    if (std::chrono::steady_clock::now() + pause > deadline) return std::nullopt;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

// One transaction for the whole batch. A lost connection fails every request of it (nothing was
// stored) and the next batch reconnects; a connection lost during the COMMIT itself is resolved
// first (resolve): committed batches are answered with their results, the others fail as
// unavailable, or as unknown when the outcome could not be read. Any other error is retried request by request, so one
// bad request cannot sink the others.
void notify_writer::write(std::deque<pending>& batch) {
  std::vector<insert_request> requests;
  requests.reserve(batch.size());
  for (auto& p : batch) requests.push_back(p.request);
  std::vector<insert_result> results;
  std::string error;
  failure why = failure::unreachable;
  bool isolate = false;
  try {
    // A connection idle for a while may have died with a database restart: check it first,
    // rather than fail a batch whose commit state would then be unknown.
    const auto now = std::chrono::steady_clock::now();
    if (impl_->db && now - impl_->last_used > std::chrono::seconds(1)) {
      try {
        impl_->db->ping();
      } catch (const std::exception&) {
        impl_->db.reset();
      }
    }
    if (!impl_->db) impl_->db = open_store(impl_->url);
    impl_->last_used = now;
    results = impl_->db->insert_batch(requests);
  } catch (const store_full& e) {
    error = e.what();  // the connection is fine, and reopening may fail on a full disk
    why = failure::full;
  } catch (const commit_unknown& e) {
    impl_->db.reset();
    auto committed = resolve(e.token);
    if (committed && *committed) {
      results = e.results;
    } else {
      error = e.what();
      if (!committed) why = failure::in_doubt;  // stored or not: only a retry with its key is safe
    }
  } catch (const store_unavailable& e) {
    impl_->db.reset();
    error = e.what();
  } catch (const std::exception& e) {
    impl_->db.reset();
    error = e.what();
    isolate = batch.size() > 1;
  }
  if (isolate) {
    for (auto& p : batch) {
      std::deque<pending> one;
      one.push_back(std::move(p));
      write(one);
    }
    return;
  }
  if (results.size() != batch.size()) {
    if (error.empty()) error = "store: insert_batch returned a wrong number of results";
    if (why == failure::full && impl_->observer) impl_->observer(false);
    for (auto& p : batch) {
      impl_->watch.remove(*p.answer);
      p.answer->finish(failed(why, error));
    }
    return;
  }
  if (impl_->observer) impl_->observer(true);
  impl_->batches.fetch_add(1);
  std::uint64_t rows = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    rows += results[i].items.size();
    outcome<insert_result> out;
    out.value.emplace(std::move(results[i]));
    impl_->watch.remove(*batch[i].answer);
    batch[i].answer->finish(std::move(out));  // discarded when its deadline answered first
  }
  impl_->rows.fetch_add(rows);
}

}  // namespace herald::persistence
