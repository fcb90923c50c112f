// sql_store, the read side's statements: the branches of a snapshot read (counters, expired
// items, the viewers' audiences, page rows) and the parsing of the one UNION ALL that runs them.
#include <algorithm>

#include "persistence/sql_rows.hpp"
#include "persistence/sql_store.hpp"

namespace herald::persistence {
// Snapshot reads are one statement, a UNION ALL of branches, so that a single read view answers
// them (InnoDB gives each autocommit statement one; an SQLite statement is atomic) in one round
// trip without a transaction. Every branch yields the item_columns layout plus a tag column.
namespace {
constexpr std::size_t col_tag = col_retracted + 1;
constexpr std::int64_t tag_counts = 0, tag_shared = 1;
constexpr std::int64_t tag_audience_known = 5, tag_seen = 6, tag_expired = 7;
constexpr std::int64_t tag_audience_live_known = 8;  // the live counter, and known
constexpr std::int64_t tag_personal = 10;            // personal branch i: 10 + i

// A branch of the UNION with its own ORDER BY / LIMIT is wrapped (dialect); one without is not.
std::string wrapped(const sql_dialect& d, const std::string& select) {
  return std::string(d.limited_branch_open) + select + d.limited_branch_close;
}

// A branch of the audiences' audience_live rows (primary-key lookups): `count` as col_id
// ("l.live", or NULL), col_audience the audience, then `tag`.
sql_statement audience_live_branch(const char* count, std::int64_t tag,
                                   const std::vector<std::string>& audiences) {
  sql_statement st{std::string("SELECT ") + count +
                       ", NULL, NULL, l.audience, NULL, NULL, NULL, NULL, NULL, NULL,"
                       " NULL, NULL, NULL, NULL, NULL, " +
                       std::to_string(tag) + " FROM audience_live l WHERE l.audience IN (" +
                       placeholders(audiences.size()) + ")",
                   {}};
  for (const auto& a : audiences) st.params.push_back(a);
  return st;
}

}  // namespace

// The live counters of the audiences ("" = the broadcasts): col_id the count, col_audience the
// audience; each one found other than "" is also known (as audiences_by_key_read says).
// Primary-key lookups of audience_live.
sql_statement sql_store::live_and_known_read(const std::vector<std::string>& audiences) const {
  return audience_live_branch("l.live", tag_audience_live_known, audiences);
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

// The audiences stored among the keys (col_audience; primary-key lookups of audience_live,
// which has a row for every group audience ever stored), read again inside the snapshot like
// audiences_known_read.
sql_statement sql_store::audiences_by_key_read(const std::vector<std::string>& keys) const {
  return audience_live_branch("NULL", tag_audience_known, keys);
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
    } else if (tag == tag_audience_live_known) {
      auto a = r.str(col_audience);
      out.live[a] = r.i64(col_id);
      if (!a.empty()) out.known.insert(std::move(a));
    } else if (tag >= tag_personal &&
               static_cast<std::size_t>(tag - tag_personal) < personal_branches) {
      out.personal[static_cast<std::size_t>(tag - tag_personal)].push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace herald::persistence
