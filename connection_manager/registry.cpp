#include "connection_manager/registry.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <mutex>

#include "proto/audience.hpp"

namespace herald::cm {
namespace {

// Joins the answers of several shards: `finish` runs once, after the last one.
struct gather {
  std::atomic<std::size_t> remaining;
  std::atomic<std::size_t> total{0};
  std::function<void(std::size_t)> finish;
  gather(std::size_t n, std::function<void(std::size_t)> f) : remaining(n), finish(std::move(f)) {}
  void add(std::size_t v) {
    total.fetch_add(v, std::memory_order_relaxed);
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1 && finish) finish(total.load());
  }
};

void deliver_one(session& s, const event& e) {
  switch (e.type) {
    case event_type::notification:
      s.on_notification(e.id, e.payload);
      break;
    case event_type::desktop:
      s.on_frame(e.payload);
      break;
    case event_type::count_changed:
      s.on_count_changed();
      break;
    case event_type::revoke:
      s.close_with(4003, "revoked");
      break;
    case event_type::state:
      s.on_state(e.payload, e.seq, e.audience);
      break;
  }
}

}  // namespace

registry::registry(std::vector<boost::asio::io_context*> shards, std::size_t max_per_user)
    : max_per_user_(max_per_user == 0 ? 1 : max_per_user) {
  for (auto* ctx : shards) {
    auto sh = std::make_unique<shard>();
    sh->ctx = ctx;
    shards_.push_back(std::move(sh));
  }
}

std::size_t registry::shard_for(std::uint64_t user_id) const {
  // Fibonacci hashing spreads consecutive ids.
  return static_cast<std::size_t>((user_id * 0x9E3779B97F4A7C15ull) >> 32) % shards_.size();
}

void registry::add(session& s) {
  shard& sh = *shards_[shard_for(s.user_id())];
  s.slot_ = sh.all.size();
  s.connected_seq_ = sh.next_seq++;
  sh.all.push_back(&s);
  auto& mine = sh.by_user[s.user_id()];
  mine.push_back(&s);
  if (mine.size() == 1 && on_first_) on_first_(s.user_id());
  for (const auto& p : s.groups().pairs()) sh.by_pair[p.str()].insert(&s);
  if (bus_lost_.load(std::memory_order_acquire)) s.on_bus_lost();
  // Past the cap, the oldest go: they are the ones a user least likely still looks at.
  if (mine.size() > max_per_user_) {
    std::vector<session*> by_age = mine;
    std::sort(by_age.begin(), by_age.end(),
              [](session* a, session* b) { return a->connected_seq_ < b->connected_seq_; });
    for (std::size_t i = 0; i + max_per_user_ < by_age.size(); ++i)
      by_age[i]->close_with(1008, "too many connections for this user");
  }
}

void registry::remove(session& s) {
  shard& sh = *shards_[shard_for(s.user_id())];
  if (s.slot_ >= sh.all.size() || sh.all[s.slot_] != &s) return;  // not registered
  session* last = sh.all.back();
  sh.all[s.slot_] = last;
  last->slot_ = s.slot_;
  sh.all.pop_back();
  s.slot_ = static_cast<std::size_t>(-1);
  auto it = sh.by_user.find(s.user_id());
  if (it != sh.by_user.end()) {
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), &s), v.end());
    if (v.empty()) {
      sh.by_user.erase(it);
      if (on_last_) on_last_(s.user_id());
    }
  }
  for (const auto& p : s.groups().pairs()) {
    auto g = sh.by_pair.find(p.str());
    if (g == sh.by_pair.end()) continue;
    g->second.erase(&s);
    if (g->second.empty()) sh.by_pair.erase(g);
  }
}

void registry::regroup(session& s, proto::group_set groups) {
  shard& sh = *shards_[shard_for(s.user_id())];
  const bool registered = s.slot_ < sh.all.size() && sh.all[s.slot_] == &s;
  if (registered) {
    for (const auto& p : s.groups().pairs()) {
      auto g = sh.by_pair.find(p.str());
      if (g == sh.by_pair.end()) continue;
      g->second.erase(&s);
      if (g->second.empty()) sh.by_pair.erase(g);
    }
  }
  s.groups_ = std::move(groups);
  if (registered) {
    for (const auto& p : s.groups().pairs()) sh.by_pair[p.str()].insert(&s);
  }
}

template <class Fn>
std::size_t registry::visit_matching(shard& sh, const event& e, Fn&& fn) {
  std::size_t n = 0;
  switch (e.target) {
    case event_target::users:
      for (std::uint64_t u : e.users) {
        auto it = sh.by_user.find(u);
        if (it == sh.by_user.end()) continue;
        for (session* s : it->second) {
          fn(*s);
          ++n;
        }
      }
      break;
    case event_target::everyone:
      for (session* s : sh.all) {
        fn(*s);
        ++n;
      }
      break;
    case event_target::group: {
      std::string why;
      auto aud = proto::audience::parse(e.group, &why);
      if (!aud) break;
      // Walk the smallest posting set among the audience's pairs, test the rest.
      const std::unordered_set<session*>* smallest = nullptr;
      for (const auto& p : aud->pairs()) {
        auto it = sh.by_pair.find(p.str());
        if (it == sh.by_pair.end()) return 0;
        if (!smallest || it->second.size() < smallest->size()) smallest = &it->second;
      }
      if (!smallest) break;
      for (session* s : *smallest) {
        if (aud->matches(s->groups())) {
          fn(*s);
          ++n;
        }
      }
      break;
    }
  }
  return n;
}

std::size_t registry::visit(shard& sh, const event& e, const std::function<void(session&)>* fn) {
  if (fn) return visit_matching(sh, e, *fn);
  return visit_matching(sh, e, [](session&) {});
}

