// Runs blocking store calls off the I/O threads. Each pool thread owns one store_connection
// (opened lazily, reopened after a failure: the pool survives a database restart). Results
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
#include "persistence/store_connection.hpp"

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
      outcome<R> out = connection().call(fn);
      watch.remove(*answer);
      answer->finish(std::move(out));
    });
  }

  // This pool thread's connection (store_connection.hpp: opened lazily, checked when idle,
  // dropped on failure, one retry on a fresh connection).
  store_connection& connection();

  std::string url_;
  deadline_watch watch_;
  deadline_watch patient_watch_;
  boost::asio::thread_pool pool_;
};

}  // namespace herald::persistence
