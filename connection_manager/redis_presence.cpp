#include "connection_manager/redis_presence.hpp"

#include <hiredis/hiredis.h>

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <stdexcept>
#include <string_view>

#include "connection_manager/component_log.hpp"
#include "connection_manager/redis_connection.hpp"
#include "connection_manager/redis_endpoint.hpp"

namespace herald::cm {
namespace {

// drop(p, node): removes a node's entries from the cluster-wide hash and deletes its hash.
// reap(p): drops every node whose liveness key has expired.
constexpr std::string_view lua_common = R"lua(
local function drop(p, node)
  local nkey = p .. 'presence:node:' .. node
  local ukey = p .. 'presence:users'
  local old = redis.call('HGETALL', nkey)
  for i = 1, #old, 2 do
    if redis.call('HINCRBY', ukey, old[i], -tonumber(old[i + 1])) <= 0 then
      redis.call('HDEL', ukey, old[i])
    end
  end
  redis.call('DEL', nkey)
  local gkey = p .. 'presence:gnode:' .. node
  local gs = redis.call('HGETALL', gkey)
  for i = 1, #gs, 2 do
    for pair in string.gmatch(gs[i], '[^,]+') do
      redis.call('HDEL', p .. 'presence:gpair:' .. pair, gs[i] .. '|' .. node)
    end
  end
  redis.call('DEL', gkey)
end
local function reap(p)
  for _, node in ipairs(redis.call('SMEMBERS', p .. 'presence:nodes')) do
    if redis.call('EXISTS', p .. 'presence:alive:' .. node) == 0 then
      drop(p, node)
      redis.call('SREM', p .. 'presence:nodes', node)
    end
  end
end
)lua";

// ARGV: prefix, node, ttl_ms, mode (full|diff|leave), connections, users, K, then K user/count
// pairs, then group set/count pairs; a count of 0 removes the entry. `diff` answers 0 when the
// node's entries are gone (it was taken for dead): the caller then writes in `full`.
constexpr std::string_view lua_sync = R"lua(
local p, node, mode = ARGV[1], ARGV[2], ARGV[4]
local alive = p .. 'presence:alive:' .. node
local nkey = p .. 'presence:node:' .. node
local ukey = p .. 'presence:users'
if mode == 'diff' and redis.call('EXISTS', alive) == 0 then return 0 end
if mode ~= 'diff' then drop(p, node) end
if mode == 'leave' then
  redis.call('DEL', alive)
  redis.call('SREM', p .. 'presence:nodes', node)
  return 1
end
local k = tonumber(ARGV[7] or '0')
for i = 8, 7 + 2 * k, 2 do
  local user, n = ARGV[i], tonumber(ARGV[i + 1])
  local was = tonumber(redis.call('HGET', nkey, user) or '0')
  if n ~= was then
    if n > 0 then redis.call('HSET', nkey, user, n) else redis.call('HDEL', nkey, user) end
    if redis.call('HINCRBY', ukey, user, n - was) <= 0 then redis.call('HDEL', ukey, user) end
  end
end
local gkey = p .. 'presence:gnode:' .. node
for i = 8 + 2 * k, #ARGV, 2 do
  local set, n = ARGV[i], tonumber(ARGV[i + 1])
  if n > 0 then redis.call('HSET', gkey, set, n) else redis.call('HDEL', gkey, set) end
  for pair in string.gmatch(set, '[^,]+') do
    local pk = p .. 'presence:gpair:' .. pair
    if n > 0 then redis.call('HSET', pk, set .. '|' .. node, n)
    else redis.call('HDEL', pk, set .. '|' .. node) end
  end
end
redis.call('SADD', p .. 'presence:nodes', node)
redis.call('HSET', alive, 'connections', ARGV[5], 'users', ARGV[6])
redis.call('PEXPIRE', alive, ARGV[3])
reap(p)
return 1
)lua";

