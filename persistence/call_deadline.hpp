// Deadlines for store calls. A call's answer is given once: by the worker that ran it, or by
// the deadline watch when its deadline passed first; the other one's answer is discarded. A call
// still queued at its deadline is dropped (never run); one already running is answered "outcome
// unknown" and its late result is discarded. Thread safety: every member from any thread.
#pragma once
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace herald::persistence {

// Why a store call has no value.
enum class failure : std::uint8_t {
  none,
  error,        // the call itself failed (a bug or bad data), not the database
  unreachable,  // the database cannot be reached or the connection was lost: nothing committed
  timed_out,    // the deadline passed before the call started: it was dropped, nothing done
  in_doubt,     // the deadline passed while the call ran: it may or may not have committed
  overloaded,   // too many calls were waiting: refused at once, nothing done
  full,         // the database cannot write (disk or table full): nothing committed
};

// The value of a store call, or why it failed.
template <class T>
struct outcome {
  std::optional<T> value;
  std::string error;         // empty when value is set
  bool unavailable = false;  // the database did not serve it (answer 503); false for `error`
  failure why = failure::none;
  bool ok() const { return value.has_value(); }
};

template <class T>
outcome<T> failed_outcome(failure why, std::string error) {
  outcome<T> out;
  out.error = std::move(error);
  out.why = why;
  out.unavailable = why != failure::error;
  return out;
}

// What the deadline watch holds of a call.
class deadline_entry {
 public:
  virtual ~deadline_entry() = default;
  // The worker takes a queued call: false when the deadline answered it already (skip it).
  bool start() {
    int s = queued_state;
    return state_.compare_exchange_strong(s, started_state, std::memory_order_acq_rel);
  }
  bool answered() const { return state_.load(std::memory_order_acquire) == done_state; }
  // The deadline passed: answers timed_out (queued) or in_doubt (running); false when it was
  // answered already.
  virtual bool expire() = 0;

 protected:
  static constexpr int queued_state = 0, started_state = 1, done_state = 2;
  // Moves to `done`; returns the state it left, or done_state when it was answered already.
  int finish_state() {
    int s = state_.load(std::memory_order_acquire);
    while (s != done_state &&
           !state_.compare_exchange_weak(s, done_state, std::memory_order_acq_rel)) {
    }
    return s;
  }

 private:
  friend class deadline_watch;
  std::atomic<int> state_{queued_state};
  std::chrono::steady_clock::time_point deadline_;
  std::list<std::shared_ptr<deadline_entry>>::iterator where_;
  bool watched_ = false;  // in the watch's list (guarded by the watch's mutex)
};

// One call's answer-once slot: `done(outcome<T>)` runs on `ex`, once.
template <class T>
class pending_answer final : public deadline_entry {
 public:
  using done_fn = std::function<void(outcome<T>)>;
  pending_answer(boost::asio::any_io_executor ex, done_fn done)
      : ex_(std::move(ex)), done_(std::move(done)) {}

  // The worker's answer; false when the deadline answered first (then `out` is discarded).
  bool finish(outcome<T> out) {
    if (finish_state() == done_state) return false;
    post(std::move(out));
    return true;
  }
  bool expire() override {
    const int was = finish_state();
    if (was == done_state) return false;
    post(was == queued_state
             ? failed_outcome<T>(failure::timed_out,
                                 "store: the call's deadline passed before it started")
             : failed_outcome<T>(failure::in_doubt,
                                 "store: the call's deadline passed while it ran"));
    return true;
  }

 private:
  void post(outcome<T> out) {
    boost::asio::post(
        ex_, [done = std::move(done_), out = std::move(out)]() mutable { done(std::move(out)); });
  }
  boost::asio::any_io_executor ex_;
  done_fn done_;
};

// Expires calls at their deadline (submission time + timeout) from a thread of its own. A
// timeout of zero turns deadlines off (add and remove do nothing).
class deadline_watch {
 public:
  explicit deadline_watch(std::chrono::milliseconds timeout);
  ~deadline_watch();
  deadline_watch(const deadline_watch&) = delete;
  deadline_watch& operator=(const deadline_watch&) = delete;

  std::chrono::milliseconds timeout() const { return timeout_; }
  void add(const std::shared_ptr<deadline_entry>& e);
  // The call was answered by its worker: stop watching it.
  void remove(deadline_entry& e);
  // Calls expired so far (for /metrics).
  std::uint64_t expired() const { return expired_.load(std::memory_order_relaxed); }

 private:
  void run();
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::list<std::shared_ptr<deadline_entry>> entries_;  // by deadline (one timeout: FIFO)
  bool stopping_ = false;
  std::atomic<std::uint64_t> expired_{0};
  std::thread thread_;
};

// The bounded queue in front of the writer's and the readers' threads: each call has a deadline
// from submission (deadline_watch) and is answered once (pending_answer). Past `max_queue`
// waiting calls a submission is refused at once (overloaded); after stop() it is refused as
// unreachable. Thread safety: every member from any thread.
template <class Request, class Result>
class call_queue {
 public:
  struct call {
    Request request;
    std::shared_ptr<pending_answer<Result>> answer;
  };
  using done_fn = typename pending_answer<Result>::done_fn;

  // `what`: the calls' name in refusals ("notifications", "reads").
  call_queue(std::size_t max_queue, std::chrono::milliseconds timeout, std::string what)
      : max_queue_(max_queue == 0 ? 1 : max_queue), watch_(timeout), what_(std::move(what)) {}

  void submit(Request r, boost::asio::any_io_executor ex, done_fn done) {
    auto answer = std::make_shared<pending_answer<Result>>(std::move(ex), std::move(done));
    failure refusal = failure::none;
    {
      std::lock_guard lock(mutex_);
      // Calls answered at their deadline wait at the front: they take no room.
      while (!queue_.empty() && queue_.front().answer->answered()) queue_.pop_front();
      if (stopping_) {
        refusal = failure::unreachable;
      } else if (queue_.size() >= max_queue_) {
        refusal = failure::overloaded;
      } else {
        watch_.add(answer);
        queue_.push_back({std::move(r), answer});
        wake_.notify_one();
        return;
      }
    }
    if (refusal == failure::overloaded) refused_.fetch_add(1, std::memory_order_relaxed);
    answer->finish(
        failed_outcome<Result>(refusal, refusal == failure::overloaded
                                            ? "store: too many " + what_ + " wait for the store"
                                            : "store: the store's " + what_ + " queue is stopped"));
  }

  // Waits for calls, then takes up to `max` of them while their summed cost(request) stays
  // under `max_cost`; calls answered at their deadline are dropped, never run. False once
  // stopped with nothing left (the worker ends).
  template <class Cost>
  bool take(std::vector<call>& batch, std::size_t max, Cost cost, std::size_t max_cost) {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return false;
    std::size_t spent = 0;
    while (!queue_.empty() && batch.size() < max && spent < max_cost) {
      auto& front = queue_.front();
      if (front.answer->start()) {
        spent += cost(front.request);
        batch.push_back(std::move(front));
      }
      queue_.pop_front();
    }
    return true;
  }
  bool take(std::vector<call>& batch, std::size_t max) {
    return take(
        batch, max, [](const Request&) { return std::size_t{0}; }, 1);
  }

  // The worker's answer (discarded when the deadline answered first).
  void answer(call& c, outcome<Result> out) {
    watch_.remove(*c.answer);
    c.answer->finish(std::move(out));
  }

  // Refuses new calls; the workers finish what is queued, then take() says false.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
  }

  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  std::uint64_t timed_out() const { return watch_.expired(); }

 private:
  std::size_t max_queue_;
  deadline_watch watch_;
  std::string what_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<call> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> refused_{0};
};

// The store call deadline (HERALD_STORE_TIMEOUT_MS), set once at start before any store opens.
// Backends derive their drivers' network timeouts from it (MySQL connect, read and write), so a
// thread stuck on a frozen database comes back.
void set_call_timeout(std::chrono::milliseconds t);
std::chrono::milliseconds call_timeout();  // zero when unset

}  // namespace herald::persistence
