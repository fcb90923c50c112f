// sql_store, receipts: deliveries (acks) and reads per user, the stats counters of each item,
// the webhook presence state and the webhook outbox.
// Rules: a receipts row is written only when that user's client acts (an ack, a read); the
// stats of an item move only by the per-user rows that changed in the same transaction (a
// flag that flips once per user), so each counts distinct users and is never a scan. Outbox
// events are rows written in the transaction that raises them.
#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "persistence/sql_rows.hpp"
#include "persistence/sql_store.hpp"
#include "persistence/webhook_events.hpp"

namespace herald::persistence {
namespace {

bool is_sqlite(const sql_dialect& d) { return std::strcmp(d.name, "sqlite") == 0; }

// item_columns with the table alias n (a join with notification_stats shares column names).
const std::string& item_columns_of_n() {
  static const std::string cols = [] {
    std::string out, in = item_columns;
    std::size_t at = 0;
    while (at < in.size()) {
      auto comma = in.find(',', at);
      if (comma == std::string::npos) comma = in.size();
      auto name = in.substr(at, comma - at);
      while (!name.empty() && name.front() == ' ') name.erase(0, 1);
      if (!out.empty()) out += ", ";
      out += "n." + name;
      at = comma + 1;
    }
    return out;
  }();
  return cols;
}

// The stats columns after the item's in a sent_item row.
constexpr std::size_t col_stat_delivered = col_retracted + 1;

sent_item sent_of(const sql_row& r) {
  sent_item out;
  out.item = row_to_item(r, false);
  auto& n = out.item;
  n.read = n.kind == proto::item_kind::personal && r.i64(col_is_read) != 0;
  n.own_view = false;
  out.stats.delivered = r.i64(col_stat_delivered);
  out.stats.read = r.i64(col_stat_delivered + 1);
  out.stats.deleted = r.i64(col_stat_delivered + 2);
  return out;
}

}  // namespace

void sql_store::add_outbox(const std::string& body, std::int64_t now_ms) {
  // The body starts with {"id":"<32 hex digits>"
  exec(
      "INSERT INTO webhook_outbox (event_id, body, created_at_ms, next_attempt_ms)"
      " VALUES (?, ?, ?, ?)",
      {body.substr(7, 32), body, now_ms, now_ms});
}

namespace {
struct stats_delta {
  std::int64_t delivered = 0, read = 0, deleted = 0;
};
}  // namespace

// Adds to items' counters, in id order (concurrent writers lock the rows in the same order).
static void bump_stats(
    const sql_dialect& d,
    const std::function<std::int64_t(const std::string&, const sql_params&)>& run,
    const std::map<std::uint64_t, stats_delta>& deltas) {
  const std::string sql =
      is_sqlite(d)
          ? "INSERT INTO notification_stats (notification_id, delivered, read_count, deleted)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (notification_id) DO UPDATE SET"
            " delivered = delivered + excluded.delivered,"
            " read_count = read_count + excluded.read_count, deleted = deleted + excluded.deleted"
          : "INSERT INTO notification_stats (notification_id, delivered, read_count, deleted)"
            " VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE delivered = delivered + "
            "VALUES(delivered),"
            " read_count = read_count + VALUES(read_count), deleted = deleted + VALUES(deleted)";
  for (const auto& [id, x] : deltas) {
    try {
      run(sql, {id_param(id), x.delivered, x.read, x.deleted});
    } catch (const sql_missing_parent&) {
      // purged meanwhile: no stats left to keep
    }
  }
}

void sql_store::on_marked(std::uint64_t user_id, const std::vector<std::uint64_t>& ids, bool read,
                          std::int64_t now_ms) {
  if (ids.empty()) return;
  auto run = [this](const std::string& sql, const sql_params& p) { return exec(sql, p); };
  std::map<std::uint64_t, stats_delta> deltas;
  const std::string receipt =
      is_sqlite(dialect_)
          ? "INSERT INTO receipts (user_id, notification_id, read_at_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, notification_id) DO UPDATE SET read_at_ms ="
            " excluded.read_at_ms WHERE read_at_ms IS NULL"
          : "INSERT INTO receipts (user_id, notification_id, read_at_ms) VALUES (?, ?, ?)"
            " ON DUPLICATE KEY UPDATE read_at_ms = IFNULL(read_at_ms, VALUES(read_at_ms))";
  const bool raise = read && webhook_enabled(webhook_notification_read);
  for (auto id : ids) {
    auto& d = deltas[id];
    (read ? d.read : d.deleted) += 1;
    if (!read) continue;
    try {
      exec(receipt, {id_param(user_id), id_param(id), now_ms});
    } catch (const sql_missing_parent&) {
      continue;
    }
    if (raise) {
      add_outbox(webhook_event_json(webhook_notification_read, now_ms, user_id, id), now_ms);
    }
  }
  bump_stats(dialect_, run, deltas);
}

void sql_store::add_receipts(std::uint64_t user_id, std::vector<proto::notification>& items) {
  std::vector<receipt_target> one{{user_id, &items}};
  add_receipts(one);
}

void sql_store::add_receipts(const std::vector<receipt_target>& pages) {
  // One statement per chunk of item ids for every page of a read batch (not one per page):
  // the users' and the ids' lists select a superset of the pairs, and only the pairs asked for
  // are applied.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<proto::notification*>> wanted;
  std::set<std::uint64_t> users, ids;
  for (const auto& p : pages) {
    for (auto& n : *p.items) {
      wanted[{p.user_id, n.id}].push_back(&n);
      users.insert(p.user_id);
      ids.insert(n.id);
    }
  }
  if (wanted.empty()) return;
  sql_params user_params;
  for (auto u : users) user_params.push_back(id_param(u));
  const std::vector<std::uint64_t> all(ids.begin(), ids.end());
  constexpr std::size_t chunk = 500;
  for (std::size_t at = 0; at < all.size(); at += chunk) {
    const auto n = std::min(chunk, all.size() - at);
    sql_params params = user_params;
    for (std::size_t i = 0; i < n; ++i) params.push_back(id_param(all[at + i]));
    for (const auto& r : query("SELECT user_id, notification_id, delivered_at_ms, read_at_ms"
                               " FROM receipts WHERE user_id IN (" +
                                   placeholders(users.size()) + ") AND notification_id IN (" +
                                   placeholders(n) + ")",
                               params)) {
      auto it =
          wanted.find({static_cast<std::uint64_t>(r.i64(0)), static_cast<std::uint64_t>(r.i64(1))});
      if (it == wanted.end()) continue;
      for (auto* item : it->second) {
        if (!r.null(2)) item->delivered_at_ms = r.i64(2);
        // A read after this page's snapshot is not shown half-way: read_at goes with read.
        if (!r.null(3) && item->read) item->read_at_ms = r.i64(3);
      }
    }
  }
}

std::int64_t sql_store::ack(const std::vector<ack_request>& acks, std::int64_t now_ms) {
  std::set<std::uint64_t> all;
  for (const auto& a : acks) all.insert(a.ids.begin(), a.ids.end());
  if (all.empty()) return 0;
  return in_tx(true, [&] {
    struct info {
      proto::item_kind kind;
      std::uint64_t user_id;
      std::string audience;
      bool visible;  // not deleted (personal), retracted or expired
    };
    std::unordered_map<std::uint64_t, info> items;
    const std::vector<std::uint64_t> ids(all.begin(), all.end());
    constexpr std::size_t chunk = 500;
    for (std::size_t at = 0; at < ids.size(); at += chunk) {
      const auto n = std::min(chunk, ids.size() - at);
      sql_params p;
      for (std::size_t i = 0; i < n; ++i) p.push_back(id_param(ids[at + i]));
      for (const auto& r : query("SELECT id, kind, user_id, audience, deleted, retracted,"
                                 " expires_at_ms FROM notifications WHERE id IN (" +
                                     placeholders(n) + ")",
                                 p)) {
        const bool live = r.i64(4) == 0 && r.i64(5) == 0 && (r.null(6) || r.i64(6) > now_ms);
        items[static_cast<std::uint64_t>(r.i64(0))] = {
            kind_of(r.i64(1)), static_cast<std::uint64_t>(r.i64(2)), r.str(3), live};
      }
    }
    // Per item, the users who may see it, each once: a broadcast acked by thousands of users
    // is written a chunk of users per statement, not one statement per user.
    std::map<std::uint64_t, std::set<std::uint64_t>> mine;    // personal: its owner
    std::map<std::uint64_t, std::set<std::uint64_t>> shared;  // unless the user deleted it
    for (const auto& a : acks) {
      for (auto id : a.ids) {
        auto it = items.find(id);
        if (it == items.end() || !it->second.visible) continue;
        const auto& i = it->second;
        if (i.kind == proto::item_kind::personal) {
          if (i.user_id == a.who.user_id) mine[id].insert(a.who.user_id);
        } else if (i.kind == proto::item_kind::broadcast ||
                   audience_matches(i.audience, a.who.groups)) {
          shared[id].insert(a.who.user_id);
        }
      }
    }
    auto for_chunks = [&](const std::set<std::uint64_t>& users, auto&& fn) {
      std::vector<std::uint64_t> part;
      for (auto u : users) {
        part.push_back(u);
        if (part.size() == chunk) fn(part), part.clear();
      }
      if (!part.empty()) fn(part);
    };
    auto users_param = [](std::uint64_t id, const std::vector<std::uint64_t>& users) {
      sql_params p{id_param(id)};
      for (auto u : users) p.push_back(id_param(u));
      return p;
    };
    // Shared items a user deleted are not theirs to see any more.
    for (const auto& [id, users] : shared) {
      auto& to = mine[id];
      std::set<std::uint64_t> gone;
      for_chunks(users, [&](const std::vector<std::uint64_t>& part) {
        for (const auto& r : query("SELECT user_id FROM user_state WHERE notification_id = ?"
                                   " AND deleted = 1 AND user_id IN (" +
                                       placeholders(part.size()) + ")",
                                   users_param(id, part))) {
          gone.insert(static_cast<std::uint64_t>(r.i64(0)));
        }
      });
      for (auto u : users) {
        if (gone.count(u) == 0) to.insert(u);
      }
    }
    const bool sqlite = is_sqlite(dialect_);
    const bool raise = webhook_enabled(webhook_notification_delivered);
    // Records the deliveries of item `id` to `part`; returns how many are new, and with `news`
    // which users those are. A delivery is new when its receipts row is inserted, or when the
    // row (a read without an ack) had no delivered_at yet: the insert's and the update's
    // changed rows are exactly those, each counted once whatever runs concurrently.
    auto write_chunk = [&](std::uint64_t id, const std::vector<std::uint64_t>& part,
                           std::vector<std::uint64_t>* news) -> std::int64_t {
      if (news && sqlite) {
        // SQLite has one writer at a time: what this transaction reads stays true.
        std::set<std::uint64_t> had;
        for (const auto& r : query("SELECT user_id FROM receipts WHERE notification_id = ?"
                                   " AND delivered_at_ms IS NOT NULL AND user_id IN (" +
                                       placeholders(part.size()) + ")",
                                   users_param(id, part))) {
          had.insert(static_cast<std::uint64_t>(r.i64(0)));
        }
        for (auto u : part) {
          if (had.count(u) == 0) news->push_back(u);
        }
      } else if (news) {
        // MySQL's statements do not tell which of their rows changed: one row at a time.
        const std::string receipt =
            "INSERT INTO receipts (user_id, notification_id, delivered_at_ms) VALUES (?, ?, ?)"
            " ON DUPLICATE KEY UPDATE delivered_at_ms = IFNULL(delivered_at_ms,"
            " VALUES(delivered_at_ms))";
        for (auto u : part) {
          if (exec(receipt, {id_param(u), id_param(id), now_ms}) > 0) news->push_back(u);
        }
        return static_cast<std::int64_t>(news->size());
      }
      std::string insert = std::string(sqlite ? "INSERT OR IGNORE" : "INSERT IGNORE") +
                           " INTO receipts (user_id, notification_id, delivered_at_ms) VALUES ";
      sql_params rows;
      for (std::size_t i = 0; i < part.size(); ++i) {
        insert += i ? ", (?, ?, ?)" : "(?, ?, ?)";
        rows.push_back(id_param(part[i]));
        rows.push_back(id_param(id));
        rows.push_back(now_ms);
      }
      sql_params up{now_ms, id_param(id)};
      for (auto u : part) up.push_back(id_param(u));
      return exec(insert, rows) +
             exec(
                 "UPDATE receipts SET delivered_at_ms = ? WHERE notification_id = ?"
                 " AND delivered_at_ms IS NULL AND user_id IN (" +
                     placeholders(part.size()) + ")",
                 up);
    };
    std::map<std::uint64_t, stats_delta> deltas;
    std::int64_t fresh = 0;
    for (const auto& [id, users] : mine) {
      std::int64_t added = 0;
      try {
        for_chunks(users, [&](const std::vector<std::uint64_t>& part) {
          std::vector<std::uint64_t> news;
          added += write_chunk(id, part, raise ? &news : nullptr);
          for (auto u : news) {
            add_outbox(webhook_event_json(webhook_notification_delivered, now_ms, u, id), now_ms);
          }
        });
      } catch (const sql_missing_parent&) {
        continue;  // purged meanwhile: no stats left to keep
      }
      if (added == 0) continue;
      fresh += added;
      deltas[id].delivered += added;
    }
    bump_stats(
        dialect_, [this](const std::string& s, const sql_params& p) { return exec(s, p); }, deltas);
    return fresh;
  });
}

std::optional<sent_item> sql_store::sent_item_of(std::uint64_t id) {
  auto rows = query("SELECT " + item_columns_of_n() +
                        ", s.delivered, s.read_count, s.deleted, r.read_at_ms"
                        " FROM notifications n"
                        " LEFT JOIN notification_stats s ON s.notification_id = n.id"
                        " LEFT JOIN receipts r ON n.kind = 0 AND r.user_id = n.user_id"
                        " AND r.notification_id = n.id WHERE n.id = ?",
                    {id_param(id)});
  if (rows.empty() || rows[0].i64(col_retracted) != 0) return std::nullopt;
  auto out = sent_of(rows[0]);
  if (out.item.read && !rows[0].null(col_stat_delivered + 3)) {
    out.item.read_at_ms = rows[0].i64(col_stat_delivered + 3);
  }
  return out;
}

sent_page sql_store::list_sent(const sent_query& q) {
  const std::int64_t before =
      q.before ? static_cast<std::int64_t>(*q.before) : std::numeric_limits<std::int64_t>::max();
  const auto want = static_cast<std::size_t>(std::max(q.limit, 1)) + 1;
  std::vector<sent_item> all;
  for (int kind : {kind_broadcast, kind_group}) {
    if (q.kind && ((*q.kind == proto::item_kind::broadcast) != (kind == kind_broadcast))) continue;
    for (const auto& r :
         query("SELECT " + item_columns_of_n() + ", s.delivered, s.read_count, s.deleted FROM " +
                   dialect_.shared_items_from +
                   " LEFT JOIN notification_stats s ON s.notification_id = n.id"
                   " WHERE n.kind = ? AND n.retracted = 0 AND n.id < ?"
                   " ORDER BY n.id DESC LIMIT ?",
               {std::int64_t{kind}, before, static_cast<std::int64_t>(want)})) {
      all.push_back(sent_of(r));
    }
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.item.id > b.item.id; });
  sent_page page;
  if (all.size() >= want) {
    all.resize(want - 1);
    page.next_before = all.back().item.id;
  }
  page.items = std::move(all);
  return page;
}

