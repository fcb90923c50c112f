// Reads and per-user marks. Counter rule: unread_counters.personal_unread counts the user's
// personal rows with is_read = 0, deleted = 0, retracted = 0 (expired or not, until purged).
// Every change of one of those flags is a conditional UPDATE, and the counter moves only by the
// number of rows that UPDATE changed, so concurrent readers of one item decrement it once.
#include "persistence/sql_store.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>
#include <random>
#include <set>
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
    const std::size_t from_version = version;
    for (; version < steps.size(); ++version) {
      for (const auto& statement : steps[version]) exec(statement, {});
      const auto next = static_cast<std::int64_t>(version + 1);
      if (exec("UPDATE herald_schema_version SET version = ? WHERE id = 1", {next}) == 0) {
        exec("INSERT INTO herald_schema_version (id, version) VALUES (1, ?)", {next});
      }
      if (next == 4 && from_version < 4) {
        // The counters of the rows stored before version 4 (re-run safe: rebuilt whole).
        exec("DELETE FROM audience_live", {});
        exec(
            "INSERT INTO audience_live (audience, live) SELECT COALESCE(audience, ''),"
            " COUNT(*) FROM notifications WHERE kind <> 0 AND retracted = 0"
            " GROUP BY COALESCE(audience, '')",
            {});
        exec("DELETE FROM shared_seen", {});
        exec(
            "INSERT INTO shared_seen (user_id, audience, seen) SELECT s.user_id,"
            " COALESCE(n.audience, ''), COUNT(*) FROM user_state s JOIN notifications n"
            " ON n.id = s.notification_id WHERE n.kind <> 0 AND n.retracted = 0"
            " AND (s.is_read = 1 OR s.deleted = 1) GROUP BY s.user_id, COALESCE(n.audience, '')",
            {});
      }
      if (next == 3 && from_version < 3) {
        // The pair index of the group items stored before version 3.
        for (const auto& r :
             query("SELECT DISTINCT audience FROM notifications WHERE kind = 2", {})) {
          insert_pairs({r.str(0)});
        }
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
    if (audience_cache_.size() > 16384) audience_cache_.clear();
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
constexpr std::int64_t tag_counts = 0, tag_shared = 1;
constexpr std::int64_t tag_audience_live = 4, tag_audience_known = 5, tag_seen = 6, tag_expired = 7;
constexpr std::int64_t tag_personal = 10;  // personal branch i: 10 + i

// A branch of the UNION with its own ORDER BY / LIMIT is wrapped (dialect); one without is not.
std::string wrapped(const sql_dialect& d, const std::string& select) {
  return std::string(d.limited_branch_open) + select + d.limited_branch_close;
}

}  // namespace

// The live counters of the audiences ("" = the broadcasts): col_id the count, col_audience the
// audience. Primary-key lookups of audience_live.
sql_statement sql_store::live_read(const std::vector<std::string>& audiences) const {
  sql_statement st{
      "SELECT l.live, NULL, NULL, l.audience, NULL, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, NULL, NULL, NULL, 4 FROM audience_live l WHERE l.audience IN (" +
          placeholders(audiences.size()) + ")",
      {}};
  for (const auto& a : audiences) st.params.push_back(a);
  return st;
}

// A user's seen counters (read or deleted live items) of the audiences: col_id the count,
// col_user_id the user, col_audience the audience. Primary-key lookups of shared_seen.
sql_statement sql_store::seen_read(std::uint64_t user_id,
                                   const std::vector<std::string>& audiences) const {
  sql_statement st{
      "SELECT s.seen, NULL, s.user_id, s.audience, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, NULL, NULL, NULL, NULL, 6 FROM shared_seen s WHERE s.user_id = ?"
      " AND s.audience IN (" +
          placeholders(audiences.size()) + ")",
      {id_param(user_id)}};
  for (const auto& a : audiences) st.params.push_back(a);
  return st;
}

// The items of the audiences (group audiences, and the broadcasts when "" is among them) that
// expired but are still counted by audience_live (not purged yet, not retracted): col_id the
// item, col_audience its audience ("" broadcast), col_user_id each of the users who read or
// deleted it (NULL when none). Ranges of ix_notifications_live past expires_at_ms, so the cost
// is the items expired since the last purge (at most a purge interval's worth), not the live ones.
sql_statement sql_store::expired_read(const std::vector<std::string>& audiences,
                                      const std::vector<std::uint64_t>& users,
                                      std::int64_t now_ms) const {
  std::vector<std::string> groups;
  bool broadcasts = false;
  for (const auto& a : audiences) {
    if (a.empty()) {
      broadcasts = true;
    } else {
      groups.push_back(a);
    }
  }
  const std::string seen_by = " LEFT JOIN user_state s ON s.user_id IN (" +
                              placeholders(users.size()) +
                              ") AND s.notification_id = a.id AND (s.is_read = 1 OR s.deleted = 1)";
  sql_statement st;
  auto add_users = [&] {
    for (auto u : users) st.params.push_back(id_param(u));
  };
  if (broadcasts) {
    st.sql = std::string(
                 "SELECT a.id, 1, s.user_id, '', NULL, NULL, NULL, NULL, NULL, NULL,"
                 " NULL, NULL, NULL, NULL, NULL, 7 FROM ") +
             dialect_.live_count_from + seen_by +
             " WHERE a.kind = 1 AND a.audience IS NULL AND a.retracted = 0"
             " AND a.expires_at_ms <= ?";
    add_users();
    st.params.push_back(now_ms);
  }
  if (!groups.empty()) {
    if (!st.sql.empty()) st.sql += " UNION ALL ";
    st.sql += std::string(
                  "SELECT a.id, 2, s.user_id, a.audience, NULL, NULL, NULL, NULL, NULL,"
                  " NULL, NULL, NULL, NULL, NULL, NULL, 7 FROM ") +
              dialect_.live_count_from + seen_by + " WHERE a.kind = 2 AND a.audience IN (" +
              placeholders(groups.size()) + ") AND a.retracted = 0 AND a.expires_at_ms <= ?";
    add_users();
    for (const auto& g : groups) st.params.push_back(g);
    st.params.push_back(now_ms);
  }
  return st;
}

// The audiences holding any of the pairs (col_audience), read again inside the snapshot: an
// audience created after the lookup that planned the statement makes the read start over.
sql_statement sql_store::audiences_known_read(const std::vector<std::string>& pairs) const {
  sql_statement st{
      "SELECT NULL, NULL, NULL, p.audience, NULL, NULL, NULL, NULL, NULL, NULL,"
      " NULL, NULL, NULL, NULL, NULL, 5 FROM audience_pairs p WHERE p.pair IN (",
      {}};
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    st.sql += i ? ", ?" : "?";
    st.params.push_back(pairs[i]);
  }
  st.sql += ")";
  return st;
}

