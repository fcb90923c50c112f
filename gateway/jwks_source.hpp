// The JWKS key set of HERALD_JWT_JWKS, kept current on a dedicated thread so that no I/O thread
// ever waits for it. A file is read at construction (and re-read like a URL is fetched); a URL
// (http/https, fetched with libcurl) is fetched first when start() runs, then every 5 minutes,
// and on request when a token names an unknown `kid`, at most once per 30 s. A failed fetch
// keeps the last good set. Thread-safe: every member may be called from any thread.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/jwks_keys.hpp"

namespace herald::gateway {

class jwks_source {
 public:
  struct options {
    std::string location;  // a file path, or an http:// or https:// URL
    std::chrono::milliseconds refresh{std::chrono::minutes(5)};
    std::chrono::milliseconds unknown_kid_every{std::chrono::seconds(30)};
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // one whole fetch
  };

  // A file is read now: throws std::invalid_argument when it cannot be read, is not a JWKS
  // document, or holds no usable key. A URL is only checked (http/https and a host).
  explicit jwks_source(options opts);
  ~jwks_source();
  jwks_source(const jwks_source&) = delete;
  jwks_source& operator=(const jwks_source&) = delete;

  // Starts the refresh thread (a URL's first fetch happens at once). Idempotent.
  void start();
  // Asks the thread to end, aborting a fetch in progress within about a second; returns at once.
  void cancel();
  // cancel(), then waits for the thread.
  void stop();

  // The current keys (empty until a URL was fetched once) and, when asked, the number of
  // loads attempted so far, read together. Never blocks on a fetch.
  std::shared_ptr<const key_list> keys(std::uint64_t* generation = nullptr) const;
  // True once a key set was loaded; a later failure does not make it false again.
  bool loaded() const { return loaded_.load(); }
  bool is_url() const { return url_; }
  // A token named a kid the set does not have: ask for a fetch (at most one per 30 s).
  // Returns at once.
  void unknown_kid();
  // Runs `fn` once a load attempt later than `seen_generation` (from keys()) has finished:
  // at once on the calling thread when one already has, else on the source's thread after the
  // load now in progress or the one this asks for (good or not; also when the source stops).
  // Returns false, dropping fn, when the 30 s limit holds the next load back.
  bool after_next_load(std::uint64_t seen_generation, std::function<void()> fn);
  // Completed fetches and reads, good or not (metrics, tests).
  std::uint64_t attempts() const { return attempts_.load(); }

  // Checks a URL the way the constructor does; empty when good, else why not.
  static std::string check_url(const std::string& url);
  static bool looks_like_url(const std::string& location);

 private:
  // Reads the file or fetches the URL; on success replaces the set. Returns why it failed.
  std::string load_once();
  void run();

  options opts_;
  bool url_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const key_list> keys_;
  bool stop_ = false;
  bool kid_wanted_ = false;
  std::chrono::steady_clock::time_point last_kid_fetch_{};
  bool kid_fetched_ = false;
  bool loading_ = false;
  std::uint64_t generation_ = 0;  // load attempts finished
  std::vector<std::function<void()>> waiters_;
  std::atomic<bool> loaded_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> attempts_{0};
  std::thread thread_;
};

}  // namespace herald::gateway