// ARGV: prefix. Answers {connections, users_online, nodes}.
constexpr std::string_view lua_totals = R"lua(
local p = ARGV[1]
reap(p)
local connections, nodes = 0, 0
for _, node in ipairs(redis.call('SMEMBERS', p .. 'presence:nodes')) do
  local c = redis.call('HGET', p .. 'presence:alive:' .. node, 'connections')
  if c then
    connections = connections + tonumber(c)
    nodes = nodes + 1
  end
end
return {connections, redis.call('HLEN', p .. 'presence:users'), nodes}
)lua";

// ARGV: prefix, then an audience's pairs. Answers the connections of live nodes whose group
// set contains every pair, reading only the smallest of the pairs' hashes.
constexpr std::string_view lua_group = R"lua(
local p = ARGV[1]
reap(p)
local best, best_len = nil, 0
for i = 2, #ARGV do
  local key = p .. 'presence:gpair:' .. ARGV[i]
  local n = redis.call('HLEN', key)
  if n == 0 then return 0 end
  if best == nil or n < best_len then best, best_len = key, n end
end
if best == nil then return 0 end
local total = 0
local kv = redis.call('HGETALL', best)
for i = 1, #kv, 2 do
  local bar = string.find(kv[i], '|', 1, true)
  local set = ',' .. string.sub(kv[i], 1, bar - 1) .. ','
  local all = true
  for j = 2, #ARGV do
    if not string.find(set, ',' .. ARGV[j] .. ',', 1, true) then
      all = false
      break
    end
  end
  if all then total = total + tonumber(kv[i + 1]) end
end
return total
)lua";

std::optional<std::uint64_t> count_of(const redisReply* r) {
  if (r == nullptr) return std::nullopt;
  if (r->type == REDIS_REPLY_NIL) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer < 0 ? 0 : std::uint64_t(r->integer);
  if (r->type != REDIS_REPLY_STRING) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(r->str, r->str + r->len, v);
  if (ec != std::errc{} || end != r->str + r->len) return std::nullopt;
  return v < 0 ? 0 : std::uint64_t(v);
}

// One lookup's answer, given once: by Redis' reply or by the timeout, on the presence strand.
template <class T>
struct lookup {
  lookup(const redis_connection::strand& s, std::function<void(std::optional<T>)> d)
      : timer(s), done(std::move(d)) {}
  void answer(std::optional<T> v) {
    if (!done) return;
    auto d = std::move(done);
    done = nullptr;
    timer.cancel();
    d(std::move(v));
  }
  boost::asio::steady_timer timer;
  std::function<void(std::optional<T>)> done;
};

}  // namespace

struct redis_presence::core : std::enable_shared_from_this<redis_presence::core> {
  core(boost::asio::io_context& io, options o, snapshot_fn snapshot)
      : strand_(boost::asio::make_strand(io)),
        opts_(std::move(o)),
        snapshot_(std::move(snapshot)),
        timer_(strand_),
        sync_script_(std::string(lua_common) + std::string(lua_sync)),
        totals_script_(std::string(lua_common) + std::string(lua_totals)),
        group_script_(std::string(lua_common) + std::string(lua_group)) {
    auto ep = redis_endpoint::parse(opts_.url);
    if (!ep) throw std::invalid_argument("HERALD_BUS: not a redis://host:port URL");
    if (opts_.node_id.empty()) throw std::invalid_argument("HERALD_NODE_ID: empty");
    if (opts_.ttl <= opts_.heartbeat) {
      throw std::invalid_argument("presence TTL must be longer than the heartbeat");
    }
    if (!snapshot_) throw std::invalid_argument("presence needs a snapshot function");
    users_key_ = opts_.prefix + "presence:users";
    redis_connection::options co;
    co.endpoint = *ep;
    co.name = "presence";
    co.backoff_min = opts_.backoff_min;
    co.backoff_max = opts_.backoff_max;
    co.ping_interval = opts_.ping_interval;
    conn_ = std::make_shared<redis_connection>(strand_, co);
  }

