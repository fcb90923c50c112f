#include "connection_manager/redis_bus.hpp"

#include <hiredis/hiredis.h>

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "connection_manager/component_log.hpp"
#include "connection_manager/event_codec.hpp"
#include "connection_manager/redis_connection.hpp"
#include "connection_manager/redis_endpoint.hpp"

namespace herald::cm {
namespace {

std::string_view reply_text(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return {r->str, r->len};
}

}  // namespace

// Everything the strand's handlers touch; shared so that late handlers stay safe.
struct redis_bus::core : std::enable_shared_from_this<redis_bus::core> {
  enum class sub_state : std::uint8_t { none, subscribing, subscribed, unsubscribing };
  struct channel {
    bool wanted = false;
    sub_state state = sub_state::none;
    std::chrono::steady_clock::time_point idle_since;
  };

  core(boost::asio::io_context& io, options o)
      : strand_(boost::asio::make_strand(io)),
        opts_(std::move(o)),
        sweep_timer_(strand_),
        settle_timer_(strand_),
        heartbeat_timer_(strand_) {
    auto ep = redis_endpoint::parse(opts_.url);
    if (!ep) throw std::invalid_argument("HERALD_BUS: not a redis://host:port URL");
    if (opts_.node_id.empty()) throw std::invalid_argument("HERALD_NODE_ID: empty");
    all_channel_ = opts_.prefix + "bus:all";
    resync_channel_ = opts_.prefix + "bus:resync";
    fence_channel_ = opts_.prefix + "bus:fence";
    user_channel_prefix_ = opts_.prefix + "bus:user:";
    redis_connection::options co;
    co.endpoint = *ep;
    co.backoff_min = opts_.backoff_min;
    co.backoff_max = opts_.backoff_max;
    co.name = "bus publisher";
    co.ping_interval = opts_.ping_interval;
    pub_ = std::make_shared<redis_connection>(strand_, co);
    co.name = "bus subscriber";
    co.ping_interval = std::chrono::milliseconds(0);
    sub_ = std::make_shared<redis_connection>(strand_, co);
  }

  std::string user_channel(std::uint64_t user) const {
    return user_channel_prefix_ + std::to_string(user);
  }

  // --- strand only -------------------------------------------------------------------------

  void begin() {
    std::weak_ptr<core> weak = shared_from_this();
    // The subscriber cannot PING; when the publisher finds Redis unresponsive, both go. A
    // publisher back after trouble lost what it published meanwhile: the other nodes resync.
    pub_->start(
        [weak](bool resumed) {
          auto c = weak.lock();
          if (c && resumed) c->pub_->command({"PUBLISH", c->resync_channel_, c->opts_.node_id});
        },
        [weak] {
          if (auto c = weak.lock(); c && !c->stopped_) c->sub_->reset();
        });
    sub_->set_push_handler([weak](const redisReply& r) {
      if (auto c = weak.lock()) c->on_push(r);
    });
    sub_->start(
        [weak](bool resumed) {
          if (auto c = weak.lock()) c->on_sub_up(resumed);
        },
        [weak] {
          if (auto c = weak.lock()) c->on_sub_down();
        });
    arm_sweep();
    heartbeat();
  }

  void end() {
    if (stopped_) return;
    stopped_ = true;
    sweep_timer_.cancel();
    settle_timer_.cancel();
    heartbeat_timer_.cancel();
    pub_->stop();
    sub_->stop();
    all_subscribed_ = false;
    subscribed_ = 0;
  }

