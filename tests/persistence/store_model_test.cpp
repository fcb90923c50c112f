// Property test: random seeded sequences of store operations (inserts of every target, reads,
// deletes, read-all, retraction, expiry by time, purge), on both backends, compared after every
// step with a plain in-memory model: every viewer's count, and their inbox walked unfiltered,
// status=unread, by kind, and in small pages; and every stored counter against a recount.
// HERALD_MODEL_SEED replays one seed; HERALD_MODEL_STEPS sets the steps per seed.
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "persistence/sql_store.hpp"
#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;

namespace {

struct model_item {
  proto::item_kind kind = proto::item_kind::personal;
  std::uint64_t user = 0;
  std::set<std::string> audience;  // group items
  std::optional<std::int64_t> expires;
  bool retracted = false;
  bool read = false, deleted = false;  // personal
};

struct model_viewer {
  std::uint64_t user;
  std::vector<std::string> groups;
};

const std::vector<model_viewer> viewers = {
    {11, {"org/1", "role/3"}},
    {12, {"org/1"}},
    {13, {"org/2", "role/3"}},
    {14, {}},
    {15, {"org/1", "org/2", "role/3", "job/7"}},
};
const std::vector<std::string> audiences = {"org/1",        "org/2", "role/3",
                                            "org/1/role/3", "org/9", "job/7/org/2"};

struct model {
  std::map<std::uint64_t, model_item> items;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::pair<bool, bool>> state;  // read, del
  std::int64_t now = t0;

