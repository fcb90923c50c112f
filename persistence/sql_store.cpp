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
    exec(
        "CREATE TABLE IF NOT EXISTS herald_schema_version "
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
  shared_rows_.clear();
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

// Snapshot reads are one statement, a UNION ALL of branches, so that a single read view answers
// them (InnoDB gives each autocommit statement one; an SQLite statement is atomic) in one round
// trip without a transaction. Every branch yields the item_columns layout plus a tag column.
namespace {
constexpr std::size_t col_tag = col_retracted + 1;
constexpr std::int64_t tag_counts = 0, tag_shared = 1, tag_state = 2;
constexpr std::int64_t tag_personal = 3;  // personal branch i: 3 + i

}  // namespace

// The live broadcast/group items (id, kind, audience). Bounded by the number of live shared
// items, never by anyone's history; read once per batch whatever its users.
sql_statement sql_store::live_shared_read(std::int64_t now_ms) const {
  return {std::string("SELECT n.id, n.kind, NULL, n.audience, NULL, NULL, NULL, NULL, NULL,"
                      " NULL, NULL, NULL, NULL, NULL, NULL, 1 FROM ") +
              dialect_.shared_items_from +
              " WHERE n.kind IN (1, 2) AND n.retracted = 0"
              " AND (n.expires_at_ms IS NULL OR n.expires_at_ms > ?)",
          {now_ms}};
}

// A user's read/deleted flags on shared items (col_id the item, col_user_id the user, flags in
// col_is_read and col_deleted): a primary-key range holding only the shared items the user
// acted on that are still stored (a purge deletes their state with them). Flags of items that
// are not live are ignored.
sql_statement sql_store::states_read(std::uint64_t user_id) const {
  return {
      "SELECT s.notification_id, NULL, s.user_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, s.is_read, s.deleted, NULL, 2 FROM user_state s WHERE s.user_id = ?",
      {id_param(user_id)}};
}

// One row: the id sequence (col_id: the watermark + 1), the user (col_user_id), the user's
// personal counter (col_created) and the user's expired-but-unpurged unread items, which the
// counter still includes (col_expires; an index range). One SELECT block: the sequence and the
// counter are primary-key lookups the planner reads as constants.
sql_statement sql_store::counts_read(std::uint64_t user_id, std::int64_t now_ms) const {
  return {std::string("SELECT MAX(q.next_id), NULL, ?, NULL, NULL, NULL, NULL, NULL,"
                      " MAX(c.personal_unread), COUNT(g.id), NULL, NULL, NULL, NULL, NULL, 0"
                      " FROM id_sequence q LEFT JOIN unread_counters c ON c.user_id = ?"
                      " LEFT JOIN ") +
              dialect_.unread_range_from +
              " ON g.user_id = ? AND g.is_read = 0 AND g.deleted = 0 AND g.retracted = 0"
              " AND g.expires_at_ms <= ? WHERE q.name = 'notifications'",
          {id_param(user_id), id_param(user_id), id_param(user_id), now_ms}};
}

// The viewer's visible personal items after `where` (an id range, order and limit), tagged as
// personal branch `index`.
sql_statement sql_store::personal_read(const viewer& v, std::int64_t now_ms,
                                       const std::string& where, sql_params more,
                                       std::size_t index) const {
  sql_statement st{std::string(dialect_.limited_branch_open) + "SELECT " + item_columns + ", " +
                       std::to_string(tag_personal + static_cast<std::int64_t>(index)) + " FROM " +
                       dialect_.personal_page_from +
                       " WHERE user_id = ? AND deleted = 0 AND retracted = 0"
                       " AND (expires_at_ms IS NULL OR expires_at_ms > ?)" +
                       where + dialect_.limited_branch_close,
                   {id_param(v.user_id), now_ms}};
  for (auto& p : more) st.params.push_back(std::move(p));
  return st;
}

sql_store::snapshot sql_store::snapshot_read(const std::vector<sql_statement>& branches,
                                             std::size_t personal_branches) {
  sql_statement all;
  for (const auto& b : branches) {
    if (!all.sql.empty()) all.sql += " UNION ALL ";
    all.sql += b.sql;
    all.params.insert(all.params.end(), b.params.begin(), b.params.end());
  }
  snapshot out;
  out.personal.resize(personal_branches);
  std::unordered_map<std::uint64_t, std::size_t> shared_at;
  std::vector<std::pair<std::uint64_t, shared_state>> states;  // by item id
  for (auto& r : query(all.sql, all.params)) {
    const auto tag = r.i64(col_tag);
    if (tag == tag_counts) {
      if (!r.null(col_id)) out.next_id = r.i64(col_id);
      out.personal_unread[static_cast<std::uint64_t>(r.i64(col_user_id))] =
          r.i64(col_created) - r.i64(col_expires);
    } else if (tag == tag_shared) {
      const auto id = static_cast<std::uint64_t>(r.i64(col_id));
      if (shared_at.emplace(id, out.shared.size()).second) {
        out.shared.push_back({id, kind_of(r.i64(col_kind)), r.str(col_audience), {}});
      }
    } else if (tag == tag_state) {
      states.push_back({static_cast<std::uint64_t>(r.i64(col_id)),
                        {static_cast<std::uint64_t>(r.i64(col_user_id)), r.i64(col_is_read) != 0,
                         r.i64(col_deleted) != 0}});
    } else if (tag >= tag_personal &&
               static_cast<std::size_t>(tag - tag_personal) < personal_branches) {
      out.personal[static_cast<std::size_t>(tag - tag_personal)].push_back(std::move(r));
    }
  }
  for (const auto& [id, state] : states) {
    if (auto it = shared_at.find(id); it != shared_at.end()) {
      out.shared[it->second].states.push_back(state);
    }
  }
  // The index yields broadcasts then groups, each by id; callers want one id order.
  std::sort(out.shared.begin(), out.shared.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

// The live shared items the viewer is in and has not deleted, oldest first, with its read flag.
std::vector<sql_store::shared_ref> sql_store::visible_shared(const snapshot& snap,
                                                             const viewer& v) {
  std::vector<shared_ref> out;
  out.reserve(snap.shared.size());
  for (const auto& item : snap.shared) {
    if (item.kind == proto::item_kind::group && !audience_matches(item.audience, v.groups)) {
      continue;
    }
    bool read = false, deleted = false;
    for (const auto& st : item.states) {
      if (st.user_id == v.user_id) {
        read = st.read;
        deleted = st.deleted;
      }
    }
    if (!deleted) out.push_back({item.id, item.kind, read});
  }
  return out;
}

unread_result sql_store::counts_of(const snapshot& snap, const viewer& v,
                                   const std::vector<shared_ref>& shared) {
  unread_result r;
  r.watermark = snap.next_id > 0 ? static_cast<std::uint64_t>(snap.next_id - 1) : 0;
  if (auto it = snap.personal_unread.find(v.user_id); it != snap.personal_unread.end()) {
    r.unread = it->second;
  }
  for (const auto& s : shared) r.unread += s.read ? 0 : 1;
  return r;
}

std::vector<sql_store::shared_ref> sql_store::live_shared(const viewer& v, std::int64_t now_ms) {
  return visible_shared(snapshot_read({live_shared_read(now_ms), states_read(v.user_id)}, 0), v);
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

// The stored columns of a broadcast/group item never change after its insert (retraction and
// expiry are read from the snapshot by live_shared, per-user state from user_state), so a
// connection keeps the rows it has fetched. Ids are never reused, except after drop_schema().
std::unordered_map<std::uint64_t, const sql_row*> sql_store::shared_bodies(
    const std::vector<std::uint64_t>& ids) {
  std::unordered_map<std::uint64_t, const sql_row*> out;
  std::vector<std::uint64_t> missing;
  for (auto id : ids) {
    if (shared_rows_.count(id) == 0) missing.push_back(id);
  }
  if (!missing.empty()) {
    if (shared_rows_.size() + missing.size() > max_cached_shared_rows) {
      // Making room drops rows this call needs too: fetch every id asked for, not only the
      // ones that were missing before (else the page would silently lose the cached ones).
      shared_rows_.clear();
      missing = ids;
      std::sort(missing.begin(), missing.end());
      missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
    }
    sql_params params;
    for (auto id : missing) params.push_back(id_param(id));
    auto rows = query(select_items + " WHERE id IN (" + placeholders(missing.size()) + ")", params);
    for (auto& r : rows) {
      const auto id = static_cast<std::uint64_t>(r.i64(col_id));
      shared_rows_.insert_or_assign(id, std::move(r));
    }
  }
  // Purged since the snapshot: left out, like an item retracted a moment earlier.
  for (auto id : ids) {
    if (auto it = shared_rows_.find(id); it != shared_rows_.end()) out.emplace(id, &it->second);
  }
  return out;
}

// Every read of the batch from one statement: counts and pages agree with each other and with
// the watermark (see persistence/README.md). The bodies of shared items on a page come from the
// connection's cache or one more query.
std::vector<read_result> sql_store::read_batch(const std::vector<read_request>& reads,
                                               std::int64_t now_ms) {
  std::vector<read_result> out(reads.size());
  if (reads.empty()) return out;
  std::vector<std::uint64_t> users;
  for (const auto& r : reads) users.push_back(r.who.user_id);
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());

  // Once: the live shared items. Per user: its counts and its flags on shared items (a key
  // range each; one block over several users could not use the (user_id, notification_id) key
  // for each). Per page: the personal rows.
  std::vector<sql_statement> branches{live_shared_read(now_ms)};
  for (auto u : users) {
    branches.push_back(counts_read(u, now_ms));
    branches.push_back(states_read(u));
  }
  std::vector<std::size_t> branch_of(reads.size(), reads.size());  // personal branch per read
  std::size_t personal_branches = 0;
  for (std::size_t i = 0; i < reads.size(); ++i) {
    const auto& q = reads[i].page;
    if (!q || (q->kind && *q->kind != proto::item_kind::personal)) continue;
    const std::int64_t before = q->before ? static_cast<std::int64_t>(*q->before)
                                          : std::numeric_limits<std::int64_t>::max();
    branch_of[i] = personal_branches;
    branches.push_back(personal_read(
        reads[i].who, now_ms,
        std::string(" AND id < ?") + (q->unread_only ? " AND is_read = 0" : "") +
            " ORDER BY id DESC LIMIT ?",
        {before, static_cast<std::int64_t>(std::max(q->limit, 1)) + 1}, personal_branches));
    ++personal_branches;
  }
  auto snap = snapshot_read(branches, personal_branches);
  for (std::size_t i = 0; i < reads.size(); ++i) {
    const auto shared = visible_shared(snap, reads[i].who);
    out[i].counts = counts_of(snap, reads[i].who, shared);
    if (!reads[i].page) continue;
    std::vector<sql_row> none;
    auto& personal = branch_of[i] < personal_branches ? snap.personal[branch_of[i]] : none;
    out[i].page = page_of(*reads[i].page, shared, personal);
    out[i].page.unread = out[i].counts.unread;
  }
  return out;
}

unread_result sql_store::unread_count(const viewer& v, std::int64_t now_ms) {
  return read_batch({{v, std::nullopt}}, now_ms)[0].counts;
}

inbox_page sql_store::list_inbox(const viewer& v, const inbox_query& q, std::int64_t now_ms) {
  return std::move(read_batch({{v, q}}, now_ms)[0].page);
}

// One page: the viewer's personal rows (newest first, one more than the limit) merged with the
// shared items that pass the filters.
inbox_page sql_store::page_of(const inbox_query& q, const std::vector<shared_ref>& shared,
                              std::vector<sql_row>& personal) {
  inbox_page page;
  const std::int64_t before =
      q.before ? static_cast<std::int64_t>(*q.before) : std::numeric_limits<std::int64_t>::max();
  const auto want = static_cast<std::size_t>(std::max(q.limit, 1)) + 1;
  // A UNION does not promise to keep a branch's order.
  std::sort(personal.begin(), personal.end(),
            [](const auto& a, const auto& b) { return a.i64(col_id) > b.i64(col_id); });
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
    const auto pid =
        pi < personal.size() ? static_cast<std::uint64_t>(personal[pi].i64(col_id)) : 0;
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
  const auto full = shared_bodies(shared_ids);
  for (const auto& p : picks) {
    if (p.row) {
      page.items.push_back(row_to_item(*p.row, p.row->i64(col_is_read) != 0));
    } else if (auto it = full.find(p.id); it != full.end()) {
      page.items.push_back(row_to_item(*it->second, p.shared->read));
    }
  }
  return page;
}

std::vector<proto::notification> sql_store::list_since(const viewer& v, std::uint64_t since,
                                                       int limit, std::int64_t now_ms) {
  const auto want = static_cast<std::size_t>(std::max(limit, 1));
  auto snap = snapshot_read({live_shared_read(now_ms), states_read(v.user_id),
                             personal_read(v, now_ms, " AND id > ? ORDER BY id LIMIT ?",
                                           {id_param(since), static_cast<std::int64_t>(want)}, 0)},
                            1);
  const auto shared = visible_shared(snap, v);
  auto& personal = snap.personal[0];
  std::sort(personal.begin(), personal.end(),
            [](const auto& a, const auto& b) { return a.i64(col_id) < b.i64(col_id); });
  std::vector<const shared_ref*> others;  // oldest first
  for (const auto& s : shared) {
    if (s.id > since && others.size() < want) others.push_back(&s);
  }
  std::vector<std::uint64_t> shared_ids;
  std::vector<std::pair<const sql_row*, const shared_ref*>> picks;
  std::size_t pi = 0, si = 0;
  const auto inf = std::numeric_limits<std::uint64_t>::max();
  while (picks.size() < want && (pi < personal.size() || si < others.size())) {
    const auto pid =
        pi < personal.size() ? static_cast<std::uint64_t>(personal[pi].i64(col_id)) : inf;
    const auto sid = si < others.size() ? others[si]->id : inf;
    if (pid < sid) {
      picks.emplace_back(&personal[pi++], nullptr);
    } else {
      shared_ids.push_back(sid);
      picks.emplace_back(nullptr, others[si++]);
    }
  }
  const auto full = shared_bodies(shared_ids);
  std::vector<proto::notification> out;
  out.reserve(picks.size());
  for (const auto& [row, s] : picks) {
    if (row) {
      out.push_back(row_to_item(*row, row->i64(col_is_read) != 0));
    } else if (auto it = full.find(s->id); it != full.end()) {
      out.push_back(row_to_item(*it->second, s->read));
    }
  }
  return out;
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
          res.changed = exec(
                            "UPDATE notifications SET deleted = 1 WHERE id = ? AND deleted = 0"
                            " AND retracted = 0",
                            {id_param(id)}) == 1;
        }
      }
    } else {
      if (kind == proto::item_kind::group && !audience_matches(r.str(col_audience), v.groups)) {
        return res;
      }
      auto st = query(
          "SELECT is_read, deleted FROM user_state WHERE user_id = ?"
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

mark_result sql_store::get(const viewer& v, std::uint64_t id, bool mark_read, std::int64_t now_ms) {
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
    const auto personal = exec(
        "UPDATE notifications SET is_read = 1 WHERE user_id = ? AND is_read = 0"
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