// Live items of one audience ("" = the broadcasts) for shared branch `index`, after `where`
// (an id range), in `order`, at most `limit` (0: all), leaving out those the user deleted, and
// read ones with `skip_read`. col_user_id carries the branch index. The cost is the rows taken
// plus the user's deleted (and skipped read) items of that audience on the way.
sql_statement sql_store::audience_items_read(std::size_t index, std::uint64_t user_id,
                                             const std::string& audience, std::int64_t now_ms,
                                             const std::string& where, sql_params more,
                                             const char* order, std::int64_t limit,
                                             bool skip_read) const {
  // The anti-join as LEFT JOIN ... IS NULL: both planners then walk the audience's range in id
  // order and stop at the limit (MariaDB turned a NOT EXISTS into a materialized anti-join that
  // read the whole range and sorted it).
  // The viewer's read flag comes from a second primary-key probe of user_state (r).
  std::string sql =
      std::string(
          "SELECT n.id, n.kind, ?, n.audience, NULL, NULL, NULL, NULL,"
          " NULL, NULL, NULL, NULL, r.is_read, NULL, NULL, 1 FROM ") +
      (audience.empty() ? dialect_.shared_items_from : dialect_.audience_items_from) +
      " LEFT JOIN user_state s ON s.user_id = ? AND s.notification_id = n.id"
      " AND (s.deleted = 1 OR s.is_read = ?)"
      " LEFT JOIN user_state r ON r.user_id = ? AND r.notification_id = n.id" +
      (audience.empty() ? " WHERE n.kind = 1" : " WHERE n.kind = 2 AND n.audience = ?") +
      " AND n.retracted = 0 AND (n.expires_at_ms IS NULL OR n.expires_at_ms > ?)" + where +
      " AND s.user_id IS NULL";
  sql_params params{static_cast<std::int64_t>(index), id_param(user_id),
                    std::int64_t{skip_read ? 1 : 2}, id_param(user_id)};
  if (!audience.empty()) params.push_back(audience);
  params.push_back(now_ms);
  for (auto& p : more) params.push_back(std::move(p));
  if (limit > 0) {
    sql += std::string(" ORDER BY n.id ") + order + " LIMIT ?";
    params.push_back(limit);
    return {wrapped(dialect_, sql), std::move(params)};
  }
  return {std::move(sql), std::move(params)};
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
                                             std::size_t personal_branches,
                                             std::size_t shared_branches) {
  sql_statement all;
  for (const auto& b : branches) {
    if (!all.sql.empty()) all.sql += " UNION ALL ";
    all.sql += b.sql;
    all.params.insert(all.params.end(), b.params.begin(), b.params.end());
  }
  snapshot out;
  out.personal.resize(personal_branches);
  out.shared.resize(shared_branches);
  for (auto& r : query(all.sql, all.params)) {
    const auto tag = r.i64(col_tag);
    if (tag == tag_counts) {
      if (!r.null(col_id)) out.next_id = r.i64(col_id);
      out.personal_unread[static_cast<std::uint64_t>(r.i64(col_user_id))] =
          r.i64(col_created) - r.i64(col_expires);
    } else if (tag == tag_shared) {
      const auto at = static_cast<std::size_t>(r.i64(col_user_id));
      if (at < shared_branches) {
        out.shared[at].push_back({static_cast<std::uint64_t>(r.i64(col_id)),
                                  kind_of(r.i64(col_kind)), r.str(col_audience),
                                  r.i64(col_is_read) != 0});
      }
    } else if (tag == tag_audience_live) {
      out.live[r.str(col_audience)] = r.i64(col_id);
    } else if (tag == tag_seen) {
      out.seen[static_cast<std::uint64_t>(r.i64(col_user_id))][r.str(col_audience)] = r.i64(col_id);
    } else if (tag == tag_expired) {
      const auto id = static_cast<std::uint64_t>(r.i64(col_id));
      auto& ids = out.expired[r.str(col_audience)];
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
      if (!r.null(col_user_id)) {
        out.expired_seen[static_cast<std::uint64_t>(r.i64(col_user_id))].insert(id);
      }
    } else if (tag == tag_audience_known) {
      out.known.insert(r.str(col_audience));
    } else if (tag >= tag_personal &&
               static_cast<std::size_t>(tag - tag_personal) < personal_branches) {
      out.personal[static_cast<std::size_t>(tag - tag_personal)].push_back(std::move(r));
    }
  }
  return out;
}

