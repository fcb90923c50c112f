// One store connection's life, written once for the pool threads, the notify writer and the
// readers: opened on first use, checked with a ping before a call after being idle (a database
// restart kills idle connections), dropped on a failure (reopened by the next call), kept on a
// full disk (the connection is fine, and reopening may fail). A call that fails as unreachable
// on a connection that was not fresh is tried once more on a fresh one, so callers see
// "unavailable" only while the database is down. Not thread-safe: one owner thread.
#pragma once
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include "persistence/call_deadline.hpp"
#include "persistence/store.hpp"

namespace herald::persistence {

class store_connection {
 public:
  // idle_check: a connection unused for longer is pinged before its next call.
  explicit store_connection(std::string url,
                            std::chrono::milliseconds idle_check = std::chrono::milliseconds(1000))
      : url_(std::move(url)), idle_check_(idle_check) {}

  // fn(store&) under the policy above: its value, or why it has none (full, unreachable, or
  // error for any other exception: a bug or bad data, which the caller may isolate). A
  // commit_unknown is not retried: the connection is dropped and it is thrown on, for the
  // caller to resolve.
  template <class Fn>
  auto call(Fn&& fn) -> outcome<std::invoke_result_t<Fn&, store&>> {
    using R = std::invoke_result_t<Fn&, store&>;
    outcome<R> out;
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool fresh = false;
      try {
        store& db = checked(fresh);
        out.value.emplace(fn(db));
        out.error.clear();
        out.unavailable = false;
        out.why = failure::none;
        return out;
      } catch (const store_full& e) {
        return failed_outcome<R>(failure::full, e.what());
      } catch (const commit_unknown&) {
        drop();
        throw;
      } catch (const store_unavailable& e) {
        drop();
        out = failed_outcome<R>(failure::unreachable, e.what());
        if (fresh) return out;
      } catch (const std::exception& e) {
        drop();
        return failed_outcome<R>(failure::error, e.what());
      }
    }
    return out;
  }

  // fn(store&) tried until it succeeds or `patience` has passed, pausing 50 ms, doubling up to
  // 1 s, between attempts (reconnecting each time): for a question that must be answered while
  // the database restarts. nullopt when it never succeeded.
  template <class Fn>
  auto call_patiently(Fn&& fn, std::chrono::milliseconds patience)
      -> std::optional<std::invoke_result_t<Fn&, store&>> {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    auto pause = std::chrono::milliseconds(50);
    for (;;) {
      auto out = call(fn);
      if (out.ok()) return std::move(out.value);
      drop();
      if (std::chrono::steady_clock::now() + pause > deadline) return std::nullopt;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(1000));
    }
  }

  bool open() const { return db_ != nullptr; }
  void drop() { db_.reset(); }
  const std::string& url() const { return url_; }

 private:
  // The connection, opened now or pinged first when idle; `fresh` says it was opened now.
  store& checked(bool& fresh);

  std::string url_;
  std::chrono::milliseconds idle_check_;
  std::unique_ptr<store> db_;
  std::chrono::steady_clock::time_point last_used_;
};

}  // namespace herald::persistence
