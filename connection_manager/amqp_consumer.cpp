#include "connection_manager/amqp_consumer.hpp"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "connection_manager/component_log.hpp"

namespace herald::cm {
namespace {

struct parsed_url {
  std::string user, password, host, vhost;
  int port = 5672;
};

std::optional<parsed_url> parse(const std::string& url, std::string* why) {
  if (url.rfind("amqp://", 0) != 0) {
    *why = "must be amqp://USER:PASS@HOST:PORT/VHOST, got '" + url + "'";
    return std::nullopt;
  }
  std::vector<char> buf(url.begin(), url.end());
  buf.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK || info.host == nullptr || !*info.host) {
    *why = "must be amqp://USER:PASS@HOST:PORT/VHOST, got '" + url + "'";
    return std::nullopt;
  }
  parsed_url p;
  p.user = info.user ? info.user : "guest";
  p.password = info.password ? info.password : "guest";
  p.host = info.host;
  p.vhost = info.vhost && *info.vhost ? info.vhost : "/";
  p.port = info.port;
  if (p.port < 1 || p.port > 65535) {
    *why = "has a port outside 1..65535: '" + url + "'";
    return std::nullopt;
  }
  return p;
}

std::string text(amqp_bytes_t b) {
  return b.len ? std::string(static_cast<const char*>(b.bytes), b.len) : std::string();
}

// A readable reason for an RPC reply that is not normal.
std::string describe(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        return "connection closed by the broker: " + std::to_string(m->reply_code) + " " +
               text(m->reply_text);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return "channel closed by the broker: " + std::to_string(m->reply_code) + " " +
               text(m->reply_text);
      }
      return "broker error";
  }
  return "unknown";
}

bool ok(amqp_connection_state_t c, const char* what, std::string* why) {
  const auto r = amqp_get_rpc_reply(c);
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return true;
  *why = std::string(what) + ": " + describe(r);
  return false;
}

bool is_channel_close(const amqp_rpc_reply_t& r) {
  return r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD;
}

}  // namespace

struct amqp_consumer::connection {
  amqp_connection_state_t state = nullptr;
  ~connection() {
    if (state) {
      amqp_destroy_connection(state);  // closes the socket
    }
  }
};

std::string amqp_consumer::check_url(const std::string& url) {
  std::string why;
  return parse(url, &why) ? std::string() : why;
}

amqp_consumer::amqp_consumer(options opts, handler on_delivery)
    : opts_(std::move(opts)), on_delivery_(std::move(on_delivery)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
}

amqp_consumer::~amqp_consumer() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void amqp_consumer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void amqp_consumer::stop() {
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
}

void amqp_consumer::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void amqp_consumer::settle(const delivery& d, bool reject, std::string reply) {
  settlement s{d.generation, d.tag, reject, {}, {}, {}};
  if (!d.reply_to.empty()) {
    s.reply_to = d.reply_to;
    s.correlation_id = d.correlation_id;
    s.reply = std::move(reply);
  }
  bool first = false;
  {
    std::lock_guard lock(mu_);
    first = settlements_.empty();
    settlements_.push_back(std::move(s));
  }
  // One wake per batch: until the thread takes the queue, the eventfd it was woken by is set.
  if (first) wake();
}

void amqp_consumer::sleep_backoff(std::chrono::milliseconds d) {
  pollfd p{wake_fd_, POLLIN, 0};
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stopping_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    ::poll(&p, 1, static_cast<int>(left.count()));
    std::uint64_t v;
    [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
  }
}

void amqp_consumer::run() {
  std::minstd_rand jitter(std::random_device{}());
  auto backoff = opts_.backoff_min;
  while (!stopping_) {
    connection c;
    const auto began = std::chrono::steady_clock::now();
    const bool was_up = session(c);
    ready_ = false;
    generation_.fetch_add(1, std::memory_order_acq_rel);  // its deliveries can no longer be settled
    {
      std::lock_guard lock(mu_);
      settlements_.clear();
    }
    if (stopping_) break;
    if (was_up && std::chrono::steady_clock::now() - began > std::chrono::seconds(10)) {
      backoff = opts_.backoff_min;  // a connection that lived a while: retry soon
    }
    const auto spread = std::uniform_int_distribution<long>(0, backoff.count() / 2)(jitter);
    sleep_backoff(backoff + std::chrono::milliseconds(spread));
    backoff = std::min(opts_.backoff_max, backoff * 2);
  }
}

