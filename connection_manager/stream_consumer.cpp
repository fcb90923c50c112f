#include "connection_manager/stream_consumer.hpp"

#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <unordered_set>
#include <vector>

#include "connection_manager/component_log.hpp"
#include "connection_manager/redis_connection.hpp"

namespace herald::cm {
namespace {

std::string str(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return std::string(r->str, r->len);
}

bool is_error(const redisReply* r) { return r == nullptr || r->type == REDIS_REPLY_ERROR; }

}  // namespace

bool stream_consumer::parse_url(const std::string& url, redis_endpoint* ep, std::string* key,
                                std::string* why) {
  const std::string scheme = "redis://";
  const auto bad = [&] {
    *why = "must be redis://HOST:PORT/KEY, got '" + url + "'";
    return false;
  };
  if (url.rfind(scheme, 0) != 0) return bad();
  const auto slash = url.find('/', scheme.size());
  if (slash == std::string::npos || slash + 1 >= url.size()) return bad();
  auto parsed = redis_endpoint::parse(url.substr(0, slash));
  if (!parsed) return bad();
  *key = url.substr(slash + 1);
  if (key->size() > 200 || key->find_first_of(" \r\n") != std::string::npos) return bad();
  *ep = *parsed;
  return true;
}

std::string stream_consumer::check_url(const std::string& url) {
  redis_endpoint ep;
  std::string key, why;
  return parse_url(url, &ep, &key, &why) ? std::string() : why;
}

struct stream_consumer::core : std::enable_shared_from_this<core> {
  using strand = redis_connection::strand;
  strand strand_;
  options opts_;
  handler on_entry_;
  std::string key_;
  std::string dead_key_;
  std::shared_ptr<redis_connection> reader_;
  std::shared_ptr<redis_connection> control_;
  boost::asio::steady_timer claim_timer_;
  std::unordered_set<std::string> held_;         // entries handed out and not yet settled
  std::deque<std::vector<std::string>> unsent_;  // settlements waiting for the control connection
  bool group_ready_ = false;
  bool reading_ = false;
  bool pending_done_ = false;  // this consumer's own pending entries were read again
  bool paused_ = false;
  bool stopped_ = false;
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> claimed_{0};

  core(boost::asio::io_context& io, options o, handler h)
      : strand_(boost::asio::make_strand(io)),
        opts_(std::move(o)),
        on_entry_(std::move(h)),
        claim_timer_(strand_) {
    redis_endpoint ep;
    std::string why;
    if (!parse_url(opts_.url, &ep, &key_, &why)) throw std::invalid_argument(why);
    dead_key_ = key_ + ":dead";
    redis_connection::options co;
    co.endpoint = ep;
    co.name = "stream reader";
    co.ping_interval = std::chrono::milliseconds(0);  // it blocks in XREADGROUP
    reader_ = std::make_shared<redis_connection>(strand_, co);
    co.name = "stream control";
    co.ping_interval = std::chrono::milliseconds(2000);
    control_ = std::make_shared<redis_connection>(strand_, co);
  }

  void update_ready() { ready_ = group_ready_ && reader_->connected() && control_->connected(); }

  void begin() {
    std::weak_ptr<core> weak = shared_from_this();
    reader_->start(
        [weak](bool) {
          if (auto c = weak.lock()) c->on_reader_up();
        },
        [weak] {
          if (auto c = weak.lock()) {
            c->group_ready_ = false;
            c->reading_ = false;
            c->update_ready();
          }
        });
    control_->start(
        [weak](bool) {
          if (auto c = weak.lock()) {
            c->update_ready();
            c->flush();
          }
        },
        [weak] {
          if (auto c = weak.lock()) c->update_ready();
        });
    arm_claim();
  }

  void end() {
    if (stopped_) return;
    stopped_ = true;
    claim_timer_.cancel();
    reader_->stop();
    control_->stop(true);  // the acks queued so far go out first
    ready_ = false;
  }

  void on_reader_up() {
    // The group from the stream's start: entries published before the first node ran count.
    reader_->command({"XGROUP", "CREATE", key_, opts_.group, "0", "MKSTREAM"},
                     [self = shared_from_this()](const redisReply* r) {
                       if (r == nullptr) return;
                       if (is_error(r) && std::string(r->str, r->len).rfind("BUSYGROUP", 0) != 0) {
                         queue_log()->warn("stream {}: XGROUP CREATE: {}", self->key_,
                                           std::string(r->str, r->len));
                         self->reader_->reset();
                         return;
                       }
                       self->group_ready_ = true;
                       self->pending_done_ = false;
                       self->update_ready();
                       queue_log()->info("stream {} consumed by group {} as {}", self->key_,
                                         self->opts_.group, self->opts_.consumer);
                       self->read_more("0");
                     });
  }