  void send(std::vector<std::pair<std::string, std::string>>& messages) {
    for (auto& [ch, body] : messages) {
      if (pub_->command({"PUBLISH", std::move(ch), std::move(body)})) {
        published_.fetch_add(1, std::memory_order_relaxed);
      } else {
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  void on_sub_up(bool resumed) {
    resync_due_ = resync_due_ || resumed;
    sub_->subscription_command({"SUBSCRIBE", all_channel_, resync_channel_, fence_channel_});
    resubscribing_ = 0;
    for (auto& [user, ch] : channels_) {
      if (!ch.wanted) continue;
      subscribe(user, ch);
      if (ch.state == sub_state::subscribing) ++resubscribing_;
    }
  }

  // After a lost subscription, once the shared channel and every user channel of the moment
  // are confirmed again (Redis confirms in order): sessions read what they missed.
  void maybe_resynced() {
    if (!resync_due_ || !all_subscribed_ || resubscribing_ != 0) return;
    resync_due_ = false;
    if (on_reconnect_) on_reconnect_();
    arm_settle();
  }

  void on_sub_down() {
    all_subscribed_ = false;
    settle_timer_.cancel();
    if (on_lost_ && !stopped_) on_lost_();
    subscribed_ = 0;
    resubscribing_ = 0;
    resync_due_ = true;
    for (auto it = channels_.begin(); it != channels_.end();) {
      it->second.state = sub_state::none;
      it = it->second.wanted ? std::next(it) : channels_.erase(it);
    }
  }

  void subscribe(std::uint64_t user, channel& ch) {
    if (sub_->subscription_command({"SUBSCRIBE", user_channel(user)})) {
      ch.state = sub_state::subscribing;
    }
  }

  // Brings the user's channel towards what the local sessions need now.
  void reconcile(std::uint64_t user) {
    bool want = false;
    {
      std::lock_guard lock(users_mu_);
      want = local_users_.count(user) != 0;
    }
    auto it = channels_.find(user);
    if (want) {
      auto& ch = channels_[user];
      ch.wanted = true;
      if (ch.state == sub_state::none && sub_->connected()) subscribe(user, ch);
    } else if (it != channels_.end() && it->second.wanted) {
      it->second.wanted = false;
      it->second.idle_since = std::chrono::steady_clock::now();
      if (it->second.state == sub_state::none) channels_.erase(it);
    }
  }

  // Other nodes' publishers reconnect on their own backoff (at most backoff_max and a quarter
  // of jitter): what they publish before that is lost, so the node's sessions keep taking
  // arrivals through the store until they have had time.
  void arm_settle() {
    settle_timer_.expires_after(opts_.backoff_max * 5 / 4 + std::chrono::seconds(1));
    settle_timer_.async_wait(boost::asio::bind_executor(
        strand_, [self = shared_from_this()](boost::system::error_code ec) {
          if (ec || self->stopped_ || !self->all_subscribed_) return;
          if (self->on_settled_) self->on_settled_();
        }));
  }

  // Only while this node hears the fence channel: one that cannot hear questions is not asked.
  void say_here() {
    if (all_subscribed_) pub_->command({"PUBLISH", fence_channel_, "h\n" + opts_.node_id});
  }

  void heartbeat() {
    say_here();
    {
      // Nodes gone for long (a restarted node comes back under a new id) are forgotten.
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard lock(peers_mu_);
      std::erase_if(peers_,
                    [&](const auto& p) { return now - p.second > 10 * opts_.peer_timeout; });
    }
    heartbeat_timer_.expires_after(opts_.heartbeat_interval);
    heartbeat_timer_.async_wait(boost::asio::bind_executor(
        strand_, [self = shared_from_this()](boost::system::error_code ec) {
          if (ec || self->stopped_) return;
          self->heartbeat();
        }));
  }

  // "h\n<node>" (heartbeat), "q\n<round>\n<node>" (a question to every other node),
  // "a\n<round>\n<asker>\n<node>" (an answer to the asker).
  void on_fence(std::string_view body) {
    std::vector<std::string_view> parts;
    while (parts.size() < 4) {
      auto nl = body.find('\n');
      parts.push_back(body.substr(0, nl));
      if (nl == std::string_view::npos) break;
      body.remove_prefix(nl + 1);
    }
    const std::size_t want = parts[0] == "h" ? 2 : parts[0] == "q" ? 3 : parts[0] == "a" ? 4 : 0;
    std::uint64_t round = 0;
    if (want == 0 || parts.size() != want ||
        (want > 2 &&
         (std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), round).ec !=
          std::errc{}))) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::string node(parts.back());
    if (node == opts_.node_id) return;
    bool fresh = false;
    {
      const auto now = std::chrono::steady_clock::now();
      std::lock_guard lock(peers_mu_);
      auto [it, added] = peers_.try_emplace(node, now);
      fresh = added || now - it->second >= opts_.peer_timeout;
      it->second = now;
    }
    // A node new here (just started, or back) learns of this one at once, not a heartbeat later.
    if (fresh) say_here();
    if (parts[0] == "q") {
      if (on_fence_request_) on_fence_request_(node, round);
    } else if (parts[0] == "a" && parts[2] == opts_.node_id) {
      if (on_fence_answer_) on_fence_answer_(node, round);
    }
  }

  void arm_sweep() {
    auto period = std::max(opts_.unsubscribe_after / 2, std::chrono::milliseconds(50));
    sweep_timer_.expires_after(period);
    sweep_timer_.async_wait(boost::asio::bind_executor(
        strand_, [self = shared_from_this()](boost::system::error_code ec) {
          if (ec || self->stopped_) return;
          self->sweep();
          self->arm_sweep();
        }));
  }

  void sweep() {
    auto now = std::chrono::steady_clock::now();
    for (auto& [user, ch] : channels_) {
      if (!ch.wanted && ch.state == sub_state::subscribed &&
          now - ch.idle_since >= opts_.unsubscribe_after &&
          sub_->subscription_command({"UNSUBSCRIBE", user_channel(user)})) {
        ch.state = sub_state::unsubscribing;
      }
    }
  }

  std::optional<std::uint64_t> user_of(std::string_view ch) const {
    if (ch.substr(0, user_channel_prefix_.size()) != user_channel_prefix_) return std::nullopt;
    ch.remove_prefix(user_channel_prefix_.size());
    std::uint64_t user = 0;
    auto [end, ec] = std::from_chars(ch.data(), ch.data() + ch.size(), user);
    if (ec != std::errc{} || end != ch.data() + ch.size()) return std::nullopt;
    return user;
  }

  void on_push(const redisReply& r) {
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 3) return;
    auto kind = reply_text(r.element[0]);
    auto ch = reply_text(r.element[1]);
    if (kind == "message" && ch == fence_channel_) {
      on_fence(reply_text(r.element[2]));
    } else if (kind == "message" && ch == resync_channel_) {
      if (reply_text(r.element[2]) != opts_.node_id && on_reconnect_) on_reconnect_();
    } else if (kind == "message") {
      on_message(reply_text(r.element[2]));
    } else if (kind == "subscribe") {
      if (ch == all_channel_) {
        all_subscribed_ = true;
        subscribed_.fetch_add(1, std::memory_order_relaxed);
        maybe_resynced();
      } else if (ch == fence_channel_) {
        say_here();
      } else if (auto user = user_of(ch)) {
        auto it = channels_.find(*user);
        if (it != channels_.end() && it->second.state == sub_state::subscribing) {
          it->second.state = sub_state::subscribed;
          subscribed_.fetch_add(1, std::memory_order_relaxed);
          if (resubscribing_ > 0 && --resubscribing_ == 0) maybe_resynced();
        }
      }
    } else if (kind == "unsubscribe") {
      auto user = user_of(ch);
      if (!user) return;
      auto it = channels_.find(*user);
      if (it == channels_.end() || it->second.state != sub_state::unsubscribing) return;
      subscribed_.fetch_sub(1, std::memory_order_relaxed);
      it->second.state = sub_state::none;
      if (it->second.wanted) {
        subscribe(*user, it->second);
      } else {
        channels_.erase(it);
      }
    }
  }

