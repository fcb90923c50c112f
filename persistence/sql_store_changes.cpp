// sql_store, the change log behind state events (API.md v1.1 "State events").
// Seqs come from the notifications id sequence (one sequence over the whole system: a new
// item's seq is its id), allocated under its row lock inside the change's own transaction, so
// seqs commit in increasing order like ids. Each change is one row of `changes`: a user's read,
// read-all or delete is scoped to that user (user_id, audience ''); a retraction or expiry of a
// shared item is ONE row scoped to its audience (user_id 0; '' for broadcasts), never a row per
// member. A viewer's missed changes are read per scope (the user's, the broadcasts', each of the
// viewer's audiences), so the cost depends on that viewer only.
#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "persistence/sql_rows.hpp"
#include "persistence/sql_store.hpp"

namespace herald::persistence {
namespace {

constexpr std::int64_t type_read = 0;
constexpr std::int64_t type_read_all = 1;
constexpr std::int64_t type_removed = 2;

std::int64_t type_code(change_type t) {
  switch (t) {
    case change_type::read:
      return type_read;
    case change_type::read_all:
      return type_read_all;
    case change_type::removed:
      return type_removed;
  }
  return type_read;
}

change_type type_of(std::int64_t code) {
  if (code == type_read_all) return change_type::read_all;
  if (code == type_removed) return change_type::removed;
  return change_type::read;
}

removal_reason reason_of(std::int64_t code) {
  if (code == 1) return removal_reason::retracted;
  if (code == 2) return removal_reason::expired;
  return removal_reason::deleted;
}

std::int64_t reason_code(removal_reason r) {
  switch (r) {
    case removal_reason::deleted:
      return 0;
    case removal_reason::retracted:
      return 1;
    case removal_reason::expired:
      return 2;
  }
  return 0;
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The scope of a change to the whole item: its owner, or every reader of a shared item.
std::pair<std::uint64_t, std::string> item_scope(const item_ref& ref) {
  switch (ref.kind) {
    case proto::item_kind::personal:
      return {ref.user_id, ""};
    case proto::item_kind::broadcast:
      return {0, ""};
    case proto::item_kind::group:
      return {0, ref.audience};
  }
  return {ref.user_id, ""};
}

}  // namespace

std::int64_t sql_store::lock_sequence() {
  auto rows = query(std::string("SELECT next_id FROM id_sequence WHERE name = 'notifications'") +
                        dialect_.for_update,
                    {});
  if (rows.empty()) throw std::runtime_error("store: id_sequence is missing; run migrate()");
  return rows[0].i64(0);
}

item_change sql_store::log_change(change_type type, std::uint64_t id, removal_reason reason,
                                  std::uint64_t user_id, const std::string& audience, bool expiry) {
  const std::int64_t seq = lock_sequence();
  exec("UPDATE id_sequence SET next_id = ? WHERE name = 'notifications'", {seq + 1});
  exec(
      "INSERT INTO changes (seq, at_ms, type, item_id, reason, user_id, audience, expired_item)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {seq, wall_ms(), type_code(type), id_param(id), reason_code(reason), id_param(user_id),
       audience, expiry ? sql_param(id_param(id)) : sql_param(nullptr)});
  item_change c;
  c.type = type;
  c.id = id;
  c.reason = reason;
  c.seq = static_cast<std::uint64_t>(seq);
  return c;
}

item_change sql_store::log_user_change(std::uint64_t user_id, std::uint64_t id, bool read) {
  return log_change(read ? change_type::read : change_type::removed, id, removal_reason::deleted,
                    user_id, "");
}

std::uint64_t sql_store::log_retraction(const item_ref& ref) {
  const auto [user, audience] = item_scope(ref);
  return log_change(change_type::removed, ref.id, removal_reason::retracted, user, audience).seq;
}

change_page sql_store::list_changes(const viewer& v, std::uint64_t after_seq, std::uint64_t max_id,
                                    int limit) {
  const auto want = static_cast<std::size_t>(std::clamp(limit, 1, 1000));
  const auto audiences = find_audiences({&v}).of[0];
  return in_tx(false, [&] {
    change_page page;
    auto horizon = query("SELECT purged_seq FROM changes_horizon WHERE id = 1", {});
    if (!horizon.empty() && after_seq < static_cast<std::uint64_t>(horizon[0].i64(0))) {
      page.reset = true;
      return page;
    }
    std::vector<std::pair<std::uint64_t, std::string>> scopes{{v.user_id, ""}, {0, ""}};
    for (const auto& a : audiences) scopes.emplace_back(0, a);
    // The user's own reads and deletes of group items list only items of the viewer's
    // audiences: another connection of the user, with other groups, did them.
    std::string visible = " AND (c.type = 1 OR n.kind IS NULL OR n.kind <> " +
                          std::to_string(kind_group) + " OR n.audience IN (''";
    sql_params own_params{id_param(v.user_id), id_param(after_seq), id_param(max_id)};
    for (const auto& a : audiences) {
      visible += ", ?";
      own_params.push_back(a);
    }
    visible += "))";
    own_params.push_back(static_cast<std::int64_t>(want + 1));
    const std::string own =
        "SELECT c.seq, c.type, c.item_id, c.reason FROM changes c"
        " LEFT JOIN notifications n ON n.id = c.item_id"
        " WHERE c.user_id = ? AND c.audience = '' AND c.seq > ?"
        " AND (c.type = 1 OR c.item_id <= ?)" +
        visible + " ORDER BY c.seq LIMIT ?";
    for (const auto& [user, audience] : scopes) {
      const bool mine = user != 0;
      for (const auto& r : mine ? query(own, own_params)
                                : query("SELECT seq, type, item_id, reason FROM changes"
                                        " WHERE user_id = ? AND audience = ? AND seq > ?"
                                        " AND (type = 1 OR item_id <= ?) ORDER BY seq LIMIT ?",
                                        {id_param(user), audience, id_param(after_seq),
                                         id_param(max_id), static_cast<std::int64_t>(want + 1)})) {
        item_change c;
        c.seq = static_cast<std::uint64_t>(r.i64(0));
        c.type = type_of(r.i64(1));
        c.id = static_cast<std::uint64_t>(r.i64(2));
        c.reason = reason_of(r.i64(3));
        page.changes.push_back(c);
      }
    }
    std::sort(page.changes.begin(), page.changes.end(),
              [](const item_change& a, const item_change& b) { return a.seq < b.seq; });
    if (page.changes.size() > want) {
      page.changes.resize(want);
      page.more = true;
    }
    return page;
  });
}

std::vector<std::uint64_t> sql_store::change_seqs(const viewer& v, std::uint64_t after_seq,
                                                  std::uint64_t up_to, int limit) {
  std::vector<std::uint64_t> out;
  if (up_to <= after_seq) return out;
  const auto want = static_cast<std::int64_t>(std::clamp(limit, 1, 1000));
  const auto audiences = matching(audiences_of(pairs_of(v)), v);
  // One range of the scope index per scope (never a walk of every change in the range).
  std::string sql;
  sql_params params;
  auto scope = [&](std::uint64_t user, const std::string& audience) {
    if (!sql.empty()) sql += " UNION ALL ";
    sql +=
        "SELECT * FROM (SELECT seq FROM changes WHERE user_id = ? AND audience = ?"
        " AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?) s" +
        std::to_string(params.size());
    params.insert(params.end(), {id_param(user), audience, id_param(after_seq), id_param(up_to),
                                 sql_param(want)});
  };
  scope(v.user_id, "");
  scope(0, "");
  for (const auto& a : audiences) scope(0, a);
  for (const auto& r : query(sql, params)) out.push_back(static_cast<std::uint64_t>(r.i64(0)));
  std::sort(out.begin(), out.end());
  if (out.size() > static_cast<std::size_t>(want)) out.resize(static_cast<std::size_t>(want));
  return out;
}

void sql_store::annotate_seq(const viewer& v, std::vector<proto::notification>& items) {
  if (items.empty()) return;
  std::unordered_map<std::uint64_t, std::uint64_t> read_seq;
  sql_params ids{id_param(v.user_id)};
  std::uint64_t min_read = 0;
  for (auto& n : items) {
    n.seq = n.id;
    if (!n.read) continue;
    ids.push_back(id_param(n.id));
    if (min_read == 0 || n.id < min_read) min_read = n.id;
  }
  if (min_read == 0) return;
  // The read of each item, and the user's read-alls that cover the oldest read item.
  for (const auto& r : query("SELECT item_id, MAX(seq) FROM changes WHERE user_id = ?"
                             " AND audience = '' AND type = 0 AND item_id IN (" +
                                 placeholders(ids.size() - 1) + ") GROUP BY item_id",
                             ids)) {
    read_seq[static_cast<std::uint64_t>(r.i64(0))] = static_cast<std::uint64_t>(r.i64(1));
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> read_alls;  // (up_to, seq)
  for (const auto& r : query("SELECT item_id, seq FROM changes WHERE user_id = ?"
                             " AND audience = '' AND type = 1 AND item_id >= ?",
                             {id_param(v.user_id), id_param(min_read)})) {
    read_alls.emplace_back(static_cast<std::uint64_t>(r.i64(0)),
                           static_cast<std::uint64_t>(r.i64(1)));
  }
  for (auto& n : items) {
    if (!n.read) continue;
    if (auto it = read_seq.find(n.id); it != read_seq.end()) n.seq = std::max(n.seq, it->second);
    for (const auto& [up_to, seq] : read_alls) {
      if (up_to >= n.id) n.seq = std::max(n.seq, seq);
    }
  }
}

std::vector<item_ref> sql_store::record_expiries(std::int64_t from_ms, std::int64_t to_ms,
                                                 std::int64_t now_ms) {
  (void)now_ms;
  constexpr std::int64_t max_per_call = 1000;
  // Most seconds nothing expires: a plain look first, no lock.
  if (query("SELECT id FROM notifications WHERE expires_at_ms > ? AND expires_at_ms <= ? LIMIT 1",
            {from_ms, to_ms})
          .empty()) {
    return {};
  }
  return in_tx(true, [&] {
    // The sequence first (the order inserts take locks in); a node that logged these before
    // has committed, so its rows are seen below.
    lock_sequence();
    std::vector<item_ref> out;
    auto rows = query(
        "SELECT id, kind, user_id, audience FROM notifications"
        " WHERE expires_at_ms > ? AND expires_at_ms <= ? AND retracted = 0"
        " AND (kind <> 0 OR deleted = 0) ORDER BY expires_at_ms, id LIMIT ?",
        {from_ms, to_ms, max_per_call});
    if (rows.empty()) return out;
    sql_params ids;
    for (const auto& r : rows) ids.push_back(r.i64(0));
    std::unordered_map<std::uint64_t, std::uint64_t> logged;
    for (const auto& r : query("SELECT expired_item, seq FROM changes WHERE expired_item IN (" +
                                   placeholders(ids.size()) + ")",
                               ids)) {
      logged[static_cast<std::uint64_t>(r.i64(0))] = static_cast<std::uint64_t>(r.i64(1));
    }
    for (const auto& r : rows) {
      item_ref ref;
      ref.id = static_cast<std::uint64_t>(r.i64(0));
      ref.kind = kind_of(r.i64(1));
      ref.user_id = static_cast<std::uint64_t>(r.i64(2));
      ref.audience = r.str(3);
      if (auto it = logged.find(ref.id); it != logged.end()) {
        ref.seq = it->second;
      } else {
        const auto [user, audience] = item_scope(ref);
        ref.seq =
            log_change(change_type::removed, ref.id, removal_reason::expired, user, audience, true)
                .seq;
      }
      out.push_back(std::move(ref));
    }
    return out;
  });
}

std::int64_t sql_store::purge_changes(std::int64_t before_ms, int limit) {
  return in_tx(true, [&] {
    auto rows = query("SELECT seq FROM changes WHERE at_ms <= ? ORDER BY seq LIMIT ?",
                      {before_ms, std::int64_t{std::max(limit, 1)}});
    if (rows.empty()) return std::int64_t{0};
    const std::int64_t last = rows.back().i64(0);
    const auto n = exec("DELETE FROM changes WHERE seq <= ?", {last});
    // Recovery from before this seq can no longer be complete: such clients get a reset.
    exec("UPDATE changes_horizon SET purged_seq = ? WHERE id = 1 AND purged_seq < ?", {last, last});
    return n;
  });
}

}  // namespace herald::persistence