  // --- strand only -------------------------------------------------------------------------

  void begin() {
    std::weak_ptr<core> weak = shared_from_this();
    conn_->start(
        [weak](bool) {
          if (auto c = weak.lock()) c->on_up();
        },
        [weak] {
          if (auto c = weak.lock()) c->registered_ = false;
        });
    arm(opts_.heartbeat);
  }

  void end() {
    if (stopped_) return;
    stopped_ = true;
    timer_.cancel();
    registered_ = false;
    if (conn_->connected()) {
      conn_->command({"EVAL", sync_script_, "0", opts_.prefix, opts_.node_id,
                      std::to_string(opts_.ttl.count()), "leave", "0", "0", "0"},
                     [](const redisReply*) {});
    }
    conn_->stop(true);
  }

  void on_up() {
    needs_full_ = true;
    arm(std::chrono::milliseconds(0));
  }

  void arm(std::chrono::milliseconds delay) {
    if (stopped_) return;
    next_due_ = std::chrono::steady_clock::now() + delay;
    timer_.expires_after(delay);
    timer_.async_wait(boost::asio::bind_executor(
        strand_, [weak = weak_from_this()](boost::system::error_code ec) {
          auto c = weak.lock();
          if (ec || !c || c->stopped_) return;
          c->heartbeat();
          c->arm(c->opts_.heartbeat);
        }));
  }

  void soon() {
    if (stopped_) return;
    if (in_flight_) {
      dirty_ = true;
      return;
    }
    if (std::chrono::steady_clock::now() + opts_.debounce < next_due_) arm(opts_.debounce);
  }

  void heartbeat() {
    if (stopped_ || !conn_->connected()) return;
    auto now = std::chrono::steady_clock::now();
    if (in_flight_ && now - in_flight_since_ < opts_.ttl) {
      dirty_ = true;
      return;
    }
    if (in_flight_) needs_full_ = true;  // the snapshot or its write never came back
    in_flight_ = true;
    in_flight_since_ = now;
    dirty_ = false;
    snapshot_([weak = weak_from_this()](user_counts users) {
      auto c = weak.lock();
      if (!c) return;
      if (!c->groups_snapshot_) {
        boost::asio::post(c->strand_, [c, users = std::move(users)]() mutable {
          c->write(std::move(users), {});
        });
        return;
      }
      c->groups_snapshot_([weak = c->weak_from_this(),
                           users = std::move(users)](group_counts groups) mutable {
        auto self = weak.lock();
        if (!self) return;
        boost::asio::post(self->strand_,
                          [self, users = std::move(users), groups = std::move(groups)]() mutable {
                            self->write(std::move(users), std::move(groups));
                          });
      });
    });
  }

  void write(user_counts users, group_counts groups) {
    if (stopped_ || !conn_->connected()) {
      in_flight_ = false;
      return;
    }
    bool full = needs_full_;
    std::uint64_t connections = 0;
    for (const auto& [user, n] : users) connections += n;
    std::vector<std::string> args{"EVAL",
                                  sync_script_,
                                  "0",
                                  opts_.prefix,
                                  opts_.node_id,
                                  std::to_string(opts_.ttl.count()),
                                  full ? "full" : "diff",
                                  std::to_string(connections),
                                  std::to_string(users.size())};
    auto add = [&args](std::uint64_t user, std::uint32_t n) {
      args.push_back(std::to_string(user));
      args.push_back(std::to_string(n));
    };
    args.emplace_back();  // K, the number of user/count pairs
    const std::size_t k_at = args.size() - 1;
    if (full) {
      args.reserve(args.size() + 2 * users.size());
      for (const auto& [user, n] : users) add(user, n);
    } else {
      for (const auto& [user, n] : users) {
        auto it = last_sent_.find(user);
        if (it == last_sent_.end() || it->second != n) add(user, n);
      }
      for (const auto& [user, n] : last_sent_) {
        if (users.count(user) == 0) add(user, 0);
      }
    }
    args[k_at] = std::to_string((args.size() - k_at - 1) / 2);
    auto add_set = [&args](const std::string& set, std::uint32_t n) {
      args.push_back(set);
      args.push_back(std::to_string(n));
    };
    for (const auto& [set, n] : groups) {
      auto it = last_groups_.find(set);
      if (full || it == last_groups_.end() || it->second != n) add_set(set, n);
    }
    if (!full) {
      for (const auto& [set, n] : last_groups_) {
        if (groups.count(set) == 0) add_set(set, 0);
      }
    }
    bool sent = conn_->command(args, [weak = weak_from_this(), users = std::move(users),
                                      groups = std::move(groups)](const redisReply* r) mutable {
      if (auto c = weak.lock()) c->written(r, std::move(users), std::move(groups));
    });
    if (!sent) in_flight_ = false;
  }

