// Runs blocking store calls off the I/O threads. Each pool thread owns one store connection,
// opened lazily and reopened after a failure (so the pool survives a database restart). Results
// are posted back to the caller's executor. With a timeout, a call not answered within it is
// answered unavailable at its deadline (see call_deadline.hpp). submit() is thread-safe.
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

#include "persistence/call_deadline.hpp"
#include "persistence/store.hpp"

namespace herald::persistence {

class store_pool {
 public:
  // timeout: each call's deadline from submission (zero: none).
  store_pool(std::string url, unsigned threads,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  ~store_pool();  // waits for calls in flight
  store_pool(const store_pool&) = delete;
  store_pool& operator=(const store_pool&) = delete;

  // Runs fn(store&) on a pool thread, then done(outcome<R>) on `ex`, once: at the deadline at
  // the latest (a call still queued then is never run).
  template <class Fn, class Done>
  void submit(boost::asio::any_io_executor ex, Fn fn, Done done) {
    submit_watched(watch_, std::move(ex), std::move(fn), std::move(done));
  }
  // The same with four times the deadline: for a connection's first load, which may queue
  // behind thousands of others when every client reconnects at once.
  template <class Fn, class Done>
  void submit_patient(boost::asio::any_io_executor ex, Fn fn, Done done) {
    submit_watched(patient_watch_, std::move(ex), std::move(fn), std::move(done));
  }
  std::chrono::milliseconds timeout() const { return watch_.timeout(); }
  std::uint64_t timed_out() const { return watch_.expired() + patient_watch_.expired(); }

  // The store URL: tools and migrations open their own connection with open_store(url()).
  const std::string& url() const { return url_; }
  // Finishes the calls already submitted, then joins the threads (closing their connections).
  void stop();

 private:
  template <class Fn, class Done>
  void submit_watched(deadline_watch& watch, boost::asio::any_io_executor ex, Fn fn, Done done) {
    using R = std::invoke_result_t<Fn&, store&>;
    auto answer = std::make_shared<pending_answer<R>>(std::move(ex), std::move(done));
    watch.add(answer);
    boost::asio::post(pool_, [this, &watch, answer, fn = std::move(fn)]() mutable {
      if (!answer->start()) return;  // timed out while queued: dropped
      outcome<R> out = run_on_thread<R>(fn);
      watch.remove(*answer);
      answer->finish(std::move(out));
    });
  }

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
        out.why = failure::none;
        return out;
      } catch (const store_full& e) {
        // The connection is fine (and reopening may fail on a full disk): keep it.
        out = failed_outcome<R>(failure::full, e.what());
        break;
      } catch (const store_unavailable& e) {
        drop_connection();
        out = failed_outcome<R>(failure::unreachable, e.what());
        if (fresh) break;
      } catch (const std::exception& e) {
        drop_connection();
        out = failed_outcome<R>(failure::error, e.what());
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
  deadline_watch watch_;
  deadline_watch patient_watch_;
  boost::asio::thread_pool pool_;
};

}  // namespace herald::persistence
