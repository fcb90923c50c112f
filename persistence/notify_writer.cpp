#include "persistence/notify_writer.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "persistence/call_deadline.hpp"
#include "persistence/store_connection.hpp"

namespace herald::persistence {

struct notify_writer::impl {
  impl(std::string u, std::size_t batch, std::size_t queue, std::chrono::milliseconds timeout)
      : max_batch(batch == 0 ? 1 : batch),
        calls(queue, timeout, "notifications"),
        db(std::move(u)) {}
  std::size_t max_batch;
  call_queue<insert_request, insert_result> calls;
  std::function<void(bool)> observer;  // set before the first submit
  store_connection db;                 // used by the writer thread only
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> rows{0};
  // after_taken: batches taken and answered, and who waits for which count.
  struct waiter {
    std::uint64_t upto;
    boost::asio::any_io_executor ex;
    std::function<void()> f;
  };
  std::mutex fence_mu;
  std::uint64_t taken = 0;
  std::uint64_t answered = 0;
  std::vector<waiter> waiters;
  std::thread thread;
};

namespace {

constexpr std::size_t max_batch_rows = 8192;

std::size_t rows_of(const insert_request& r) {
  return r.request.target == proto::target_kind::users ? r.request.user_ids.size() : 1;
}

}  // namespace

notify_writer::notify_writer(std::string url, std::size_t max_batch, std::size_t max_queue,
                             std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>(std::move(url), max_batch, max_queue, timeout)) {
  impl_->thread = std::thread([this] { run(); });
}

notify_writer::~notify_writer() { stop(); }

void notify_writer::submit(insert_request r, boost::asio::any_io_executor ex, done_fn done) {
  impl_->calls.submit(std::move(r), std::move(ex), std::move(done));
}

void notify_writer::set_write_observer(std::function<void(bool)> f) {
  impl_->observer = std::move(f);
}

void notify_writer::stop() {
  impl_->calls.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint64_t notify_writer::batches_written() const { return impl_->batches.load(); }
std::uint64_t notify_writer::rows_written() const { return impl_->rows.load(); }
std::uint64_t notify_writer::refused() const { return impl_->calls.refused(); }
std::uint64_t notify_writer::timed_out() const { return impl_->calls.timed_out(); }

void notify_writer::run() {
  for (;;) {
    std::vector<call> batch;
    // Up to max_batch requests, and about max_batch_rows rows (user_ids fan out).
    if (!impl_->calls.take(batch, impl_->max_batch, rows_of, max_batch_rows)) return;
    if (batch.empty()) continue;
    {
      std::lock_guard lock(impl_->fence_mu);
      ++impl_->taken;
    }
    write(batch);
    std::vector<impl::waiter> due;
    {
      std::lock_guard lock(impl_->fence_mu);
      impl_->answered = impl_->taken;
      std::erase_if(impl_->waiters, [&](impl::waiter& w) {
        if (w.upto > impl_->answered) return false;
        due.push_back(std::move(w));
        return true;
      });
    }
    for (auto& w : due) boost::asio::post(w.ex, std::move(w.f));
  }
}

void notify_writer::after_taken(boost::asio::any_io_executor ex, std::function<void()> f) {
  {
    std::lock_guard lock(impl_->fence_mu);
    if (impl_->answered < impl_->taken) {
      impl_->waiters.push_back(impl::waiter{impl_->taken, std::move(ex), std::move(f)});
      return;
    }
  }
  boost::asio::post(ex, std::move(f));
}

// After a COMMIT cut off with its connection: whether the batch committed, read on a new
// connection (which waits for the old transaction's locks), trying for up to about 10 s while
// the database restarts. nullopt when it could not be read.
std::optional<bool> notify_writer::resolve(const std::string& token) {
  return impl_->db.call_patiently([&token](store& st) { return st.batch_committed(token); },
                                  std::chrono::seconds(10));
}

// One transaction for the whole batch. A lost connection fails every request of it (nothing was
// stored; store_connection retries once on a fresh connection); a connection lost during the
// COMMIT itself is resolved first (resolve): committed batches are answered with their results,
// the others fail as unavailable, or as unknown when the outcome could not be read. Any other
// error is retried request by request, so one bad request cannot sink the others.
void notify_writer::write(std::vector<call>& batch) {
  std::vector<insert_request> requests;
  requests.reserve(batch.size());
  for (auto& p : batch) requests.push_back(p.request);
  outcome<std::vector<insert_result>> out;
  try {
    out = impl_->db.call([&requests](store& st) { return st.insert_batch(requests); });
  } catch (const commit_unknown& e) {
    auto committed = resolve(e.token);
    if (committed && *committed) {
      out.value.emplace(e.results);
    } else {
      // Not committed: unavailable; unknown: stored or not, only a retry with its key is safe.
      out = failed_outcome<std::vector<insert_result>>(
          committed ? failure::unreachable : failure::in_doubt, e.what());
    }
  }
  if (!out.ok() && out.why == failure::error && batch.size() > 1) {
    for (auto& p : batch) {
      std::vector<call> one;
      one.push_back(std::move(p));
      write(one);
    }
    return;
  }
  if (out.ok() && out.value->size() != batch.size()) {
    out = failed_outcome<std::vector<insert_result>>(
        failure::error, "store: insert_batch returned a wrong number of results");
  }
  if (!out.ok()) {
    if (out.why == failure::full && impl_->observer) impl_->observer(false);
    for (auto& p : batch) impl_->calls.answer(p, failed_outcome<insert_result>(out.why, out.error));
    return;
  }
  if (impl_->observer) impl_->observer(true);
  impl_->batches.fetch_add(1);
  std::uint64_t rows = 0;
  auto& results = *out.value;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    rows += results[i].items.size();
    outcome<insert_result> one;
    one.value.emplace(std::move(results[i]));
    impl_->calls.answer(batch[i], std::move(one));  // discarded when its deadline answered first
  }
  impl_->rows.fetch_add(rows);
}

}  // namespace herald::persistence
