// Runs blocking store calls off the I/O threads. Each pool thread owns one store connection,
// opened lazily and reopened after a failure (so the pool survives a database restart). Results
// are posted back to the caller's executor. submit() is thread-safe.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include "persistence/store.hpp"

namespace herald::persistence {

// The value of a store call, or why it failed (store_unavailable or another exception).
template <class T>
struct outcome {
  std::optional<T> value;
  std::string error;  // empty when value is set
  bool unavailable = false;  // the database could not be reached (answer 503)
  // With unavailable: a write whose COMMIT was cut off and whose outcome could not be read
  // back; it may or may not be stored.
  bool unknown = false;
  bool ok() const { return value.has_value(); }
};

class store_pool {
 public:
  store_pool(std::string url, unsigned threads);
  ~store_pool();  // waits for calls in flight
  store_pool(const store_pool&) = delete;
  store_pool& operator=(const store_pool&) = delete;

  // Runs fn(store&) on a pool thread, then done(outcome<R>) on `ex`.
  template <class Fn, class Done>
  void submit(boost::asio::any_io_executor ex, Fn fn, Done done) {
    using R = std::invoke_result_t<Fn&, store&>;
    boost::asio::post(pool_, [this, ex, fn = std::move(fn), done = std::move(done)]() mutable {
      outcome<R> out = run_on_thread<R>(fn);
      boost::asio::post(ex, [done = std::move(done), out = std::move(out)]() mutable {
        done(std::move(out));
      });
    });
  }

  // The store URL: tools and migrations open their own connection with open_store(url()).
  const std::string& url() const { return url_; }
  // Finishes the calls already submitted, then joins the threads (closing their connections).
  void stop();

 private:
  // A connection that died while idle (a database restart) fails its next call: that call is
  // retried once on a fresh connection, so callers see 503 only while the database is down.
  template <class R, class Fn>
  outcome<R> run_on_thread(Fn& fn) {
    outcome<R> out;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool fresh = !has_connection();
      try {
        out.value.emplace(fn(connection()));
        out.error.clear();
        out.unavailable = false;
        return out;
      } catch (const store_unavailable& e) {
        drop_connection();
        out.error = e.what();
        out.unavailable = true;
        if (fresh) break;
      } catch (const std::exception& e) {
        drop_connection();
        out.error = e.what();
        out.unavailable = false;
        break;
      }
    }
    return out;
  }
  // This pool thread's connection, opened on first use (throws store_unavailable).
  store& connection();
  void drop_connection();
  bool has_connection() const;

  std::string url_;
  boost::asio::thread_pool pool_;
};

}  // namespace herald::persistence
