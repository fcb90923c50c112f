// The store's readiness, judged on a connection of its own: a thread migrates the schema until
// that works once, then pings every `interval`. The store is ready while the last probe
// succeeded, no probe has been hanging for longer than `timeout` (a frozen database), and the
// last write did not fail for want of space (a full disk: ready again at the first write that
// commits). Thread safety: every member from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace herald::persistence {

class store_probe {
 public:
  enum class state { starting, ready, unreachable, frozen, full };
  struct status {
    state now = state::starting;
    std::string detail;  // the last error, for the log
    bool ready() const { return now == state::ready; }
  };

  store_probe(std::string url, std::chrono::milliseconds interval,
              std::chrono::milliseconds timeout);
  ~store_probe();  // stops; a probe stuck in the driver is left to finish on its own
  store_probe(const store_probe&) = delete;
  store_probe& operator=(const store_probe&) = delete;

  void start();
  void stop();
  status current() const;
  bool migrated() const;
  // A write committed (true) or failed because the store is full (false).
  void write_outcome(bool committed);

 private:
  struct shared;
  static void run(const std::shared_ptr<shared>& s);
  std::shared_ptr<shared> s_;
};

}  // namespace herald::persistence