  void written(const redisReply* r, user_counts users, group_counts groups) {
    in_flight_ = false;
    if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
      if (r != nullptr) redis_log()->error("presence write refused: {}", r->str);
      needs_full_ = true;
      return;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
      redis_log()->warn("presence entries of this node had expired; writing them again");
      needs_full_ = true;
      dirty_ = true;
    } else {
      last_sent_ = std::move(users);
      last_groups_ = std::move(groups);
      needs_full_ = false;
      registered_ = true;
    }
    if (dirty_) arm(opts_.debounce);
  }

  redis_connection::strand strand_;
  options opts_;
  snapshot_fn snapshot_;
  boost::asio::steady_timer timer_;
  std::string sync_script_;
  std::string totals_script_;
  std::string group_script_;
  group_snapshot_fn groups_snapshot_;  // set before start()
  group_counts last_groups_;           // what Redis holds for this node's group sets
  std::string users_key_;
  std::shared_ptr<redis_connection> conn_;
  user_counts last_sent_;  // what Redis holds for this node after the last write
  std::chrono::steady_clock::time_point next_due_;
  std::chrono::steady_clock::time_point in_flight_since_;
  bool stopped_ = false;
  bool in_flight_ = false;
  bool dirty_ = false;
  bool needs_full_ = true;
  std::atomic<bool> started_{false};
  std::atomic<bool> registered_{false};
  std::atomic<std::uint64_t> timeouts_{0};

  template <class T>
  std::shared_ptr<lookup<T>> begin_lookup(std::function<void(std::optional<T>)> done,
                                          std::chrono::milliseconds timeout) {
    auto l = std::make_shared<lookup<T>>(strand_, std::move(done));
    l->timer.expires_after(timeout);
    l->timer.async_wait([l, self = shared_from_this()](boost::system::error_code ec) {
      if (ec || !l->done) return;
      self->timeouts_.fetch_add(1, std::memory_order_relaxed);
      l->answer(std::nullopt);
    });
    return l;
  }
};

redis_presence::redis_presence(boost::asio::io_context& io, options opts, snapshot_fn snapshot)
    : core_(std::make_shared<core>(io, std::move(opts), std::move(snapshot))) {}

redis_presence::~redis_presence() { stop(); }

void redis_presence::set_group_snapshot(group_snapshot_fn fn) {
  core_->groups_snapshot_ = std::move(fn);
}

std::string redis_presence::group_set_key(const std::vector<std::string>& sorted_pairs) {
  std::string key;
  for (const auto& p : sorted_pairs) {
    if (!key.empty()) key += ',';
    key += p;
  }
  return key;
}