bool sql_store::presence_opened(std::uint64_t user_id, std::int64_t now_ms) {
  return in_tx(true, [&] {
    const char* insert = is_sqlite(dialect_)
                             ? "INSERT OR IGNORE INTO webhook_presence (user_id, online,"
                               " last_open_ms, last_close_ms) VALUES (?, 1, ?, 0)"
                             : "INSERT IGNORE INTO webhook_presence (user_id, online,"
                               " last_open_ms, last_close_ms) VALUES (?, 1, ?, 0)";
    bool raised = exec(insert, {id_param(user_id), now_ms}) > 0;
    if (!raised) {
      raised = exec(
                   "UPDATE webhook_presence SET online = 1, last_open_ms = ?"
                   " WHERE user_id = ? AND online = 0",
                   {now_ms, id_param(user_id)}) > 0;
    }
    if (!raised) {
      // Calls may run out of order on the pool's threads: the times only move forward.
      exec(std::string("UPDATE webhook_presence SET last_open_ms = ") +
               (is_sqlite(dialect_) ? "MAX" : "GREATEST") + "(last_open_ms, ?) WHERE user_id = ?",
           {now_ms, id_param(user_id)});
    }
    if (raised && webhook_enabled(webhook_user_online)) {
      add_outbox(webhook_event_json(webhook_user_online, now_ms, user_id), now_ms);
    }
    return raised;
  });
}

