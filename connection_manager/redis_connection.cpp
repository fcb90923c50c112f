#include "connection_manager/redis_connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/bind_executor.hpp>

#include "connection_manager/component_log.hpp"

namespace herald::cm {
namespace {

redis_connection* self_of(void* p) { return static_cast<redis_connection*>(p); }

// A peer that vanishes without a FIN (host down, cable cut) is noticed within about 11 s.
void enable_keepalive(int fd) {
  int on = 1;
  int idle = 5;
  int interval = 2;
  int count = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

}  // namespace

redis_connection::redis_connection(strand ex, options opts)
    : strand_(std::move(ex)),
      opts_(std::move(opts)),
      resolver_(strand_),
      retry_timer_(strand_),
      connect_timer_(strand_),
      ping_timer_(strand_),
      backoff_(opts_.backoff_min),
      jitter_(std::random_device{}()) {}

redis_connection::~redis_connection() {
  stopped_ = true;
  on_up_ = nullptr;
  on_down_ = nullptr;
  push_handler_ = nullptr;
  if (ac_ != nullptr) {
    auto* ac = ac_;
    redisAsyncFree(ac);  // runs the cleanup hook, which releases (never closes) the socket
    ac_ = nullptr;
  }
  release_socket();
}

void redis_connection::start(std::function<void(bool)> on_up, std::function<void()> on_down) {
  if (started_ || stopped_) return;
  started_ = true;
  on_up_ = std::move(on_up);
  on_down_ = std::move(on_down);
  resolve();
}

void redis_connection::stop(bool graceful) {
  if (stopped_) return;
  stopped_ = true;
  on_up_ = nullptr;
  on_down_ = nullptr;
  push_handler_ = nullptr;
  retry_timer_.cancel();
  ping_timer_.cancel();
  resolver_.cancel();
  if (ac_ == nullptr) return;
  if (graceful && connected()) {
    redisAsyncDisconnect(ac_);  // frees the context once the replies in flight have come
    if (ac_ == nullptr) return;
    connect_timer_.expires_after(std::chrono::seconds(1));
    connect_timer_.async_wait(boost::asio::bind_executor(
        strand_, [self = shared_from_this(), gen = generation_](boost::system::error_code ec) {
          if (ec || gen != self->generation_ || self->ac_ == nullptr) return;
          auto* ac = self->ac_;
          redisAsyncFree(ac);
          self->lost();
        }));
    return;
  }
  connect_timer_.cancel();
  auto* ac = ac_;
  redisAsyncFree(ac);
  lost();
}

void redis_connection::reset() {
  if (ac_ == nullptr) return;
  auto* ac = ac_;
  redisAsyncFree(ac);  // deferred by hiredis when called from one of its callbacks
  lost();
}

bool redis_connection::command(const std::vector<std::string>& args, reply_handler done) {
  if (ac_ == nullptr || !connected() || args.empty()) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* handler = done ? new reply_handler(std::move(done)) : nullptr;
  int rc = redisAsyncCommandArgv(ac_, handler != nullptr ? &on_reply : nullptr, handler,
                                 static_cast<int>(argv.size()), argv.data(), lens.data());
  if (rc != REDIS_OK) {
    delete handler;
    return false;
  }
  return true;
}

bool redis_connection::subscription_command(const std::vector<std::string>& args) {
  if (ac_ == nullptr || !connected() || args.empty()) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAsyncCommandArgv(ac_, &on_push, this, static_cast<int>(argv.size()), argv.data(),
                               lens.data()) == REDIS_OK;
}

void redis_connection::resolve() {
  if (stopped_) return;
  resolver_.async_resolve(
      opts_.endpoint.host, std::to_string(opts_.endpoint.port),
      boost::asio::bind_executor(
          strand_, [self = shared_from_this()](boost::system::error_code ec,
                                               boost::asio::ip::tcp::resolver::results_type r) {
            if (self->stopped_) return;
            if (ec || r.empty()) {
              if (!self->had_trouble_) {
                redis_log()->warn("{}: cannot resolve {}: {}", self->opts_.name,
                                  self->opts_.endpoint.host, ec.message());
              }
              self->had_trouble_ = true;
              self->schedule_retry();
              return;
            }
            self->open(r.begin()->endpoint().address().to_string());
          }));
}

void redis_connection::open(const std::string& address) {
  redisAsyncContext* ac = redisAsyncConnect(address.c_str(), opts_.endpoint.port);
  if (ac == nullptr || ac->err != 0) {
    if (!had_trouble_) {
      redis_log()->warn("{}: cannot connect to {}:{}: {}", opts_.name, address, opts_.endpoint.port,
                        ac != nullptr ? ac->errstr : "out of memory");
    }
    if (ac != nullptr) redisAsyncFree(ac);
    had_trouble_ = true;
    schedule_retry();
    return;
  }
  ++generation_;
  want_read_ = want_write_ = read_armed_ = write_armed_ = false;
  socket_ = std::make_unique<boost::asio::posix::stream_descriptor>(strand_);
  boost::system::error_code ec;
  socket_->assign(ac->c.fd, ec);
  if (ec) {
    socket_.reset();
    redisAsyncFree(ac);
    had_trouble_ = true;
    schedule_retry();
    return;
  }
  ac_ = ac;
  ac->data = this;
  ac->ev.data = this;
  ac->ev.addRead = &on_add_read;
  ac->ev.delRead = &on_del_read;
  ac->ev.addWrite = &on_add_write;
  ac->ev.delWrite = &on_del_write;
  ac->ev.cleanup = &on_cleanup;
  redisAsyncSetDisconnectCallback(ac, &on_disconnect);
  redisAsyncSetConnectCallback(ac, &on_connect);  // waits for writability: the connect's end

  connect_timer_.expires_after(opts_.connect_timeout);
  connect_timer_.async_wait(boost::asio::bind_executor(
      strand_, [self = shared_from_this(), gen = generation_](boost::system::error_code e) {
        if (e || gen != self->generation_ || self->ac_ == nullptr || self->connected()) return;
        if (!self->had_trouble_) redis_log()->warn("{}: connect timed out", self->opts_.name);
        self->reset();
      }));
}

void redis_connection::arm_read() {
  if (read_armed_ || !socket_ || !socket_->is_open()) return;
  auto self = weak_from_this().lock();
  if (!self) return;
  read_armed_ = true;
  socket_->async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      boost::asio::bind_executor(strand_, [self, gen = generation_](boost::system::error_code ec) {
        if (gen != self->generation_) return;
        self->read_armed_ = false;
        if (ec || self->ac_ == nullptr || !self->want_read_) return;
        redisAsyncHandleRead(self->ac_);  // may free the context: re-check after
        if (gen == self->generation_ && self->ac_ != nullptr && self->want_read_) {
          self->arm_read();
        }
      }));
}

void redis_connection::arm_write() {
  if (write_armed_ || !socket_ || !socket_->is_open()) return;
  auto self = weak_from_this().lock();
  if (!self) return;
  write_armed_ = true;
  socket_->async_wait(
      boost::asio::posix::stream_descriptor::wait_write,
      boost::asio::bind_executor(strand_, [self, gen = generation_](boost::system::error_code ec) {
        if (gen != self->generation_) return;
        self->write_armed_ = false;
        if (ec || self->ac_ == nullptr || !self->want_write_) return;
        redisAsyncHandleWrite(self->ac_);
        if (gen == self->generation_ && self->ac_ != nullptr && self->want_write_) {
          self->arm_write();
        }
      }));
}

void redis_connection::release_socket() {
  want_read_ = want_write_ = false;
  // hiredis owns the descriptor and closes it; Asio only stops watching it.
  if (socket_ && socket_->is_open()) socket_->release();
}

void redis_connection::lost() {
  if (ac_ == nullptr) return;
  ac_ = nullptr;
  connect_timer_.cancel();
  ping_timer_.cancel();
  had_trouble_ = true;
  if (connected_.exchange(false, std::memory_order_acq_rel)) {
    if (!stopped_) redis_log()->warn("{}: connection to Redis lost", opts_.name);
    if (on_down_) on_down_();
  }
  schedule_retry();
}

void redis_connection::schedule_retry() {
  if (stopped_) return;
  auto base = backoff_;
  backoff_ = std::min(backoff_ * 2, opts_.backoff_max);
  std::uniform_int_distribution<long> extra(0, std::max<long>(1, base.count() / 4));
  retry_timer_.expires_after(base + std::chrono::milliseconds(extra(jitter_)));
  retry_timer_.async_wait(boost::asio::bind_executor(
      strand_, [self = shared_from_this()](boost::system::error_code ec) {
        if (ec || self->stopped_) return;
        self->resolve();
      }));
}

void redis_connection::schedule_ping() {
  if (opts_.ping_interval.count() <= 0) return;
  ping_timer_.expires_after(opts_.ping_interval);
  ping_timer_.async_wait(boost::asio::bind_executor(
      strand_, [self = shared_from_this(), gen = generation_](boost::system::error_code ec) {
        if (ec || gen != self->generation_ || !self->connected()) return;
        if (self->unanswered_pings_ >= 2) {
          redis_log()->warn("{}: Redis stopped answering; reconnecting", self->opts_.name);
          self->reset();
          return;
        }
        ++self->unanswered_pings_;
        std::weak_ptr<redis_connection> weak = self;
        self->command({"PING"}, [weak, gen](const redisReply* r) {
          auto s = weak.lock();
          if (s && r != nullptr && gen == s->generation_) s->unanswered_pings_ = 0;
        });
        self->schedule_ping();
      }));
}

void redis_connection::on_add_read(void* p) {
  self_of(p)->want_read_ = true;
  self_of(p)->arm_read();
}

void redis_connection::on_del_read(void* p) { self_of(p)->want_read_ = false; }

void redis_connection::on_add_write(void* p) {
  self_of(p)->want_write_ = true;
  self_of(p)->arm_write();
}

void redis_connection::on_del_write(void* p) { self_of(p)->want_write_ = false; }

void redis_connection::on_cleanup(void* p) { self_of(p)->release_socket(); }

void redis_connection::on_connect(const redisAsyncContext* ac, int status) {
  auto* self = self_of(ac->data);
  if (status != REDIS_OK) {
    if (!self->had_trouble_) {
      redis_log()->warn("{}: cannot connect to Redis: {}", self->opts_.name,
                        ac->errstr != nullptr ? ac->errstr : "unknown error");
    }
    self->lost();  // hiredis frees the context after this returns
    return;
  }
  enable_keepalive(ac->c.fd);
  self->connected_.store(true, std::memory_order_release);
  self->connect_timer_.cancel();
  self->backoff_ = self->opts_.backoff_min;
  self->unanswered_pings_ = 0;
  bool resumed = self->had_trouble_;
  self->had_trouble_ = false;
  if (resumed) redis_log()->info("{}: connected to Redis again", self->opts_.name);
  if (!self->opts_.endpoint.password.empty()) {
    std::weak_ptr<redis_connection> weak = self->weak_from_this();
    self->command({"AUTH", self->opts_.endpoint.password}, [weak](const redisReply* r) {
      auto s = weak.lock();
      if (s && r != nullptr && r->type == REDIS_REPLY_ERROR) {
        redis_log()->error("{}: Redis refused AUTH: {}", s->opts_.name, r->str);
        s->reset();
      }
    });
  }
  self->schedule_ping();
  if (self->on_up_) self->on_up_(resumed);
}

void redis_connection::on_disconnect(const redisAsyncContext* ac, int) {
  self_of(ac->data)->lost();
}

void redis_connection::on_reply(redisAsyncContext*, void* reply, void* handler) {
  std::unique_ptr<reply_handler> h(static_cast<reply_handler*>(handler));
  try {
    (*h)(static_cast<const redisReply*>(reply));
  } catch (const std::exception& e) {
    redis_log()->error("Redis reply handler threw: {}", e.what());
  }
}

void redis_connection::on_push(redisAsyncContext*, void* reply, void* p) {
  auto* self = self_of(p);
  if (reply == nullptr || !self->push_handler_) return;  // nullptr: the context is going away
  try {
    self->push_handler_(*static_cast<const redisReply*>(reply));
  } catch (const std::exception& e) {
    redis_log()->error("{}: message handler threw: {}", self->opts_.name, e.what());
  }
}

}  // namespace herald::cm