void redis_presence::group_connections(std::vector<std::string> pairs,
                                       std::function<void(std::optional<std::uint64_t>)> done) {
  boost::asio::post(core_->strand_,
                    [c = core_, pairs = std::move(pairs), done = std::move(done)]() mutable {
                      if (pairs.empty()) {
                        done(0);
                        return;
                      }
                      std::vector<std::string> args{"EVAL", c->group_script_, "0", c->opts_.prefix};
                      for (auto& p : pairs) args.push_back(std::move(p));
                      auto shared = std::make_shared<decltype(done)>(std::move(done));
                      bool sent = c->conn_->command(args, [shared](const redisReply* r) {
                        if (r == nullptr || r->type != REDIS_REPLY_INTEGER) {
                          (*shared)(std::nullopt);
                          return;
                        }
                        (*shared)(count_of(r));
                      });
                      if (!sent) (*shared)(std::nullopt);
                    });
}

void redis_presence::start() {
  if (core_->started_.exchange(true)) return;
  boost::asio::post(core_->strand_, [c = core_] { c->begin(); });
}

void redis_presence::stop() {
  boost::asio::dispatch(core_->strand_, [c = core_] { c->end(); });
}

bool redis_presence::healthy() const { return core_->conn_->connected() && core_->registered_; }

void redis_presence::refresh_soon() {
  boost::asio::post(core_->strand_, [c = core_] { c->soon(); });
}

void redis_presence::user_connections(std::uint64_t user,
                                      std::function<void(std::optional<std::uint64_t>)> done) {
  boost::asio::post(core_->strand_, [c = core_, user, done = std::move(done)]() mutable {
    auto l = c->begin_lookup<std::uint64_t>(std::move(done), c->opts_.query_timeout);
    bool sent = c->conn_->command({"HGET", c->users_key_, std::to_string(user)},
                                  [l](const redisReply* r) { l->answer(count_of(r)); });
    if (!sent) l->answer(std::nullopt);
  });
}

void redis_presence::users_connections(
    std::vector<std::uint64_t> users,
    std::function<void(std::optional<std::vector<std::uint64_t>>)> done) {
  boost::asio::post(core_->strand_, [c = core_, users = std::move(users),
                                     done = std::move(done)]() mutable {
    if (users.empty()) {
      done(std::vector<std::uint64_t>{});
      return;
    }
    std::vector<std::string> args{"HMGET", c->users_key_};
    for (auto u : users) args.push_back(std::to_string(u));
    auto l = c->begin_lookup<std::vector<std::uint64_t>>(std::move(done), c->opts_.lookup_timeout);
    auto expected = users.size();
    bool sent = c->conn_->command(args, [l, expected](const redisReply* r) {
      if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != expected) {
        l->answer(std::nullopt);
        return;
      }
      std::vector<std::uint64_t> out;
      out.reserve(expected);
      for (std::size_t i = 0; i < r->elements; ++i) {
        auto n = count_of(r->element[i]);
        if (!n) {
          l->answer(std::nullopt);
          return;
        }
        out.push_back(*n);
      }
      l->answer(std::move(out));
    });
    if (!sent) l->answer(std::nullopt);
  });
}

void redis_presence::totals(std::function<void(std::optional<presence_totals>)> done, bool fast) {
  boost::asio::post(core_->strand_, [c = core_, done = std::move(done), fast]() mutable {
    auto l = c->begin_lookup<presence_totals>(
        std::move(done), fast ? c->opts_.lookup_timeout : c->opts_.query_timeout);
    bool sent = c->conn_->command(
        {"EVAL", c->totals_script_, "0", c->opts_.prefix}, [l](const redisReply* r) {
          if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
            l->answer(std::nullopt);
            return;
          }
          auto connections = count_of(r->element[0]);
          auto users = count_of(r->element[1]);
          auto nodes = count_of(r->element[2]);
          if (!connections || !users || !nodes) {
            l->answer(std::nullopt);
            return;
          }
          l->answer(presence_totals{*connections, *users, *nodes});
        });
    if (!sent) l->answer(std::nullopt);
  });
}

std::uint64_t redis_presence::lookups_timed_out() const {
  return core_->timeouts_.load(std::memory_order_relaxed);
}

}  // namespace herald::cm