void sql_store::presence_closed(std::uint64_t user_id, std::int64_t now_ms) {
  in_tx(true, [&] {
    exec(std::string("UPDATE webhook_presence SET last_close_ms = ") +
             (is_sqlite(dialect_) ? "MAX" : "GREATEST") + "(last_close_ms, ?) WHERE user_id = ?",
         {now_ms, id_param(user_id)});
  });
}

bool sql_store::presence_offline(const viewer& v, std::int64_t window_ms, std::int64_t now_ms) {
  return in_tx(true, [&] {
    if (exec("UPDATE webhook_presence SET online = 0 WHERE user_id = ? AND online = 1"
             " AND last_close_ms <= ? AND last_open_ms <= last_close_ms",
             {id_param(v.user_id), now_ms - window_ms}) == 0) {
      return false;
    }
    if (webhook_enabled(webhook_user_offline)) {
      const auto unread = read_batch({{v, std::nullopt}}, now_ms)[0].counts.unread;
      add_outbox(webhook_event_json(webhook_user_offline, now_ms, v.user_id, std::nullopt, unread),
                 now_ms);
    }
    return true;
  });
}

std::vector<outbox_event> sql_store::claim_outbox(const std::string& owner, int limit,
                                                  std::int64_t now_ms, std::int64_t lease_ms) {
  return in_tx(true, [&] {
    std::vector<outbox_event> out;
    const std::string lock = is_sqlite(dialect_) ? "" : " FOR UPDATE SKIP LOCKED";
    sql_params seqs;
    for (const auto& r : query("SELECT seq, body, created_at_ms, attempts FROM webhook_outbox"
                               " WHERE next_attempt_ms <= ? AND lease_until_ms <= ?"
                               " ORDER BY seq LIMIT ?" +
                                   lock,
                               {now_ms, now_ms, std::int64_t{limit}})) {
      out.push_back({r.i64(0), r.str(1), r.i64(2), r.i64(3)});
      seqs.push_back(r.i64(0));
    }
    if (out.empty()) return out;
    sql_params p{owner, now_ms + lease_ms};
    p.insert(p.end(), seqs.begin(), seqs.end());
    exec("UPDATE webhook_outbox SET lease_owner = ?, lease_until_ms = ? WHERE seq IN (" +
             placeholders(seqs.size()) + ")",
         p);
    return out;
  });
}

