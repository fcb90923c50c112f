// Reads and per-user marks. Counter rule: unread_counters.personal_unread counts the user's
// personal rows with is_read = 0, deleted = 0, retracted = 0 (expired or not, until purged).
// Every change of one of those flags is a conditional UPDATE, and the counter moves only by the
// number of rows that UPDATE changed, so concurrent readers of one item decrement it once.
#include "persistence/sql_store.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <random>
#include <thread>
#include <type_traits>

namespace herald::persistence {
namespace {

sql_param id_param(std::uint64_t v) { return static_cast<std::int64_t>(v); }

proto::item_kind kind_of(std::int64_t stored) {
  if (stored == kind_broadcast) return proto::item_kind::broadcast;
  if (stored == kind_group) return proto::item_kind::group;
  return proto::item_kind::personal;
}

bool expired(const sql_row& r, std::int64_t now_ms) {
  return !r.null(col_expires) && r.i64(col_expires) <= now_ms;
}

proto::notification row_to_item(const sql_row& r, bool read) {
  proto::notification n;
  n.id = static_cast<std::uint64_t>(r.i64(col_id));
  n.kind = kind_of(r.i64(col_kind));
  n.user_id = static_cast<std::uint64_t>(r.i64(col_user_id));
  n.audience = r.str(col_audience);
  n.title = r.str(col_title);
  n.content = r.str(col_content);
  if (!r.null(col_sender)) n.sender = r.str(col_sender);
  n.data_json = r.str(col_data);
  n.created_at_ms = r.i64(col_created);
  if (!r.null(col_expires)) n.expires_at_ms = r.i64(col_expires);
  n.keep = r.i64(col_retention) == 1 ? proto::retention::important : proto::retention::normal;
  n.desktop = r.i64(col_desktop) != 0;
  n.read = read;
  return n;
}

std::string placeholders(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

const std::string select_items = std::string("SELECT ") + item_columns + " FROM notifications";
constexpr const char* visible_personal =
    " WHERE user_id = ? AND deleted = 0 AND retracted = 0"
    " AND (expires_at_ms IS NULL OR expires_at_ms > ?)";

}  // namespace

std::int64_t sql_row::i64(std::size_t i) const {
  if (!cells[i]) return 0;
  std::int64_t v = 0;
  const std::string& s = *cells[i];
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc()) throw std::runtime_error("store: expected an integer, got '" + s + "'");
  return v;
}

const std::string& sql_row::str(std::size_t i) const {
  static const std::string empty;
  return cells[i] ? *cells[i] : empty;
}

void sql_store::ping() { query("SELECT 1", {}); }

void sql_store::migrate() {
  lock_schema();
  try {
    exec("CREATE TABLE IF NOT EXISTS herald_schema_version "
         "(id INTEGER NOT NULL PRIMARY KEY, version INTEGER NOT NULL)",
         {});
    auto rows = query("SELECT version FROM herald_schema_version WHERE id = 1", {});
    std::size_t version = rows.empty() ? 0 : static_cast<std::size_t>(rows[0].i64(0));
    const auto& steps = dialect_.steps;
    if (version > steps.size()) {
      throw std::runtime_error("store: the database schema (version " + std::to_string(version) +
                               ") is newer than this Herald knows (" +
                               std::to_string(steps.size()) + ")");
    }
    for (; version < steps.size(); ++version) {
      for (const auto& statement : steps[version]) exec(statement, {});
      const auto next = static_cast<std::int64_t>(version + 1);
      if (exec("UPDATE herald_schema_version SET version = ? WHERE id = 1", {next}) == 0) {
        exec("INSERT INTO herald_schema_version (id, version) VALUES (1, ?)", {next});
      }
    }
  } catch (...) {
    try {
      unlock_schema(false);
    } catch (...) {
    }
    throw;
  }
  unlock_schema(true);
}

void sql_store::drop_schema() {
  for (const auto& table : schema_tables()) exec("DROP TABLE IF EXISTS " + table, {});
  audience_cache_.clear();
}

bool sql_store::audience_matches(const std::string& audience, const proto::group_set& groups) {
  auto it = audience_cache_.find(audience);
  if (it == audience_cache_.end()) {
    if (audience_cache_.size() > 4096) audience_cache_.clear();
    std::string why;
    it = audience_cache_.emplace(audience, proto::audience::parse(audience, &why)).first;
  }
  return it->second && it->second->matches(groups);
}

// Live broadcast/group items the viewer is in and has not deleted, oldest first. Bounded by the
// number of live shared items, never by the viewer's history.
std::vector<sql_store::shared_ref> sql_store::live_shared(const viewer& v, std::int64_t now_ms) {
  auto rows = query(std::string("SELECT n.id, n.kind, n.audience, s.is_read, s.deleted FROM ") +
                        dialect_.shared_items_from +
                        " LEFT JOIN user_state s ON s.user_id = ? AND s.notification_id = n.id"
                        " WHERE n.kind IN (1, 2) AND n.retracted = 0"
                        " AND (n.expires_at_ms IS NULL OR n.expires_at_ms > ?)",
                    {id_param(v.user_id), now_ms});
  std::vector<shared_ref> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    if (r.i64(4) != 0) continue;
    const auto kind = kind_of(r.i64(1));
    if (kind == proto::item_kind::group && !audience_matches(r.str(2), v.groups)) continue;
    out.push_back({static_cast<std::uint64_t>(r.i64(0)), kind, r.i64(3) != 0});
  }
  // The index yields broadcasts then groups, each by id; callers want one id order.
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

// The counter minus the user's expired-but-unpurged unread items (an index range).
std::int64_t sql_store::personal_unread(std::uint64_t user_id, std::int64_t now_ms) {
  auto counter = query("SELECT personal_unread FROM unread_counters WHERE user_id = ?",
                       {id_param(user_id)});
  auto gone = query(
      "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND is_read = 0 AND deleted = 0"
      " AND retracted = 0 AND expires_at_ms <= ?",
      {id_param(user_id), now_ms});
  return (counter.empty() ? 0 : counter[0].i64(0)) - gone[0].i64(0);
}

std::int64_t sql_store::unread_in_tx(const viewer& v, const std::vector<shared_ref>& shared,
                                     std::int64_t now_ms) {
  auto unread = personal_unread(v.user_id, now_ms);
  for (const auto& s : shared) unread += s.read ? 0 : 1;
  return unread;
}

void sql_store::add_to_counter(std::uint64_t user_id, std::int64_t delta) {
  exec("UPDATE unread_counters SET personal_unread = personal_unread + ? WHERE user_id = ?",
       {delta, id_param(user_id)});
}

bool sql_store::set_shared_state(std::uint64_t user_id, std::uint64_t id, action a) {
  const char* sql = a == action::read ? dialect_.shared_read_upsert : dialect_.shared_delete_upsert;
  try {
    return exec(sql, {id_param(user_id), id_param(id)}) > 0;
  } catch (const sql_missing_parent&) {
    return false;  // purged since this transaction's snapshot: nothing left to mark
  }
}

std::unordered_map<std::uint64_t, sql_row> sql_store::fetch_items(
    const std::vector<std::uint64_t>& ids) {
  std::unordered_map<std::uint64_t, sql_row> out;
  if (ids.empty()) return out;
  sql_params params;
  for (auto id : ids) params.push_back(id_param(id));
  auto rows = query(select_items + " WHERE id IN (" + placeholders(ids.size()) + ")", params);
  for (auto& r : rows) {
    const auto id = static_cast<std::uint64_t>(r.i64(col_id));
    out.emplace(id, std::move(r));
  }
  return out;
}

unread_result sql_store::unread_count(const viewer& v, std::int64_t now_ms) {
  return in_tx(false, [&] {
    unread_result r;
    auto seq = query("SELECT next_id FROM id_sequence WHERE name = 'notifications'", {});
    r.watermark = seq.empty() ? 0 : static_cast<std::uint64_t>(seq[0].i64(0) - 1);
    r.unread = unread_in_tx(v, live_shared(v, now_ms), now_ms);
    return r;
  });
}

inbox_page sql_store::list_inbox(const viewer& v, const inbox_query& q, std::int64_t now_ms) {
  return in_tx(false, [&] {
    inbox_page page;
    const auto shared = live_shared(v, now_ms);
    page.unread = unread_in_tx(v, shared, now_ms);
    const std::int64_t before =
        q.before ? static_cast<std::int64_t>(*q.before) : std::numeric_limits<std::int64_t>::max();
    const auto want = static_cast<std::size_t>(std::max(q.limit, 1)) + 1;

    std::vector<sql_row> personal;
    if (!q.kind || *q.kind == proto::item_kind::personal) {
      personal = query(select_items + visible_personal + " AND id < ?" +
                           (q.unread_only ? " AND is_read = 0" : "") +
                           " ORDER BY id DESC LIMIT ?",
                       {id_param(v.user_id), now_ms, before, static_cast<std::int64_t>(want)});
    }
    std::vector<const shared_ref*> others;  // newest first
    for (auto it = shared.rbegin(); it != shared.rend() && others.size() < want; ++it) {
      if (static_cast<std::int64_t>(it->id) >= before) continue;
      if (q.kind && *q.kind != it->kind) continue;
      if (q.unread_only && it->read) continue;
      others.push_back(&*it);
    }

    // Merge both newest-first lists; take one extra to know whether older items exist.
    struct pick {
      std::uint64_t id;
      const sql_row* row;        // personal
      const shared_ref* shared;  // broadcast/group
    };
    std::vector<pick> picks;
    std::size_t pi = 0, si = 0;
    while (picks.size() < want && (pi < personal.size() || si < others.size())) {
      const auto pid = pi < personal.size() ? static_cast<std::uint64_t>(personal[pi].i64(col_id)) : 0;
      const auto sid = si < others.size() ? others[si]->id : 0;
      if (pid > sid) {
        picks.push_back({pid, &personal[pi++], nullptr});
      } else {
        picks.push_back({sid, nullptr, others[si++]});
      }
    }
    const auto limit = want - 1;
    if (picks.size() > limit) {
      picks.resize(limit);
      page.next_before = picks.back().id;
    }
    std::vector<std::uint64_t> shared_ids;
    for (const auto& p : picks) {
      if (p.shared) shared_ids.push_back(p.id);
    }
    const auto full = fetch_items(shared_ids);
    for (const auto& p : picks) {
      if (p.row) {
        page.items.push_back(row_to_item(*p.row, p.row->i64(col_is_read) != 0));
      } else if (auto it = full.find(p.id); it != full.end()) {
        page.items.push_back(row_to_item(it->second, p.shared->read));
      }
    }
    return page;
  });
}

std::vector<proto::notification> sql_store::list_since(const viewer& v, std::uint64_t since,
                                                       int limit, std::int64_t now_ms) {
  return in_tx(false, [&] {
    const auto want = static_cast<std::size_t>(std::max(limit, 1));
    const auto shared = live_shared(v, now_ms);
    auto personal = query(select_items + visible_personal + " AND id > ? ORDER BY id LIMIT ?",
                          {id_param(v.user_id), now_ms, id_param(since),
                           static_cast<std::int64_t>(want)});
    std::vector<const shared_ref*> others;  // oldest first
    for (const auto& s : shared) {
      if (s.id > since && others.size() < want) others.push_back(&s);
    }
    std::vector<std::uint64_t> shared_ids;
    std::vector<std::pair<const sql_row*, const shared_ref*>> picks;
    std::size_t pi = 0, si = 0;
    const auto inf = std::numeric_limits<std::uint64_t>::max();
    while (picks.size() < want && (pi < personal.size() || si < others.size())) {
      const auto pid = pi < personal.size() ? static_cast<std::uint64_t>(personal[pi].i64(col_id)) : inf;
      const auto sid = si < others.size() ? others[si]->id : inf;
      if (pid < sid) {
        picks.emplace_back(&personal[pi++], nullptr);
      } else {
        shared_ids.push_back(sid);
        picks.emplace_back(nullptr, others[si++]);
      }
    }
    const auto full = fetch_items(shared_ids);
    std::vector<proto::notification> out;
    out.reserve(picks.size());
    for (const auto& [row, s] : picks) {
      if (row) {
        out.push_back(row_to_item(*row, row->i64(col_is_read) != 0));
      } else if (auto it = full.find(s->id); it != full.end()) {
        out.push_back(row_to_item(it->second, s->read));
      }
    }
    return out;
  });
}

mark_result sql_store::act(const viewer& v, std::uint64_t id, action a, std::int64_t now_ms) {
  return in_tx(a != action::look, [&] {
    mark_result res;
    // A snapshot read: the conditional UPDATEs below decide what really changes.
    auto rows = query(select_items + " WHERE id = ?", {id_param(id)});
    if (rows.empty()) return res;
    const sql_row& r = rows[0];
    if (r.i64(col_retracted) != 0 || expired(r, now_ms)) return res;
    const auto kind = kind_of(r.i64(col_kind));
    bool is_read = false;
    if (kind == proto::item_kind::personal) {
      if (static_cast<std::uint64_t>(r.i64(col_user_id)) != v.user_id) return res;
      if (r.i64(col_deleted) != 0) return res;
      is_read = r.i64(col_is_read) != 0;
      if (a == action::read) {
        if (exec("UPDATE notifications SET is_read = 1 WHERE id = ? AND is_read = 0"
                 " AND deleted = 0 AND retracted = 0",
                 {id_param(id)}) == 1) {
          res.changed = true;
          add_to_counter(v.user_id, -1);
        }
        is_read = true;
      } else if (a == action::remove) {
        if (exec("UPDATE notifications SET deleted = 1 WHERE id = ? AND is_read = 0"
                 " AND deleted = 0 AND retracted = 0",
                 {id_param(id)}) == 1) {
          res.changed = true;
          add_to_counter(v.user_id, -1);
        } else {
          res.changed = exec("UPDATE notifications SET deleted = 1 WHERE id = ? AND deleted = 0"
                             " AND retracted = 0",
                             {id_param(id)}) == 1;
        }
      }
    } else {
      if (kind == proto::item_kind::group && !audience_matches(r.str(col_audience), v.groups)) {
        return res;
      }
      auto st = query("SELECT is_read, deleted FROM user_state WHERE user_id = ?"
                      " AND notification_id = ?",
                      {id_param(v.user_id), id_param(id)});
      if (!st.empty() && st[0].i64(1) != 0) return res;
      is_read = !st.empty() && st[0].i64(0) != 0;
      if (a != action::look) {
        res.changed = set_shared_state(v.user_id, id, a);
        if (a == action::read) is_read = true;
      }
    }
    res.found = true;
    if (a != action::remove) res.item = row_to_item(r, is_read);
    return res;
  });
}

mark_result sql_store::get(const viewer& v, std::uint64_t id, bool mark_read,
                           std::int64_t now_ms) {
  return act(v, id, mark_read ? action::read : action::look, now_ms);
}

mark_result sql_store::mark_read(const viewer& v, std::uint64_t id, std::int64_t now_ms) {
  return act(v, id, action::read, now_ms);
}

mark_result sql_store::remove_for_user(const viewer& v, std::uint64_t id, std::int64_t now_ms) {
  return act(v, id, action::remove, now_ms);
}

std::int64_t sql_store::mark_all_read(const viewer& v, std::int64_t now_ms) {
  return in_tx(true, [&] {
    const auto personal =
        exec("UPDATE notifications SET is_read = 1 WHERE user_id = ? AND is_read = 0"
             " AND deleted = 0 AND retracted = 0"
             " AND (expires_at_ms IS NULL OR expires_at_ms > ?)",
             {id_param(v.user_id), now_ms});
    std::int64_t changed = personal;
    for (const auto& s : live_shared(v, now_ms)) {
      if (!s.read && set_shared_state(v.user_id, s.id, action::read)) ++changed;
    }
    // By the rows changed, never "set 0": items inserted meanwhile stay counted.
    if (personal > 0) add_to_counter(v.user_id, -personal);
    return changed;
  });
}

}  // namespace herald::persistence