// The audiences holding any of the pairs, from the pair index (audience_pairs).
std::set<std::string> sql_store::audiences_of(
    const std::vector<std::string>& pairs,
    std::unordered_map<std::string, std::vector<std::string>>* by_pair) {
  std::set<std::string> out;
  constexpr std::size_t chunk = 256;
  for (std::size_t at = 0; at < pairs.size(); at += chunk) {
    const std::size_t n = std::min(chunk, pairs.size() - at);
    sql_params params(pairs.begin() + static_cast<std::ptrdiff_t>(at),
                      pairs.begin() + static_cast<std::ptrdiff_t>(at + n));
    for (const auto& r :
         query("SELECT audience, pair FROM audience_pairs WHERE pair IN (" + placeholders(n) + ")",
               params)) {
      out.insert(r.str(0));
      if (by_pair) (*by_pair)[r.str(1)].push_back(r.str(0));
    }
  }
  return out;
}

// The viewer's audiences: those of the candidates (audiences sharing a pair with the viewer)
// whose every pair the viewer has.
std::vector<std::string> sql_store::matching(const std::set<std::string>& candidates,
                                             const viewer& v) {
  std::vector<std::string> out;
  for (const auto& a : candidates) {
    if (audience_matches(a, v.groups)) out.push_back(a);
  }
  return out;
}

std::vector<std::string> sql_store::pairs_of(const viewer& v) {
  std::vector<std::string> out;
  for (const auto& p : v.groups.pairs()) out.push_back(p.str());
  return out;
}