void sql_store::outbox_sent(const std::vector<outbox_event>& events) {
  if (events.empty()) return;
  sql_params p;
  for (const auto& e : events) p.push_back(e.seq);
  in_tx(true, [&] {
    exec("DELETE FROM webhook_outbox WHERE seq IN (" + placeholders(p.size()) + ")", p);
  });
}

std::int64_t sql_store::outbox_failed(const std::vector<outbox_event>& events, std::int64_t now_ms,
                                      std::int64_t give_up_ms) {
  return in_tx(true, [&] {
    std::int64_t dropped = 0;
    for (const auto& e : events) {
      if (now_ms - e.created_at_ms >= give_up_ms) {
        dropped += exec("DELETE FROM webhook_outbox WHERE seq = ?", {e.seq});
        continue;
      }
      // 1 s after the first failure, doubling up to 10 minutes.
      const std::int64_t delay = std::min<std::int64_t>(
          600'000, std::int64_t{1000} << std::min<std::int64_t>(e.attempts, 20));
      exec(
          "UPDATE webhook_outbox SET attempts = ?, next_attempt_ms = ?, lease_owner = NULL,"
          " lease_until_ms = 0 WHERE seq = ?",
          {e.attempts + 1, now_ms + delay, e.seq});
    }
    return dropped;
  });
}

std::int64_t sql_store::outbox_pending() {
  auto rows = query("SELECT COUNT(*) FROM webhook_outbox", {});
  return rows.empty() ? 0 : rows[0].i64(0);
}

}  // namespace herald::persistence
