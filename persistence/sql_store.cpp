// Migrations and per-user marks (read, delete, read-all) with the counter helpers they share
// with the writes; the reads are in sql_store_reads.cpp and sql_store_snapshot.cpp. Counter rule:
// unread_counters.personal_unread counts the user's personal rows with is_read = 0, deleted = 0,
// retracted = 0 (expired or not, until purged). Every change of one of those flags is a conditional
// UPDATE, and the counter moves only by the number of rows that UPDATE changed, so concurrent
// readers of one item decrement it once.
#include "persistence/sql_store.hpp"
#include "persistence/sql_rows.hpp"

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

bool expired(const sql_row& r, std::int64_t now_ms) {
  return !r.null(col_expires) && r.i64(col_expires) <= now_ms;
}

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