bool amqp_consumer::session(connection& c) {
  std::string why;
  const auto url = parse(opts_.url, &why);
  if (!url) return false;
  auto fail = [&](const std::string& reason) {
    queue_log()->warn("AMQP {}:{} queue {}: {}", url->host, url->port, opts_.queue, reason);
    return false;
  };
  c.state = amqp_new_connection();
  amqp_socket_t* sock = amqp_tcp_socket_new(c.state);
  if (!sock) return fail("cannot create a socket");
  timeval connect_timeout{3, 0};
  if (int st = amqp_socket_open_noblock(sock, url->host.c_str(), url->port, &connect_timeout);
      st != AMQP_STATUS_OK) {
    return fail(std::string("cannot connect: ") + amqp_error_string2(st));
  }
  const auto login =
      amqp_login(c.state, url->vhost.c_str(), 0, 131072, static_cast<int>(opts_.heartbeat_s),
                 AMQP_SASL_METHOD_PLAIN, url->user.c_str(), url->password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) return fail("login: " + describe(login));
  // A passive declare first, on a channel of its own: an existing queue keeps its arguments
  // (a dead-letter exchange, say), which a plain declare would contradict.
  amqp_channel_open(c.state, 2);
  if (!ok(c.state, "channel.open", &why)) return fail(why);
  const auto q = amqp_cstring_bytes(opts_.queue.c_str());
  amqp_queue_declare(c.state, 2, q, 1, 0, 0, 0, amqp_empty_table);
  const auto passive = amqp_get_rpc_reply(c.state);
  if (passive.reply_type == AMQP_RESPONSE_NORMAL) {
    amqp_channel_close(c.state, 2, AMQP_REPLY_SUCCESS);
  } else if (is_channel_close(passive)) {
    amqp_channel_close_ok_t close_ok{};
    amqp_send_method(c.state, 2, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
  } else {
    return fail("queue.declare: " + describe(passive));
  }
  amqp_channel_open(c.state, 1);
  if (!ok(c.state, "channel.open", &why)) return fail(why);
  if (passive.reply_type != AMQP_RESPONSE_NORMAL) {
    amqp_queue_declare(c.state, 1, q, 0, 1, 0, 0, amqp_empty_table);
    if (!ok(c.state, "queue.declare", &why)) return fail(why);
    queue_log()->info("AMQP queue {} declared (durable)", opts_.queue);
  }
  amqp_basic_qos(c.state, 1, 0, static_cast<std::uint16_t>(std::min(opts_.prefetch, 65535u)), 0);
  if (!ok(c.state, "basic.qos", &why)) return fail(why);
  amqp_basic_consume(c.state, 1, q, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  if (!ok(c.state, "basic.consume", &why)) return fail(why);

  const std::uint64_t gen = generation_.load(std::memory_order_acquire);
  connects_.fetch_add(1, std::memory_order_relaxed);
  ready_ = true;
  queue_log()->info("AMQP {}:{} consuming queue {} (prefetch {})", url->host, url->port,
                    opts_.queue, opts_.prefetch);

  using clock = std::chrono::steady_clock;
  const auto heartbeat = std::chrono::seconds(opts_.heartbeat_s);
  auto last_sent = clock::now();
  auto last_received = clock::now();
  const int fd = amqp_get_sockfd(c.state);
  std::deque<settlement> batch;
  // Delivery tags of this connection not settled yet (paused deliveries stay in it).
  std::set<std::uint64_t> unsettled;
  std::vector<std::uint64_t> acks;
  // Publishes the replies and sends the acks queued so far; false when the connection broke.
  // Acks below the lowest unsettled tag go out as one `multiple` ack (it settles exactly
  // those: every tag under it is settled), the others one by one.
  auto sent = [&](int st) {
    if (st == AMQP_STATUS_OK) {
      last_sent = clock::now();
      return true;
    }
    queue_log()->warn("AMQP settle: {}", amqp_error_string2(st));
    batch.clear();
    return false;
  };
  auto flush = [&]() {
    {
      std::lock_guard lock(mu_);
      batch.swap(settlements_);
    }
    acks.clear();
    for (auto& s : batch) {
      if (s.generation != gen) continue;
      unsettled.erase(s.tag);
      if (!s.reply_to.empty()) {
        amqp_basic_properties_t props{};
        props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
        props.content_type = amqp_cstring_bytes("application/json");
        props.delivery_mode = 2;
        if (!s.correlation_id.empty()) {
          props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
          props.correlation_id = amqp_bytes_t{s.correlation_id.size(), s.correlation_id.data()};
        }
        amqp_bytes_t body{s.reply.size(), s.reply.data()};
        amqp_basic_publish(c.state, 1, amqp_empty_bytes, amqp_cstring_bytes(s.reply_to.c_str()), 0,
                           0, &props, body);
      }
      if (!s.reject) {
        acks.push_back(s.tag);
        continue;
      }
      if (!sent(amqp_basic_reject(c.state, 1, s.tag, 0))) return false;
    }
    batch.clear();
    const std::uint64_t floor =
        unsettled.empty() ? std::numeric_limits<std::uint64_t>::max() : *unsettled.begin();
    std::uint64_t upto = 0;
    for (const auto tag : acks) {
      if (tag < floor) {
        upto = std::max(upto, tag);
      } else if (!sent(amqp_basic_ack(c.state, 1, tag, 0))) {
        return false;
      }
    }
    return upto == 0 || sent(amqp_basic_ack(c.state, 1, upto, 1));
  };
  while (!stopping_) {
    if (!flush()) return true;

    if (!amqp_frames_enqueued(c.state) && !amqp_data_in_buffer(c.state)) {
      pollfd p[2] = {{fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      ::poll(p, 2, 1000);
      if (p[1].revents & POLLIN) {
        std::uint64_t v;
        [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof v);
      }
      const auto now = clock::now();
      // Any bytes count as life: the broker's heartbeat frames are consumed inside rabbitmq-c.
      if (p[0].revents & POLLIN) last_received = now;
      if (now - last_sent >= heartbeat / 2) {
        amqp_frame_t hb{};
        hb.frame_type = AMQP_FRAME_HEARTBEAT;
        hb.channel = 0;
        if (amqp_send_frame(c.state, &hb) != AMQP_STATUS_OK) {
          queue_log()->warn("AMQP connection lost (heartbeat not sent)");
          return true;
        }
        last_sent = now;
      }
      if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        if (now - last_received > heartbeat * 3) {
          queue_log()->warn("AMQP broker silent for {} s: reconnecting", (heartbeat * 3).count());
          return true;
        }
        continue;
      }
    }
    amqp_maybe_release_buffers(c.state);
    amqp_envelope_t env;
    timeval zero{0, 0};
    const auto r = amqp_consume_message(c.state, &env, &zero, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
      last_received = clock::now();
      delivery d;
      d.generation = gen;
      d.tag = env.delivery_tag;
      unsettled.insert(d.tag);
      d.redelivered = env.redelivered != 0;
      d.body = text(env.message.body);
      const auto& pr = env.message.properties;
      if (pr._flags & AMQP_BASIC_MESSAGE_ID_FLAG) d.message_id = text(pr.message_id);
      if (pr._flags & AMQP_BASIC_REPLY_TO_FLAG) d.reply_to = text(pr.reply_to);
      if (pr._flags & AMQP_BASIC_CORRELATION_ID_FLAG) d.correlation_id = text(pr.correlation_id);
      amqp_destroy_envelope(&env);
      // Paused (draining): the delivery stays unacked and returns to the queue at close.
      if (!paused_) on_delivery_(std::move(d));
      continue;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
      continue;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      // A frame other than a delivery: heartbeats are handled inside; a close or a cancel ends
      // this connection.
      amqp_frame_t frame;
      if (amqp_simple_wait_frame_noblock(c.state, &frame, &zero) != AMQP_STATUS_OK) continue;
      last_received = clock::now();
      if (frame.frame_type == AMQP_FRAME_METHOD) {
        switch (frame.payload.method.id) {
          case AMQP_CONNECTION_CLOSE_METHOD:
            queue_log()->warn("AMQP connection closed by the broker");
            return true;
          case AMQP_CHANNEL_CLOSE_METHOD:
            queue_log()->warn("AMQP channel closed by the broker");
            return true;
          case AMQP_BASIC_CANCEL_METHOD:
            queue_log()->warn("AMQP consumer cancelled by the broker (queue deleted?)");
            return true;
          default:
            break;
        }
      }
      continue;
    }
    queue_log()->warn("AMQP connection lost: {}", describe(r));
    return true;
  }
  // Stopping: what was settled goes out; a clean close returns the rest to the queue at once.
  ready_ = false;
  if (!flush()) return true;
  amqp_channel_close(c.state, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c.state, AMQP_REPLY_SUCCESS);
  return true;
}

}  // namespace herald::cm