  void on_message(std::string_view body) {
    auto m = decode_event(body);
    if (!m) {
      if (malformed_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
        redis_log()->warn("ignoring a bus message that does not decode");
      }
      return;
    }
    if (m->origin == opts_.node_id) return;  // delivered locally when it was published
    received_.fetch_add(1, std::memory_order_relaxed);
    if (on_event_) on_event_(m->ev);
  }

  // --- any thread ----------------------------------------------------------------------------

  std::vector<std::pair<std::string, std::string>> route(const event& e) const {
    std::vector<std::pair<std::string, std::string>> out;
    if (e.target == event_target::users && e.users.size() <= opts_.per_user_limit) {
      event one = e;
      for (auto user : e.users) {
        one.users.assign(1, user);
        out.emplace_back(user_channel(user), encode_event(one, opts_.node_id));
      }
    } else {
      out.emplace_back(all_channel_, encode_event(e, opts_.node_id));
    }
    return out;
  }

  redis_connection::strand strand_;
  options opts_;
  std::string all_channel_;
  std::string resync_channel_;
  std::string fence_channel_;
  std::string user_channel_prefix_;
  std::shared_ptr<redis_connection> pub_;
  std::shared_ptr<redis_connection> sub_;
  boost::asio::steady_timer sweep_timer_;
  boost::asio::steady_timer settle_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  handler on_event_;                    // set once by start(), before any delivery
  std::function<void()> on_reconnect_;  // set before start()
  std::function<void()> on_lost_;       // set before start()
  std::function<void()> on_settled_;    // set before start()
  fence_fn on_fence_request_;           // set before start()
  fence_fn on_fence_answer_;            // set before start()
  bool stopped_ = false;
  bool resync_due_ = false;
  std::size_t resubscribing_ = 0;  // user channels of the last reconnect not confirmed yet
  std::unordered_map<std::uint64_t, channel> channels_;  // strand only