void registry::deliver(std::shared_ptr<const event> e, std::function<void(std::size_t)> done) {
  if (e->target == event_target::users) {
    // Split the users per shard: each shard gets only its own, one post per shard touched.
    std::vector<std::shared_ptr<event>> parts(shards_.size());
    for (std::uint64_t u : e->users) {
      auto& part = parts[shard_for(u)];
      if (!part) {
        part = std::make_shared<event>();
        part->type = e->type;
        part->target = e->target;
        part->id = e->id;
        part->payload = e->payload;
        part->seq = e->seq;
        part->audience = e->audience;
      }
      part->users.push_back(u);
    }
    std::size_t touched = 0;
    for (auto& p : parts) touched += p ? 1 : 0;
    if (touched == 0) {
      if (done) done(0);
      return;
    }
    auto g = std::make_shared<gather>(touched, std::move(done));
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (!parts[i]) continue;
      boost::asio::post(*shards_[i]->ctx, [this, i, part = std::move(parts[i]), g] {
        g->add(visit_matching(*shards_[i], *part, [&](session& s) { deliver_one(s, *part); }));
      });
    }
    return;
  }
  auto g = std::make_shared<gather>(shards_.size(), std::move(done));
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    boost::asio::post(*shards_[i]->ctx, [this, i, e, g] {
      g->add(visit_matching(*shards_[i], *e, [&](session& s) { deliver_one(s, *e); }));
    });
  }
}

void registry::close_user(std::uint64_t user_id, std::function<void(std::size_t)> done) {
  auto e = std::make_shared<event>();
  e->type = event_type::revoke;
  e->target = event_target::users;
  e->users = {user_id};
  deliver(std::move(e), std::move(done));
}

void registry::count(std::shared_ptr<const event> e, std::function<void(std::size_t)> done) {
  // Users live on one shard each: ask only the shards that hold some of them.
  std::vector<bool> wanted(shards_.size(), e->target != event_target::users);
  for (std::uint64_t u :
       e->target == event_target::users ? e->users : std::vector<std::uint64_t>{}) {
    wanted[shard_for(u)] = true;
  }
  const auto asked = static_cast<std::size_t>(std::count(wanted.begin(), wanted.end(), true));
  if (asked == 0) {
    if (done) done(0);
    return;
  }
  auto g = std::make_shared<gather>(asked, std::move(done));
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    if (!wanted[i]) continue;
    boost::asio::post(*shards_[i]->ctx,
                      [this, i, e, g] { g->add(visit(*shards_[i], *e, nullptr)); });
  }
}

void registry::presence(std::uint64_t user_id, std::function<void(std::size_t)> done) {
  const std::size_t i = shard_for(user_id);
  boost::asio::post(*shards_[i]->ctx, [this, i, user_id, done = std::move(done)] {
    auto it = shards_[i]->by_user.find(user_id);
    done(it == shards_[i]->by_user.end() ? 0 : it->second.size());
  });
}

void registry::totals(std::function<void(node_totals)> done) {
  struct acc {
    std::atomic<std::size_t> remaining, connections{0}, users{0};
    std::function<void(node_totals)> done;
  };
  auto a = std::make_shared<acc>();
  a->remaining = shards_.size();
  a->done = std::move(done);
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    boost::asio::post(*shards_[i]->ctx, [this, i, a] {
      a->connections += shards_[i]->all.size();
      a->users += shards_[i]->by_user.size();
      if (a->remaining.fetch_sub(1) == 1) a->done(node_totals{a->connections, a->users});
    });
  }
}

void registry::snapshot(
    std::function<void(std::unordered_map<std::uint64_t, std::uint32_t>)> done) {
  struct acc {
    std::mutex mu;
    std::unordered_map<std::uint64_t, std::uint32_t> users;
    std::size_t remaining;
    std::function<void(std::unordered_map<std::uint64_t, std::uint32_t>)> done;
  };
  auto a = std::make_shared<acc>();
  a->remaining = shards_.size();
  a->done = std::move(done);
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    boost::asio::post(*shards_[i]->ctx, [this, i, a] {
      std::lock_guard lock(a->mu);
      for (const auto& [u, v] : shards_[i]->by_user)
        a->users[u] = static_cast<std::uint32_t>(v.size());
      if (--a->remaining == 0) a->done(std::move(a->users));
    });
  }
}

void registry::tick(std::int64_t now_s) {
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    boost::asio::post(*shards_[i]->ctx, [this, i, now_s] {
      for (session* s : shards_[i]->all) s->on_tick(now_s);
    });
  }
}

void registry::for_each(std::function<void(session&)> fn, std::function<void()> done) {
  auto g = std::make_shared<gather>(shards_.size(), [done = std::move(done)](std::size_t) {
    if (done) done();
  });
  auto f = std::make_shared<std::function<void(session&)>>(std::move(fn));
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    boost::asio::post(*shards_[i]->ctx, [this, i, f, g] {
      // Copy: fn may close sessions, which unregister later, but keep it independent anyway.
      std::vector<session*> all = shards_[i]->all;
      for (session* s : all) (*f)(*s);
      g->add(all.size());
    });
  }
}

void registry::bus_lost_all() {
  bus_lost_.store(true, std::memory_order_release);
  for_each([](session& s) { s.on_bus_lost(); });
}

void registry::bus_back_all() {
  bus_lost_.store(false, std::memory_order_release);
  for_each([](session& s) { s.on_bus_back(); });
}

void registry::resync_all(std::function<void()> done) {
  for_each([](session& s) { s.on_resync(); }, std::move(done));
}

}  // namespace herald::cm
