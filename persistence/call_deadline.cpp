#include "persistence/call_deadline.hpp"

#include <vector>

namespace herald::persistence {
namespace {
std::atomic<std::int64_t> call_timeout_ms{0};
}  // namespace

void set_call_timeout(std::chrono::milliseconds t) { call_timeout_ms.store(t.count()); }
std::chrono::milliseconds call_timeout() {
  return std::chrono::milliseconds(call_timeout_ms.load());
}

deadline_watch::deadline_watch(std::chrono::milliseconds timeout) : timeout_(timeout) {
  if (timeout_.count() > 0) thread_ = std::thread([this] { run(); });
}

deadline_watch::~deadline_watch() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void deadline_watch::add(const std::shared_ptr<deadline_entry>& e) {
  if (timeout_.count() <= 0) return;
  e->deadline_ = std::chrono::steady_clock::now() + timeout_;
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    first = entries_.empty();
    e->where_ = entries_.insert(entries_.end(), e);
    e->watched_ = true;
  }
  if (first) wake_.notify_one();
}

void deadline_watch::remove(deadline_entry& e) {
  if (timeout_.count() <= 0) return;
  std::shared_ptr<deadline_entry> keep;  // released outside the lock
  std::lock_guard lock(mutex_);
  if (!e.watched_) return;
  e.watched_ = false;
  keep = std::move(*e.where_);
  entries_.erase(e.where_);
}

void deadline_watch::run() {
  std::vector<std::shared_ptr<deadline_entry>> due;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (entries_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    while (!entries_.empty() && entries_.front()->deadline_ <= now) {
      entries_.front()->watched_ = false;
      due.push_back(std::move(entries_.front()));
      entries_.pop_front();
    }
    if (due.empty()) {
      // A copy: the entry may be removed (and freed) while this thread waits.
      const auto next = entries_.front()->deadline_;
      wake_.wait_until(lock, next);
      continue;
    }
    lock.unlock();
    for (auto& e : due) {
      if (e->expire()) expired_.fetch_add(1, std::memory_order_relaxed);
    }
    due.clear();
    lock.lock();
  }
}

}  // namespace herald::persistence
