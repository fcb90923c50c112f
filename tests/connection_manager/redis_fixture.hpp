// Test helpers for the Redis bus and presence tests: a private redis-server started through
// deploy/lib/redis.sh, an io_context running on its own thread, and deadline-bound waiting.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace herald::test {

inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("no free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

class redis_test_server {
 public:
  redis_test_server() : port_(free_loopback_port()) {
    char tmpl[] = "/tmp/herald-redis-test.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    start();
  }
  ~redis_test_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  redis_test_server(const redis_test_server&) = delete;
  redis_test_server& operator=(const redis_test_server&) = delete;

  void start() {
    if (run("start " + dir_ + " " + std::to_string(port_) + " >/dev/null") != 0) {
      throw std::runtime_error("redis-server did not start");
    }
  }
  void stop() { run("stop " + dir_); }
  // Freezes and thaws the server process: it keeps its connections but answers nothing.
  void pause() { signal("STOP"); }
  void resume() { signal("CONT"); }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  void signal(const char* sig) {
    std::string cmd = std::string("kill -") + sig + " $(cat " + dir_ + "/redis.pid)";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot signal redis-server");
  }
  static int run(const std::string& args) {
    std::string cmd = std::string("bash ") + HERALD_SOURCE_DIR + "/deploy/lib/redis.sh " + args;
    return std::system(cmd.c_str());
  }
  int port_;
  std::string dir_;
};

// An io_context run by one thread until destruction.
class io_thread {
 public:
  io_thread() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~io_thread() { halt(); }
  // Stops the loop at once, as if the process had frozen or died.
  void halt() {
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace herald::test