// The viewer's count: personal + per audience of the viewer (and the broadcasts) its live
// counter − the viewer's seen counter of it − its expired-but-unpurged items the viewer has not
// seen (both counters still include those until the purge removes them).
unread_result sql_store::counts_of(const snapshot& snap, const viewer& v,
                                   const std::vector<std::string>& audiences) {
  unread_result r;
  r.watermark = snap.next_id > 0 ? static_cast<std::uint64_t>(snap.next_id - 1) : 0;
  if (auto it = snap.personal_unread.find(v.user_id); it != snap.personal_unread.end()) {
    r.unread = it->second;
  }
  const auto seen_it = snap.seen.find(v.user_id);
  const auto expired_seen_it = snap.expired_seen.find(v.user_id);
  auto shared = [&](const std::string& a) {
    std::int64_t n = 0;
    if (auto it = snap.live.find(a); it != snap.live.end()) n += it->second;
    if (seen_it != snap.seen.end()) {
      if (auto it = seen_it->second.find(a); it != seen_it->second.end()) n -= it->second;
    }
    if (auto it = snap.expired.find(a); it != snap.expired.end()) {
      for (auto id : it->second) {
        if (expired_seen_it == snap.expired_seen.end() || expired_seen_it->second.count(id) == 0) {
          --n;
        }
      }
    }
    return n;
  };
  r.unread += shared("");
  for (const auto& a : audiences) r.unread += shared(a);
  return r;
}

// Shared branch rows as shared_refs, oldest first, with the viewer's read flag.
std::vector<sql_store::shared_ref> sql_store::refs_of(const snapshot&, const viewer&,
                                                      std::vector<shared_live>& rows) {
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::vector<shared_ref> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    if (!out.empty() && out.back().id == r.id) continue;
    out.push_back({r.id, r.kind, r.read, r.audience});
  }
  return out;
}

// Every live shared item the viewer sees and has not read, oldest first (read-all).
std::vector<sql_store::shared_ref> sql_store::live_shared(const viewer& v, std::int64_t now_ms) {
  const auto audiences = matching(audiences_of(pairs_of(v)), v);
  std::vector<sql_statement> branches;
  branches.push_back(audience_items_read(0, v.user_id, "", now_ms, "", {}, "", 0, true));
  for (const auto& a : audiences) {
    branches.push_back(audience_items_read(0, v.user_id, a, now_ms, "", {}, "", 0, true));
  }
  auto snap = snapshot_read(branches, 0, 1);
  return refs_of(snap, v, snap.shared[0]);
}

// Adds (pair, audience) rows for each pair of each audience; rows already there are kept.
void sql_store::insert_pairs(const std::vector<std::string>& audiences) {
  sql_params params;
  std::string values;
  for (const auto& a : audiences) {
    std::string why;
    auto parsed = proto::audience::parse(a, &why);
    if (!parsed) continue;
    for (const auto& p : parsed->pairs()) {
      values += values.empty() ? "(?, ?)" : ", (?, ?)";
      params.push_back(p.str());
      params.push_back(a);
    }
  }
  if (!values.empty()) exec(dialect_.pair_insert_head + values, params);
}

void sql_store::add_to_counter(std::uint64_t user_id, std::int64_t delta) {
  exec("UPDATE unread_counters SET personal_unread = personal_unread + ? WHERE user_id = ?",
       {delta, id_param(user_id)});
}

// Read: unseen -> read (seen). Delete: a read item only gets its flag (it was seen already);
// an unread one goes unseen -> deleted (seen). The UPDATE of a read item locks the row (or,
// when there is none, its gap on MySQL), so the upsert after it decides on a stable row.
std::pair<bool, bool> sql_store::set_shared_state(std::uint64_t user_id, std::uint64_t id,
                                                  action a) {
  try {
    if (a == action::remove &&
        exec("UPDATE user_state SET deleted = 1 WHERE user_id = ? AND notification_id = ?"
             " AND is_read = 1 AND deleted = 0",
             {id_param(user_id), id_param(id)}) > 0) {
      return {true, false};
    }
    const char* sql =
        a == action::read ? dialect_.shared_read_upsert : dialect_.shared_delete_upsert;
    const bool changed = exec(sql, {id_param(user_id), id_param(id)}) > 0;
    return {changed, changed};
  } catch (const sql_missing_parent&) {
    return {false, false};  // purged since this transaction's snapshot: nothing left to mark
  }
}

