#include "gateway/listener.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>

#include "gateway/http_session.hpp"
#include "gateway/pending_connections.hpp"
#include "gateway/server.hpp"

namespace herald::gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto accept_pause = std::chrono::milliseconds(100);
constexpr auto log_interval = std::chrono::seconds(1);
constexpr std::size_t shed_batch = 16;  // shed per event of descriptor pressure

int open_spare() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

std::size_t open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<std::size_t>(rl.rlim_cur);
}

bool out_of_fds(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors ||
         ec == boost::system::errc::too_many_files_open_in_system;
}
}  // namespace

listener::listener(server& srv, asio::io_context& ctx, const endpoint& at, kind k)
    : srv_(srv),
      acceptor_(ctx),
      kind_(k),
      pending_(std::make_shared<pending_connections>(srv.cfg().max_pending_connections,
                                                     srv.cfg().max_connections_per_ip)),
      pause_(ctx),
      spare_fd_(open_spare()),
      fd_limit_(open_file_limit()) {
  const char* key = k == kind::public_api ? "HERALD_PUBLIC_ADDR" : "HERALD_INTERNAL_ADDR";
  boost::system::error_code ec;
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(at.host, std::to_string(at.port), tcp::resolver::passive, ec);
  if (ec || results.empty())
    throw config_error(std::string(key) + ": cannot resolve '" + at.host + "'");
  const tcp::endpoint ep = results.begin()->endpoint();
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  // Synchronous accepts (with the spare descriptor) must never block the I/O thread.
  if (!ec) acceptor_.non_blocking(true, ec);
  if (ec)
    throw config_error(std::string(key) + ": cannot listen on " + at.str() + ": " + ec.message());
}

listener::~listener() {
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

void listener::start() { accept(); }

void listener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  pause_.cancel();
}

void listener::accept() {
  // Spread connections over the I/O threads; a WebSocket later moves to its user's shard.
  auto& ctx = srv_.registry().context(next_++ % srv_.registry().shard_count());
  acceptor_.async_accept(ctx,
                         [self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
                           self->on_accept(ec, std::move(s));
                         });
}

void listener::on_accept(boost::system::error_code ec, tcp::socket s) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (out_of_fds(ec)) {
    out_of_descriptors();
    return;  // accepting resumes after the pause
  }
  if (!ec) admit(std::move(s));
  accept();
}

void listener::admit(tcp::socket s) {
  const std::size_t reserve = srv_.cfg().reserved_fds;
  if (kind_ == kind::public_api && fd_limit_ > 0 && reserve > 0 &&
      static_cast<std::size_t>(s.native_handle()) + reserve >= fd_limit_) {
    // Descriptors are handed out lowest first: this one being this high means at most
    // `reserve` are left. Keep them for the internal listener; make room on the public side.
    ++srv_.stats().connections_refused_fds;
    ++unlogged_refused_;
    s.close();
    shed_oldest(1);  // room for the next one
    note("the public listener is full");
    return;
  }
  boost::system::error_code ec;
  const auto peer = s.remote_endpoint(ec);
  if (ec) return;  // the peer already left
  s.set_option(tcp::no_delay(true), ec);
  auto session = std::make_shared<http_session>(srv_, std::move(s), kind_);
  auto admission = pending_->add(session, peer.address());
  for (auto& old : admission.evicted) {
    if (auto o = old.lock()) {
      o->shed();
      ++srv_.stats().connections_shed;
    }
  }
  if (admission.v == pending_connections::verdict::address_full) {
    ++srv_.stats().connections_refused_per_ip;
    return;  // the session is dropped unstarted: its socket closes
  }
  session->run(pending_, admission.id);
}

std::size_t listener::shed_oldest(std::size_t n) {
  std::size_t shed = 0;
  for (auto& w : pending_->take_oldest(n)) {
    if (auto s = w.lock()) {
      s->shed();
      ++shed;
    }
  }
  srv_.stats().connections_shed += shed;
  unlogged_shed_ += shed;
  return shed;
}

void listener::out_of_descriptors() {
  ++srv_.stats().accept_pauses;
  ++unlogged_pauses_;
  // Give up the spare descriptor to take one waiting connection off the queue (else the
  // listening socket stays readable and accept() would fail again at once). The internal
  // listener serves it; the public one closes it.
  if (spare_fd_ >= 0) {
    ::close(spare_fd_);
    spare_fd_ = -1;
    auto& ctx = srv_.registry().context(next_++ % srv_.registry().shard_count());
    boost::system::error_code ec;
    tcp::socket s = acceptor_.accept(ctx, ec);
    if (!ec) {
      if (kind_ == kind::internal_api) {
        admit(std::move(s));
      } else {
        s.close();
      }
    }
  }
  // Make room on the public side (the internal listener keeps its own connections: one of
  // them may be the health check just taken off the queue).
  if (kind_ == kind::public_api) shed_oldest(shed_batch);
  if (shed_also_) shed_also_->shed_oldest(shed_batch);
  note("accept: out of file descriptors");
  pause_.expires_after(accept_pause);
  pause_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || !self->acceptor_.is_open()) return;
    if (self->spare_fd_ < 0) self->spare_fd_ = open_spare();
    self->accept();
  });
}

void listener::note(const char* what) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_log_ < log_interval) return;
  last_log_ = now;
  server::log()->warn(
      "{} ({} listener): {} accept pauses, {} connections refused, {} shed since the last report",
      what, kind_ == kind::public_api ? "public" : "internal", unlogged_pauses_, unlogged_refused_,
      unlogged_shed_);
  unlogged_pauses_ = unlogged_refused_ = unlogged_shed_ = 0;
}

}  // namespace herald::gateway