  // Hands out the entries of an XREADGROUP/XAUTOCLAIM entry array; returns the last id seen.
  std::string hand_out(const redisReply* entries, bool redelivered, std::size_t* count) {
    std::string last;
    *count = 0;
    if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY) return last;
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply* e = entries->element[i];
      if (e == nullptr || e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
      entry out;
      out.id = str(e->element[0]);
      last = out.id;
      ++*count;
      const redisReply* fields = e->element[1];
      if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY) continue;  // deleted meanwhile
      for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
        if (str(fields->element[f]) == "body") {
          out.body = str(fields->element[f + 1]);
          out.has_body = true;
          break;
        }
      }
      if (held_.count(out.id)) continue;
      out.redelivered = redelivered;
      held_.insert(out.id);
      on_entry_(std::move(out));
    }
    return last;
  }

  // Reads this consumer's own pending entries (from `after`, until none are left), then new ones.
  void read_more(std::string after = ">") {
    if (stopped_ || paused_ || reading_ || !group_ready_ || !reader_->connected()) return;
    if (!pending_done_ && after == ">") after = "0";
    const std::size_t room = held_.size() >= opts_.prefetch ? 0 : opts_.prefetch - held_.size();
    if (room == 0) return;
    reading_ = true;
    std::vector<std::string> args = {"XREADGROUP",   "GROUP", opts_.group,
                                     opts_.consumer, "COUNT", std::to_string(room)};
    if (after == ">") {
      args.push_back("BLOCK");
      args.push_back(std::to_string(opts_.block.count()));
    }
    args.push_back("STREAMS");
    args.push_back(key_);
    args.push_back(after);
    const bool own_pending = after != ">";
    reader_->command(args, [self = shared_from_this(), own_pending](const redisReply* r) {
      self->reading_ = false;
      if (r == nullptr) return;  // lost: on_reader_up starts again
      if (is_error(r)) {
        const std::string err(r->str, r->len);
        queue_log()->warn("stream {}: XREADGROUP: {}", self->key_, err);
        // NOGROUP: the stream or group was deleted; create it again.
        if (err.rfind("NOGROUP", 0) == 0) {
          self->group_ready_ = false;
          self->update_ready();
          self->on_reader_up();
        }
        return;
      }
      std::size_t n = 0;
      std::string last;
      if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        const redisReply* stream = r->element[0];
        if (stream && stream->type == REDIS_REPLY_ARRAY && stream->elements >= 2) {
          last = self->hand_out(stream->element[1], own_pending, &n);
        }
      }
      if (own_pending) {
        if (n == 0) {
          self->pending_done_ = true;
          return self->read_more(">");
        }
        return self->read_more(last);
      }
      self->read_more(">");
    });
  }

  void send(std::vector<std::string> args) {
    if (control_->connected() && unsent_.empty() && control_->command(args)) return;
    unsent_.push_back(std::move(args));
  }

  void flush() {
    while (!unsent_.empty() && control_->connected()) {
      if (!control_->command(unsent_.front())) break;
      unsent_.pop_front();
    }
  }

  void settled(const std::string& id) {
    held_.erase(id);
    read_more();
  }

  void arm_claim() {
    if (stopped_) return;
    claim_timer_.expires_after(opts_.claim_interval);
    claim_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped_) return;
      self->claim_tick();
      self->arm_claim();
    });
  }

  void claim_tick() {
    if (!group_ready_ || !control_->connected()) return;
    // Entries still being worked on here are touched (idle time reset) so no node claims them.
    if (!held_.empty()) {
      std::vector<std::string> args = {"XCLAIM", key_, opts_.group, opts_.consumer, "0"};
      for (const auto& id : held_) args.push_back(id);
      args.push_back("JUSTID");
      control_->command(args);
    }
    if (!paused_) claim_from("0-0");
  }

  void claim_from(const std::string& cursor) {
    const std::size_t room = held_.size() >= opts_.prefetch ? 0 : opts_.prefetch - held_.size();
    if (room == 0 || paused_ || stopped_) return;
    control_->command(
        {"XAUTOCLAIM", key_, opts_.group, opts_.consumer, std::to_string(opts_.claim_idle.count()),
         cursor, "COUNT", std::to_string(std::min<std::size_t>(room, 100))},
        [self = shared_from_this()](const redisReply* r) {
          if (is_error(r)) {
            if (r)
              queue_log()->warn("stream {}: XAUTOCLAIM: {}", self->key_,
                                std::string(r->str, r->len));
            return;
          }
          if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) return;
          std::size_t n = 0;
          self->hand_out(r->element[1], true, &n);
          if (n > 0) {
            self->claimed_.fetch_add(n, std::memory_order_relaxed);
            queue_log()->info("stream {}: claimed {} entries pending on a silent consumer",
                              self->key_, n);
          }
          const std::string next = str(r->element[0]);
          if (!next.empty() && next != "0-0") self->claim_from(next);
        });
  }
};

stream_consumer::stream_consumer(boost::asio::io_context& io, options opts, handler on_entry)
    : core_(std::make_shared<core>(io, std::move(opts), std::move(on_entry))) {}

stream_consumer::~stream_consumer() = default;

void stream_consumer::start() {
  boost::asio::post(core_->strand_, [c = core_] { c->begin(); });
}

void stream_consumer::pause() {
  boost::asio::post(core_->strand_, [c = core_] { c->paused_ = true; });
}

void stream_consumer::stop() {
  boost::asio::post(core_->strand_, [c = core_] { c->end(); });
}

bool stream_consumer::ready() const { return core_->ready_.load(); }
const std::string& stream_consumer::key() const { return core_->key_; }
std::uint64_t stream_consumer::claimed() const { return core_->claimed_.load(); }

void stream_consumer::ack(const std::string& id) {
  boost::asio::post(core_->strand_, [c = core_, id] {
    c->send({"XACK", c->key_, c->opts_.group, id});
    c->settled(id);
  });
}

void stream_consumer::dead(const std::string& id, std::string body, std::string error) {
  boost::asio::post(core_->strand_,
                    [c = core_, id, body = std::move(body), error = std::move(error)]() mutable {
                      c->send({"XADD", c->dead_key_, "*", "body", std::move(body), "error",
                               std::move(error), "id", id});
                      c->send({"XACK", c->key_, c->opts_.group, id});
                      c->settled(id);
                    });
}

void stream_consumer::release(const std::string& id) {
  boost::asio::post(core_->strand_, [c = core_, id] { c->held_.erase(id); });
}

}  // namespace herald::cm
