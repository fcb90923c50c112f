#include "bench/worker_pool.hpp"

#include "bench/process_probe.hpp"
#include "bench/worker.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <stdexcept>

namespace herald::bench {

namespace asio = boost::asio;
using nlohmann::json;

worker_pool::worker_pool(const bench_options& options) : options_(options) {
  std::cout.flush();
  std::cerr.flush();
  for (int w = 0; w < options.workers; ++w) {
    int to_worker[2], from_worker[2];
    if (::pipe(to_worker) != 0 || ::pipe(from_worker) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // The child keeps only its own two pipe ends.
      for (int fd : read_fds_) ::close(fd);
      for (int fd : write_fds_) ::close(fd);
      ::close(to_worker[1]);
      ::close(from_worker[0]);
      int code = 1;
      try {
        worker child(w, options, to_worker[0], from_worker[1]);
        code = child.run();
      } catch (const std::exception& e) {
        std::cerr << "herald-bench worker " << w << ": " << e.what() << "\n";
      }
      std::cerr.flush();
      ::_exit(code);
    }
    ::close(to_worker[0]);
    ::close(from_worker[1]);
    pids_.push_back(pid);
    read_fds_.push_back(from_worker[0]);
    write_fds_.push_back(to_worker[1]);
  }
}

worker_pool::~worker_pool() { shutdown(); }

void worker_pool::start(asio::any_io_executor ex) {
  wake_ = std::make_unique<asio::steady_timer>(ex);
  inbox_.resize(pids_.size());
  for (std::size_t w = 0; w < pids_.size(); ++w) {
    channels_.push_back(std::make_unique<pipe_channel>(ex, read_fds_[w], write_fds_[w]));
    asio::co_spawn(ex, read_loop(static_cast<int>(w)), asio::detached);
  }
}

void worker_pool::send(int worker, const json& command) { channels_.at(worker)->send(command); }

void worker_pool::send_all(const json& command) {
  for (auto& c : channels_) c->send(command);
}

asio::awaitable<void> worker_pool::read_loop(int worker) {
  for (;;) {
    auto message = co_await channels_[worker]->read();
    if (!message) {
      if (!shut_) std::cerr << "herald-bench: worker " << worker << " went away\n";
      co_return;
    }
    if (message->value("ev", "") == "error")
      std::cerr << "herald-bench: worker " << worker << ": " << message->value("message", "")
                << "\n";
    inbox_[worker].push_back(std::move(*message));
    wake_->cancel();
  }
}

asio::awaitable<std::vector<json>> worker_pool::gather(const std::string& ev,
                                                       std::int64_t deadline_ns,
                                                       std::function<bool(const json&)> match) {
  std::vector<json> got(pids_.size());
  std::size_t have = 0;
  for (;;) {
    for (std::size_t w = 0; w < pids_.size(); ++w) {
      if (!got[w].is_null()) continue;
      auto& queue = inbox_[w];
      for (auto it = queue.begin(); it != queue.end();) {
        if (it->value("ev", "") != ev) {
          ++it;
          continue;
        }
        if (match && !match(*it)) {  // a stale report of the same kind: drop it
          it = queue.erase(it);
          continue;
        }
        got[w] = std::move(*it);
        queue.erase(it);
        ++have;
        break;
      }
    }
    const std::int64_t now = monotonic_ns();
    if (have == pids_.size() || now >= deadline_ns) co_return got;
    wake_->expires_after(std::chrono::nanoseconds(deadline_ns - now));
    boost::system::error_code ec;
    co_await wake_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void worker_pool::shutdown() {
  if (shut_) return;
  shut_ = true;
  for (std::size_t w = 0; w < channels_.size(); ++w) {
    try {
      channels_[w]->send({{"cmd", "exit"}});
    } catch (const std::exception&) {
    }
  }
  channels_.clear();
  for (pid_t pid : pids_) {
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid, &status, WNOHANG) != 0) break;
      if (i == 50) ::kill(pid, SIGTERM);
      ::usleep(100'000);
    }
  }
}

}  // namespace herald::bench
