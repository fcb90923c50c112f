#include "persistence/read_batcher.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include "persistence/call_deadline.hpp"
#include "persistence/store_connection.hpp"

namespace herald::persistence {

struct read_batcher::impl {
  impl(std::string u, std::size_t batch, std::size_t queue, std::chrono::milliseconds timeout,
       clock_fn c)
      : url(std::move(u)),
        max_batch(batch == 0 ? 1 : batch),
        calls(queue, timeout, "reads"),
        clock(std::move(c)) {}
  using call = call_queue<read_request, read_result>::call;
  std::string url;
  std::size_t max_batch;
  call_queue<read_request, read_result> calls;
  clock_fn clock;
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> reads{0};

  void run();
  void answer(store_connection& db, std::vector<call>& batch);
};

read_batcher::read_batcher(std::string url, unsigned readers, std::size_t max_batch, clock_fn clock,
                           std::size_t max_queue, std::chrono::milliseconds timeout)
    : impl_(
          std::make_unique<impl>(std::move(url), max_batch, max_queue, timeout, std::move(clock))) {
  for (unsigned i = 0; i < (readers == 0 ? 1 : readers); ++i) {
    impl_->threads.emplace_back([this] { impl_->run(); });
  }
}

read_batcher::~read_batcher() { stop(); }

void read_batcher::submit(read_request r, boost::asio::any_io_executor ex, done_fn done) {
  impl_->calls.submit(std::move(r), std::move(ex), std::move(done));
}

void read_batcher::stop() {
  impl_->calls.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
}

std::uint64_t read_batcher::batches() const { return impl_->batches.load(); }
std::uint64_t read_batcher::reads() const { return impl_->reads.load(); }
std::uint64_t read_batcher::refused() const { return impl_->calls.refused(); }
std::uint64_t read_batcher::timed_out() const { return impl_->calls.timed_out(); }

void read_batcher::impl::run() {
  store_connection db(url);  // this reader's connection
  for (;;) {
    std::vector<call> batch;
    if (!calls.take(batch, max_batch)) return;  // stopping, and everything queued is answered
    if (!batch.empty()) answer(db, batch);
  }
}

// One statement for the batch on this reader's connection (store_connection.hpp: checked when
// idle, one retry on a fresh connection). Any error other than the database's is retried read
// by read, so one bad read cannot sink the others.
void read_batcher::impl::answer(store_connection& db, std::vector<call>& batch) {
  std::vector<read_request> requests;
  requests.reserve(batch.size());
  for (const auto& p : batch) requests.push_back(p.request);
  auto out = db.call([&](store& st) {
    auto results = st.read_batch(requests, clock());
    // After the counts' snapshot: every change up to their watermark has committed.
    for (std::size_t i = 0; i < results.size() && i < requests.size(); ++i) {
      if (!requests[i].seqs_after) continue;
      results[i].seqs = st.change_seqs(requests[i].who, *requests[i].seqs_after,
                                       results[i].counts.watermark, max_change_seqs);
    }
    return results;
  });
  if (!out.ok() && out.why == failure::error && batch.size() > 1) {
    for (auto& p : batch) {
      std::vector<call> one;
      one.push_back(std::move(p));
      answer(db, one);
    }
    return;
  }
  if (out.ok() && out.value->size() != batch.size()) {
    out = failed_outcome<std::vector<read_result>>(
        failure::error, "store: read_batch returned a wrong number of results");
  }
  if (!out.ok()) {
    for (auto& p : batch) calls.answer(p, failed_outcome<read_result>(out.why, out.error));
    return;
  }
  batches.fetch_add(1);
  reads.fetch_add(batch.size());
  auto& results = *out.value;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    outcome<read_result> one;
    one.value.emplace(std::move(results[i]));
    calls.answer(batch[i], std::move(one));
  }
}

}  // namespace herald::persistence
