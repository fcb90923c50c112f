#include "persistence/store_probe.hpp"

#include "persistence/store.hpp"

namespace herald::persistence {

struct store_probe::shared {
  std::string url;
  std::chrono::milliseconds interval;
  std::chrono::milliseconds timeout;
  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  bool exited = false;
  state last = state::starting;  // of the last probe that finished
  std::string detail;
  bool probing = false;
  std::chrono::steady_clock::time_point probe_started;
  std::atomic<bool> migrated{false};
  std::atomic<bool> full{false};
  std::thread thread;
};

store_probe::store_probe(std::string url, std::chrono::milliseconds interval,
                         std::chrono::milliseconds timeout)
    : s_(std::make_shared<shared>()) {
  s_->url = std::move(url);
  s_->interval = interval;
  s_->timeout = timeout;
}

store_probe::~store_probe() { stop(); }

void store_probe::start() {
  std::lock_guard lock(s_->mutex);
  if (s_->thread.joinable() || s_->stopping) return;
  s_->thread = std::thread([s = s_] { run(s); });
}

void store_probe::stop() {
  std::unique_lock lock(s_->mutex);
  s_->stopping = true;
  s_->wake.notify_all();
  if (!s_->thread.joinable()) return;
  // A probe stuck in the driver must not hold up the exit: it finishes on its own later.
  const bool exited =
      s_->wake.wait_for(lock, std::chrono::seconds(1), [this] { return s_->exited; });
  lock.unlock();
  if (exited) {
    s_->thread.join();
  } else {
    s_->thread.detach();
  }
}

bool store_probe::migrated() const { return s_->migrated.load(); }

void store_probe::write_outcome(bool committed) { s_->full.store(!committed); }

store_probe::status store_probe::current() const {
  std::lock_guard lock(s_->mutex);
  status out;
  out.detail = s_->detail;
  if (s_->probing && std::chrono::steady_clock::now() - s_->probe_started > s_->timeout) {
    out.now = state::frozen;
    out.detail = "no answer within " + std::to_string(s_->timeout.count()) + " ms";
  } else if (s_->last == state::ready && s_->full.load()) {
    out.now = state::full;
  } else {
    out.now = s_->last;
  }
  return out;
}

void store_probe::run(const std::shared_ptr<shared>& s) {
  std::unique_ptr<store> db;
  for (;;) {
    {
      std::lock_guard lock(s->mutex);
      if (s->stopping) break;
      s->probing = true;
      s->probe_started = std::chrono::steady_clock::now();
    }
    state result = state::ready;
    std::string detail;
    try {
      if (!db) db = open_store(s->url);
      if (!s->migrated) {
        db->migrate();
        s->migrated = true;
      } else {
        db->ping();
      }
    } catch (const store_full& e) {
      result = state::full;
      detail = e.what();
    } catch (const std::exception& e) {
      db.reset();
      result = state::unreachable;
      detail = e.what();
    }
    std::unique_lock lock(s->mutex);
    s->probing = false;
    s->last = result;
    s->detail = std::move(detail);
    s->wake.wait_for(lock, s->interval, [&] { return s->stopping; });
    if (s->stopping) break;
  }
  std::lock_guard lock(s->mutex);
  s->exited = true;
  s->wake.notify_all();
}

}  // namespace herald::persistence