  bool in(const model_item& it, const model_viewer& v) const {
    for (const auto& p : it.audience) {
      if (std::find(v.groups.begin(), v.groups.end(), p) == v.groups.end()) return false;
    }
    return true;
  }
  bool visible(std::uint64_t id, const model_viewer& v) const {
    const auto& it = items.at(id);
    if (it.retracted || (it.expires && *it.expires <= now)) return false;
    if (it.kind == proto::item_kind::personal) return it.user == v.user && !it.deleted;
    if (it.kind == proto::item_kind::group && !in(it, v)) return false;
    auto st = state.find({v.user, id});
    return st == state.end() || !st->second.second;
  }
  bool is_read(std::uint64_t id, const model_viewer& v) const {
    const auto& it = items.at(id);
    if (it.kind == proto::item_kind::personal) return it.read;
    auto st = state.find({v.user, id});
    return st != state.end() && st->second.first;
  }
  // Visible items, newest first.
  std::vector<std::pair<std::uint64_t, bool>> inbox(const model_viewer& v) const {
    std::vector<std::pair<std::uint64_t, bool>> out;
    for (auto it = items.rbegin(); it != items.rend(); ++it) {
      if (visible(it->first, v)) out.emplace_back(it->first, is_read(it->first, v));
    }
    return out;
  }
  // mark: 0 read, 1 delete. Returns {found, changed}.
  std::pair<bool, bool> act(const model_viewer& v, std::uint64_t id, int mark) {
    if (items.count(id) == 0 || !visible(id, v)) return {false, false};
    auto& it = items[id];
    if (it.kind == proto::item_kind::personal) {
      bool& flag = mark == 0 ? it.read : it.deleted;
      const bool changed = !flag;
      flag = true;
      return {true, changed};
    }
    auto& st = state[{v.user, id}];
    bool& flag = mark == 0 ? st.first : st.second;
    const bool changed = !flag;
    flag = true;
    return {true, changed};
  }
};

persistence::viewer as_viewer(const model_viewer& v) { return user(v.user, v.groups); }

std::vector<std::pair<std::uint64_t, bool>> walk(persistence::store& s, const model_viewer& v,
                                                 std::int64_t now, int limit, bool unread_only,
                                                 std::optional<proto::item_kind> kind) {
  std::vector<std::pair<std::uint64_t, bool>> out;
  persistence::inbox_query q;
  q.limit = limit;
  q.unread_only = unread_only;
  q.kind = kind;
  for (int pages = 0; pages < 10000; ++pages) {
    auto page = s.list_inbox(as_viewer(v), q, now);
    for (const auto& n : page.items) out.emplace_back(n.id, n.read);
    if (!page.next_before) break;
    q.before = page.next_before;
  }
  return out;
}

std::string describe(const std::vector<std::pair<std::uint64_t, bool>>& items) {
  std::ostringstream o;
  for (const auto& [id, read] : items) o << id << (read ? "r " : "u ");
  return o.str();
}

void compare(persistence::store& s, const model& m, const std::string& trail) {
  {
    // Every counter (personal, per-audience live, per-user seen) agrees with a recount.
    INFO(trail);
    for (const auto& w : s.recount(false)) {
      FAIL("personal counter of user " << w.user_id << ": stored " << w.stored << ", rows "
                                       << w.counted);
    }
    auto& sql = dynamic_cast<persistence::sql_store&>(s);
    for (const auto& w : sql.recount_shared(false)) {
      FAIL("counter '" << w.counter << "' of user " << w.user_id << ": stored " << w.stored
                       << ", rows " << w.counted);
    }
  }
  for (const auto& v : viewers) {
    const auto want = m.inbox(v);
    std::int64_t unread = 0;
    for (const auto& [id, read] : want) unread += read ? 0 : 1;
    INFO(trail << "\nviewer " << v.user);
    INFO("model inbox: " << describe(want));
    REQUIRE(s.unread_count(as_viewer(v), m.now).unread == unread);
    REQUIRE(describe(walk(s, v, m.now, 100, false, std::nullopt)) == describe(want));
    REQUIRE(describe(walk(s, v, m.now, 3, false, std::nullopt)) == describe(want));
    std::vector<std::pair<std::uint64_t, bool>> want_unread;
    for (const auto& e : want) {
      if (!e.second) want_unread.push_back(e);
    }
    REQUIRE(describe(walk(s, v, m.now, 2, true, std::nullopt)) == describe(want_unread));
    for (auto kind : {proto::item_kind::personal, proto::item_kind::group}) {
      std::vector<std::pair<std::uint64_t, bool>> want_kind;
      for (const auto& e : want) {
        if (m.items.at(e.first).kind == kind) want_kind.push_back(e);
      }
      REQUIRE(describe(walk(s, v, m.now, 4, false, kind)) == describe(want_kind));
    }
  }
}

void run_seed(const backend& b, std::uint32_t seed, int steps) {
  auto s = b.open();
  auto other = b.open();  // a second connection (a second reader's caches)
  model m;
  std::mt19937 rng(seed);
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  auto some_id = [&]() -> std::uint64_t {
    if (m.items.empty()) return 1;
    auto it = m.items.end();
    std::advance(it, -1 - static_cast<long>(pick(std::min<std::size_t>(m.items.size(), 12))));
    return pick(10) == 0 ? it->first + 1000 : it->first;  // now and then an unknown id
  };
  std::ostringstream trail;
  trail << b.name() << " seed " << seed << ":";
  for (int step = 0; step < steps; ++step) {
    auto& st = pick(2) ? *s : *other;
    const auto op = pick(100);
    const auto& v = viewers[pick(viewers.size())];
    if (op < 30) {
      std::string ttl;
      std::optional<std::int64_t> expires;
      const auto r = pick(3);
      if (r == 0) {
        ttl = R"(,"retention":"important")";
      } else {
        const std::int64_t secs = r == 1 ? 60 : 600;
        ttl = ",\"ttl_s\":" + std::to_string(secs);
        expires = m.now + secs * 1000;
      }
      const auto target = pick(4);
      std::string body;
      model_item base;
      base.expires = expires;
      std::vector<std::uint64_t> users;
      if (target == 0) {
        body = "{\"user_id\":" + std::to_string(v.user);
        users = {v.user};
      } else if (target == 1) {
        users = {viewers[pick(viewers.size())].user, viewers[pick(viewers.size())].user};
        if (users[0] == users[1]) users.pop_back();
        body = "{\"user_ids\":[" + std::to_string(users[0]) +
               (users.size() > 1 ? "," + std::to_string(users[1]) : "") + "]";
      } else if (target == 2) {
        const auto& a = audiences[pick(audiences.size())];
        body = "{\"audience\":\"" + a + "\"";
        base.kind = proto::item_kind::group;
        std::stringstream parts(a);
        std::string k, id;
        while (std::getline(parts, k, '/') && std::getline(parts, id, '/')) {
          base.audience.insert(k + "/" + id);
        }
      } else {
        body = "{\"user_id\":-1";
        base.kind = proto::item_kind::broadcast;
      }
      body += ",\"title\":\"t\"" + ttl + "}";
      trail << " insert " << body;
      auto res = insert(st, body, m.now);
      if (base.kind == proto::item_kind::personal) {
        REQUIRE(res.items.size() == users.size());
        for (std::size_t i = 0; i < users.size(); ++i) {
          auto it = base;
          it.user = users[i];
          m.items[res.items[i].id] = it;
        }
      } else {
        REQUIRE(res.items.size() == 1);
        m.items[res.items[0].id] = base;
      }
    } else if (op < 50) {
      const auto id = some_id();
      trail << " read(" << v.user << "," << id << ")";
      auto got = st.mark_read(as_viewer(v), id, m.now);
      auto want = m.act(v, id, 0);
      INFO(trail.str());
      REQUIRE(got.found == want.first);
      REQUIRE(got.changed == want.second);
    } else if (op < 58) {
      const auto id = some_id();
      trail << " get(" << v.user << "," << id << ")";
      auto got = st.get(as_viewer(v), id, true, m.now);
      const bool was_read = m.items.count(id) && m.visible(id, v) && m.is_read(id, v);
      auto want = m.act(v, id, 0);
      INFO(trail.str());
      REQUIRE(got.found == want.first);
      if (want.first) REQUIRE(got.changed == !was_read);
    } else if (op < 70) {
      const auto id = some_id();
      trail << " delete(" << v.user << "," << id << ")";
      auto got = st.remove_for_user(as_viewer(v), id, m.now);
      auto want = m.act(v, id, 1);
      INFO(trail.str());
      REQUIRE(got.found == want.first);
    } else if (op < 75) {
      trail << " read_all(" << v.user << ")";
      std::int64_t want = 0;
      for (const auto& [id, read] : m.inbox(v)) {
        if (!read) want += m.act(v, id, 0).second ? 1 : 0;
      }
      INFO(trail.str());
      REQUIRE(st.mark_all_read(as_viewer(v), m.now) == want);
    } else if (op < 83) {
      const auto id = some_id();
      trail << " retract(" << id << ")";
      auto got = st.retract(id);
      auto it = m.items.find(id);
      const bool want = it != m.items.end() && !it->second.retracted;
      if (want) it->second.retracted = true;
      INFO(trail.str());
      REQUIRE(got.has_value() == want);
    } else if (op < 93) {
      const std::int64_t dt = static_cast<std::int64_t>(pick(4)) * 20'000;
      m.now += dt;
      trail << " time+" << dt / 1000 << "s";
    } else {
      trail << " purge";
      st.purge_expired(m.now, 1000);
      for (auto it = m.items.begin(); it != m.items.end();) {
        if (it->second.expires && *it->second.expires <= m.now) {
          for (auto s2 = m.state.begin(); s2 != m.state.end();) {
            s2 = s2->first.second == it->first ? m.state.erase(s2) : std::next(s2);
          }
          it = m.items.erase(it);
        } else {
          ++it;
        }
      }
    }
    compare(pick(2) ? *s : *other, m, trail.str());
  }
}

}  // namespace

STORE_CASE("random operation sequences agree with an in-memory model after every step", "[model]") {
  const char* one = std::getenv("HERALD_MODEL_SEED");
  const char* steps_env = std::getenv("HERALD_MODEL_STEPS");
  const int steps = steps_env ? std::atoi(steps_env) : 120;
  if (one) {
    run_seed(b, static_cast<std::uint32_t>(std::strtoul(one, nullptr, 10)), steps);
    return;
  }
  for (std::uint32_t seed = 1; seed <= 6; ++seed) {
    // Each seed on a fresh database: ids restart, the model with them.
    auto fresh = b.name() == "sqlite" ? fresh_sqlite() : fresh_mysql();
    run_seed(*fresh, seed, steps);
  }
}