void sql_store::add_to_live(const std::map<std::string, std::int64_t>& by_audience) {
  sql_params params;
  std::string values;
  for (const auto& [a, n] : by_audience) {
    if (n == 0) continue;
    values += values.empty() ? "(?, ?)" : ", (?, ?)";
    params.push_back(a);
    params.push_back(n);
  }
  if (values.empty()) return;
  exec("INSERT INTO audience_live (audience, live) VALUES " + values + dialect_.live_upsert_tail,
       params);
}

void sql_store::add_to_seen(
    const std::map<std::pair<std::uint64_t, std::string>, std::int64_t>& deltas) {
  sql_params params;
  std::string values;
  std::size_t rows = 0;
  auto flush = [&] {
    if (values.empty()) return;
    exec("INSERT INTO shared_seen (user_id, audience, seen) VALUES " + values +
             dialect_.seen_upsert_tail,
         params);
    params.clear();
    values.clear();
    rows = 0;
  };
  for (const auto& [key, n] : deltas) {
    if (n == 0) continue;
    values += values.empty() ? "(?, ?, ?)" : ", (?, ?, ?)";
    params.push_back(id_param(key.first));
    params.push_back(key.second);
    params.push_back(n);
    if (++rows == 64) flush();
  }
  flush();
}

// The items are locked by the caller (retraction, purge) and still counted: unretracted and
// stored. Their readers are found by ix_user_state_item and locked, so a read committing
// before this transaction is counted here and one after it finds the item gone.
void sql_store::forget_shared(const std::map<std::uint64_t, std::string>& items) {
  if (items.empty()) return;
  std::map<std::string, std::int64_t> live;
  std::map<std::pair<std::uint64_t, std::string>, std::int64_t> seen;
  sql_params ids;
  for (const auto& [id, audience] : items) {
    --live[audience];
    ids.push_back(id_param(id));
  }
  for (const auto& r : query("SELECT user_id, notification_id FROM user_state"
                             " WHERE notification_id IN (" +
                                 placeholders(items.size()) + ") AND (is_read = 1 OR deleted = 1)" +
                                 dialect_.for_update,
                             ids)) {
    const auto it = items.find(static_cast<std::uint64_t>(r.i64(1)));
    if (it != items.end()) --seen[{static_cast<std::uint64_t>(r.i64(0)), it->second}];
  }
  add_to_live(live);
  add_to_seen(seen);
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
// the watermark (see persistence/README.md). The viewers' audiences come first from the pair
// index; the statement reads them again and the batch starts over if one appeared meanwhile.
// The bodies of shared items on a page come from the connection's cache or one more query.
std::vector<read_result> sql_store::read_batch(const std::vector<read_request>& reads,
                                               std::int64_t now_ms) {
  std::vector<read_result> out(reads.size());
  if (reads.empty()) return out;
  std::vector<std::uint64_t> users;
  std::set<std::string> pair_set;
  for (const auto& r : reads) {
    users.push_back(r.who.user_id);
    for (auto& p : pairs_of(r.who)) pair_set.insert(std::move(p));
  }
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  const std::vector<std::string> pairs(pair_set.begin(), pair_set.end());

  for (int attempt = 0;; ++attempt) {
    std::unordered_map<std::string, std::vector<std::string>> by_pair;
    const auto candidates = audiences_of(pairs, &by_pair);
    std::vector<std::vector<std::string>> audiences(reads.size());
    std::set<std::string> all_audiences;
    for (std::size_t i = 0; i < reads.size(); ++i) {
      // Only the candidates of this viewer's own pairs (not the whole batch's).
      std::set<std::string> mine;
      for (const auto& p : pairs_of(reads[i].who)) {
        if (auto it = by_pair.find(p); it != by_pair.end())
          mine.insert(it->second.begin(), it->second.end());
      }
      audiences[i] = matching(mine, reads[i].who);
      all_audiences.insert(audiences[i].begin(), audiences[i].end());
    }
    // Per user: its counts and its seen counters. Per audience (and the broadcasts): its live
    // counter and its expired-but-unpurged items. Per page: the personal rows and each audience's
    // newest.
    std::vector<sql_statement> branches;
    std::map<std::uint64_t, std::set<std::string>> user_audiences;
    for (std::size_t i = 0; i < reads.size(); ++i) {
      auto& mine = user_audiences[reads[i].who.user_id];
      mine.insert("");
      mine.insert(audiences[i].begin(), audiences[i].end());
    }
    for (const auto& [u, mine] : user_audiences) {
      branches.push_back(counts_read(u, now_ms));
      branches.push_back(seen_read(u, {mine.begin(), mine.end()}));
    }
    all_audiences.insert("");
    const std::vector<std::string> counted(all_audiences.begin(), all_audiences.end());
    branches.push_back(live_read(counted));
    branches.push_back(expired_read(counted, users, now_ms));
    if (!pairs.empty()) branches.push_back(audiences_known_read(pairs));
    std::vector<std::size_t> branch_of(reads.size(), reads.size());  // personal branch per read
    std::size_t personal_branches = 0, shared_branches = 0;
    for (std::size_t i = 0; i < reads.size(); ++i) {
      const auto& q = reads[i].page;
      if (!q) continue;
      const std::int64_t before = q->before ? static_cast<std::int64_t>(*q->before)
                                            : std::numeric_limits<std::int64_t>::max();
      const std::int64_t want = static_cast<std::int64_t>(std::max(q->limit, 1)) + 1;
      if (!q->kind || *q->kind == proto::item_kind::personal) {
        branch_of[i] = personal_branches;
        branches.push_back(personal_read(reads[i].who, now_ms,
                                         std::string(" AND id < ?") +
                                             (q->unread_only ? " AND is_read = 0" : "") +
                                             " ORDER BY id DESC LIMIT ?",
                                         {before, want}, personal_branches));
        ++personal_branches;
      }
      if (q->kind && *q->kind == proto::item_kind::personal) continue;
      const auto uid = reads[i].who.user_id;
      if (!q->kind || *q->kind == proto::item_kind::broadcast) {
        branches.push_back(audience_items_read(i, uid, "", now_ms, " AND n.id < ?", {before},
                                               "DESC", want, q->unread_only));
      }
      if (!q->kind || *q->kind == proto::item_kind::group) {
        for (const auto& a : audiences[i]) {
          branches.push_back(audience_items_read(i, uid, a, now_ms, " AND n.id < ?", {before},
                                                 "DESC", want, q->unread_only));
        }
      }
      shared_branches = reads.size();
    }
    auto snap = snapshot_read(branches, personal_branches, shared_branches);
    if (attempt < 3 && !std::includes(candidates.begin(), candidates.end(), snap.known.begin(),
                                      snap.known.end())) {
      continue;  // an audience appeared between the lookup and the snapshot
    }
    for (std::size_t i = 0; i < reads.size(); ++i) {
      out[i].counts = counts_of(snap, reads[i].who, audiences[i]);
      if (!reads[i].page) continue;
      std::vector<sql_row> none;
      std::vector<shared_live> no_shared;
      auto& personal = branch_of[i] < personal_branches ? snap.personal[branch_of[i]] : none;
      auto& rows = i < shared_branches ? snap.shared[i] : no_shared;
      const auto shared = refs_of(snap, reads[i].who, rows);
      out[i].page = page_of(*reads[i].page, shared, personal);
      out[i].page.unread = out[i].counts.unread;
      add_receipts(reads[i].who.user_id, out[i].page.items);
    }
    return out;
  }
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
  const auto pairs = pairs_of(v);
  std::vector<shared_ref> shared;
  snapshot snap;
  for (int attempt = 0;; ++attempt) {
    const auto candidates = audiences_of(pairs);
    const auto audiences = matching(candidates, v);
    std::vector<sql_statement> branches{
        personal_read(v, now_ms, " AND id > ? ORDER BY id LIMIT ?",
                      {id_param(since), static_cast<std::int64_t>(want)}, 0),
        audience_items_read(0, v.user_id, "", now_ms, " AND n.id > ?", {id_param(since)}, "ASC",
                            static_cast<std::int64_t>(want), false)};
    for (const auto& a : audiences) {
      branches.push_back(audience_items_read(0, v.user_id, a, now_ms, " AND n.id > ?",
                                             {id_param(since)}, "ASC",
                                             static_cast<std::int64_t>(want), false));
    }
    if (!pairs.empty()) branches.push_back(audiences_known_read(pairs));
    snap = snapshot_read(branches, 1, 1);
    if (attempt < 3 && !std::includes(candidates.begin(), candidates.end(), snap.known.begin(),
                                      snap.known.end())) {
      continue;
    }
    shared = refs_of(snap, v, snap.shared[0]);
    break;
  }
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
  add_receipts(v.user_id, out);
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
        // Hold the item against a retraction or purge (which take it exclusively) until this
        // transaction commits, and see whether it is still counted: the seen counter moves only
        // for an item its audience's live counter holds.
        auto lock = query(
            std::string("SELECT retracted FROM notifications WHERE id = ?") + dialect_.for_share,
            {id_param(id)});
        if (lock.empty() || lock[0].i64(0) != 0) return res;
        const auto [changed, seen] = set_shared_state(v.user_id, id, a);
        res.changed = changed;
        if (seen) {
          add_to_seen({{{v.user_id,
                         kind == proto::item_kind::broadcast ? std::string() : r.str(col_audience)},
                        1}});
        }
        if (a == action::read) is_read = true;
      }
    }
    if (res.changed) res.change = log_user_change(v.user_id, id, a == action::read);
    if (res.change && kind == proto::item_kind::group) res.change->audience = r.str(col_audience);
    res.found = true;
    if (res.changed) on_marked(v.user_id, {id}, a == action::read, now_ms);
    if (a != action::remove) {
      res.item = row_to_item(r, is_read);
      std::vector<proto::notification> one{std::move(*res.item)};
      add_receipts(v.user_id, one);
      res.item = std::move(one[0]);
    }
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
  last_change_.reset();
  return in_tx(true, [&] {
    // The sequence first: no item commits meanwhile, so up_to covers every item seen here.
    const auto up_to = lock_sequence() - 1;
    // The items this read changes, for their receipts and stats (locked: the UPDATE below
    // changes these rows).
    std::vector<std::uint64_t> read_ids;
    for (const auto& r : query(std::string("SELECT id FROM notifications WHERE user_id = ?"
                                           " AND is_read = 0 AND deleted = 0 AND retracted = 0"
                                           " AND (expires_at_ms IS NULL OR expires_at_ms > ?)") +
                                   dialect_.for_update,
                               {id_param(v.user_id), now_ms})) {
      read_ids.push_back(static_cast<std::uint64_t>(r.i64(0)));
    }
    const auto personal = exec(
        "UPDATE notifications SET is_read = 1 WHERE user_id = ? AND is_read = 0"
        " AND deleted = 0 AND retracted = 0"
        " AND (expires_at_ms IS NULL OR expires_at_ms > ?)",
        {id_param(v.user_id), now_ms});
    std::int64_t changed = personal;
    const auto shared = live_shared(v, now_ms);
    // Hold the items against retraction and purge (see act), chunk by chunk.
    std::set<std::uint64_t> held;
    constexpr std::size_t chunk = 256;
    for (std::size_t at = 0; at < shared.size(); at += chunk) {
      const std::size_t n = std::min(chunk, shared.size() - at);
      sql_params ids;
      for (std::size_t k = 0; k < n; ++k) ids.push_back(id_param(shared[at + k].id));
      for (const auto& r : query("SELECT id FROM notifications WHERE id IN (" + placeholders(n) +
                                     ") AND retracted = 0" + dialect_.for_share,
                                 ids)) {
        held.insert(static_cast<std::uint64_t>(r.i64(0)));
      }
    }
    std::map<std::pair<std::uint64_t, std::string>, std::int64_t> seen;
    for (const auto& s : shared) {
      if (s.read || held.count(s.id) == 0) continue;
      const auto [was_changed, newly_seen] = set_shared_state(v.user_id, s.id, action::read);
      if (was_changed) {
        ++changed;
        read_ids.push_back(s.id);
      }
      if (newly_seen) ++seen[{v.user_id, s.audience}];
    }
    add_to_seen(seen);
    std::sort(read_ids.begin(), read_ids.end());
    on_marked(v.user_id, read_ids, true, now_ms);
    // By the rows changed, never "set 0": items inserted meanwhile stay counted.
    if (personal > 0) add_to_counter(v.user_id, -personal);
    last_change_.reset();
    if (changed > 0) {
      last_change_ = log_change(change_type::read_all, static_cast<std::uint64_t>(up_to),
                                removal_reason::deleted, v.user_id, "");
    }
    return changed;
  });
}

}  // namespace herald::persistence