  mutable std::mutex peers_mu_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> peers_;  // last heard

  std::mutex users_mu_;
  std::unordered_map<std::uint64_t, std::uint32_t> local_users_;  // sessions per local user

  std::atomic<bool> started_{false};
  std::atomic<bool> all_subscribed_{false};
  std::atomic<std::size_t> subscribed_{0};
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> malformed_{0};
};

redis_bus::redis_bus(boost::asio::io_context& io, options opts)
    : core_(std::make_shared<core>(io, std::move(opts))) {}

redis_bus::~redis_bus() { stop(); }

void redis_bus::start(handler on_event) {
  if (core_->started_.exchange(true)) return;
  core_->on_event_ = std::move(on_event);
  boost::asio::post(core_->strand_, [c = core_] { c->begin(); });
}

void redis_bus::publish(const event& e) {
  if (core_->on_event_) core_->on_event_(e);
  auto messages = core_->route(e);
  boost::asio::post(core_->strand_, [c = core_, m = std::move(messages)]() mutable { c->send(m); });
}

bool redis_bus::healthy() const { return core_->pub_->connected() && core_->all_subscribed_; }

void redis_bus::stop() {
  boost::asio::dispatch(core_->strand_, [c = core_] { c->end(); });
}

void redis_bus::set_on_reconnect(std::function<void()> f) { core_->on_reconnect_ = std::move(f); }

void redis_bus::set_on_lost(std::function<void()> f) { core_->on_lost_ = std::move(f); }

void redis_bus::set_on_settled(std::function<void()> f) { core_->on_settled_ = std::move(f); }

void redis_bus::set_on_fence_request(fence_fn f) { core_->on_fence_request_ = std::move(f); }

void redis_bus::set_on_fence_answer(fence_fn f) { core_->on_fence_answer_ = std::move(f); }

void redis_bus::fence_request(std::uint64_t round) {
  std::string body = "q\n" + std::to_string(round) + "\n" + core_->opts_.node_id;
  boost::asio::post(core_->strand_, [c = core_, body = std::move(body)]() mutable {
    c->pub_->command({"PUBLISH", c->fence_channel_, std::move(body)});
  });
}

void redis_bus::fence_answer(const std::string& to, std::uint64_t round) {
  std::string body = "a\n" + std::to_string(round) + "\n" + to + "\n" + core_->opts_.node_id;
  boost::asio::post(core_->strand_, [c = core_, body = std::move(body)]() mutable {
    c->pub_->command({"PUBLISH", c->fence_channel_, std::move(body)});
  });
}

std::vector<std::string> redis_bus::peers() const {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::string> out;
  std::lock_guard lock(core_->peers_mu_);
  for (const auto& [node, heard] : core_->peers_) {
    if (now - heard < core_->opts_.peer_timeout) out.push_back(node);
  }
  return out;
}

bool redis_bus::subscribed() const { return core_->all_subscribed_; }

void redis_bus::user_connected(std::uint64_t user) {
  {
    std::lock_guard lock(core_->users_mu_);
    if (++core_->local_users_[user] != 1) return;
  }
  boost::asio::post(core_->strand_, [c = core_, user] { c->reconcile(user); });
}

void redis_bus::user_disconnected(std::uint64_t user) {
  {
    std::lock_guard lock(core_->users_mu_);
    auto it = core_->local_users_.find(user);
    if (it == core_->local_users_.end() || --it->second != 0) return;
    core_->local_users_.erase(it);
  }
  boost::asio::post(core_->strand_, [c = core_, user] { c->reconcile(user); });
}

std::size_t redis_bus::subscribed_channels() const { return core_->subscribed_.load(); }

redis_bus::counters redis_bus::stats() const {
  counters out;
  out.published = core_->published_.load(std::memory_order_relaxed);
  out.dropped = core_->dropped_.load(std::memory_order_relaxed);
  out.received = core_->received_.load(std::memory_order_relaxed);
  out.malformed = core_->malformed_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace herald::cm
