// sql_store, second half: inserts (group commit), retraction, expiry and purge.
// Ids: one row of id_sequence, locked at the start of every insert transaction, so ids are
// assigned in increasing order AND commit in that order across every writer (several nodes may
// share one MySQL). unread_count reads the same row in its snapshot to return its watermark.
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "persistence/sql_rows.hpp"
#include "persistence/sql_store.hpp"

namespace herald::persistence {
namespace {

constexpr std::size_t insert_chunk = 32;   // rows per multi-row INSERT
constexpr std::size_t counter_chunk = 64;  // users per counter upsert
constexpr std::size_t key_chunk = 64;      // idempotency keys per lookup / insert

std::string repeat_values(const char* head, const char* group, std::size_t n, const char* tail) {
  std::string s = head;
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s += ", ";
    s += group;
  }
  return s + tail;
}

std::int64_t stored_kind(proto::item_kind k) {
  switch (k) {
    case proto::item_kind::broadcast:
      return kind_broadcast;
    case proto::item_kind::group:
      return kind_group;
    default:
      return kind_personal;
  }
}

void append_row(sql_params& p, const proto::notification& n) {
  p.push_back(id_param(n.id));
  p.push_back(stored_kind(n.kind));
  if (n.kind == proto::item_kind::personal) {
    p.push_back(id_param(n.user_id));
  } else {
    p.push_back(nullptr);
  }
  if (n.kind == proto::item_kind::group) {
    p.push_back(n.audience);
  } else {
    p.push_back(nullptr);
  }
  p.push_back(n.title);
  p.push_back(n.content);
  if (n.sender) {
    p.push_back(*n.sender);
  } else {
    p.push_back(nullptr);
  }
  if (n.data_json.empty()) {
    p.push_back(nullptr);
  } else {
    p.push_back(n.data_json);
  }
  p.push_back(n.created_at_ms);
  if (n.expires_at_ms) {
    p.push_back(*n.expires_at_ms);
  } else {
    p.push_back(nullptr);
  }
  p.push_back(std::int64_t{n.keep == proto::retention::important ? 1 : 0});
  p.push_back(std::int64_t{n.desktop ? 1 : 0});
}

// The items one request stores (ids not yet assigned), in request order.
std::vector<proto::notification> items_of(const insert_request& ir) {
  const auto& r = ir.request;
  proto::notification base;
  base.title = r.title;
  base.content = r.content;
  base.sender = r.sender;
  base.data_json = r.data_json;
  base.created_at_ms = ir.now_ms;
  base.keep = r.keep;
  base.desktop = r.desktop;
  if (r.keep == proto::retention::normal) {
    const std::int64_t ttl_s = r.ttl_s.value_or(ir.default_ttl_s);
    if (ttl_s > 0) base.expires_at_ms = ir.now_ms + ttl_s * 1000;
  }
  std::vector<proto::notification> out;
  switch (r.target) {
    case proto::target_kind::user:
      base.kind = proto::item_kind::personal;
      base.user_id = r.user_id;
      out.push_back(base);
      break;
    case proto::target_kind::users:
      base.kind = proto::item_kind::personal;
      for (auto uid : r.user_ids) {
        base.user_id = uid;
        out.push_back(base);
      }
      break;
    case proto::target_kind::everyone:
      base.kind = proto::item_kind::broadcast;
      out.push_back(base);
      break;
    case proto::target_kind::group:
      base.kind = proto::item_kind::group;
      base.audience = r.group ? r.group->canonical() : std::string();
      out.push_back(base);
      break;
  }
  return out;
}

// A key lives at least as long as the retention window (and the item, when longer).
std::optional<std::int64_t> key_expiry(const insert_request& ir) {
  std::int64_t keep_s = ir.default_ttl_s;
  if (ir.request.keep == proto::retention::normal && ir.request.ttl_s) {
    keep_s = std::max(keep_s, *ir.request.ttl_s);
  }
  if (keep_s <= 0) return std::nullopt;
  return ir.now_ms + keep_s * 1000;
}

// A batch token: 128 random bits, hex. Written with the batch, so that a COMMIT whose answer
// was lost with the connection can be resolved on another connection (batch_committed).
std::string new_batch_token() {
  static thread_local std::mt19937_64 gen{
      std::random_device{}() ^
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  static const char* hex = "0123456789abcdef";
  std::string t;
  for (int w = 0; w < 2; ++w) {
    auto v = gen();
    for (int i = 0; i < 16; ++i, v >>= 4) t += hex[v & 15];
  }
  return t;
}

}  // namespace

// When the COMMIT itself fails as unavailable (the connection died during it), the database
// may have committed: the caller gets commit_unknown with the batch's token and its results.
std::vector<insert_result> sql_store::insert_batch(const std::vector<insert_request>& batch) {
  if (batch.empty()) return {};
  std::string token;
  std::vector<insert_result> pending;
  bool committing = false;
  try {
    return in_tx(true, [&] {
      committing = false;
      token = new_batch_token();
      pending = insert_in_tx(batch, token);
      committing = true;  // the body is done: what fails next is the COMMIT
      return pending;
    });
  } catch (const commit_unknown&) {
    throw;
  } catch (const store_full&) {
    throw;  // the database refused the write for want of space: nothing committed
  } catch (const store_unavailable& e) {
    if (!committing) throw;
    throw commit_unknown(e.what(), token, std::move(pending));
  }
}

// Every insert transaction locks the id_sequence row first, so taking that lock waits for a
// batch whose COMMIT may still be running on the server (its client gone): the token lookup
// after it sees the batch's final outcome.
bool sql_store::batch_committed(const std::string& token) {
  return in_tx(true, [&] {
    query(std::string("SELECT next_id FROM id_sequence WHERE name = 'notifications'") +
              dialect_.for_update,
          {});
    return !query("SELECT 1 FROM batch_tokens WHERE token = ?", {token}).empty();
  });
}

std::vector<insert_result> sql_store::insert_in_tx(const std::vector<insert_request>& batch,
                                                   const std::string& token) {
  auto seq = query(std::string("SELECT next_id FROM id_sequence WHERE name = 'notifications'") +
                       dialect_.for_update,
                   {});
  if (seq.empty()) throw std::runtime_error("store: id_sequence is missing; run migrate()");
  const std::int64_t first_id = seq[0].i64(0);
  std::int64_t next_id = first_id;

  // Keys already stored, looked up in chunks (one round trip per chunk, not per request).
  std::unordered_map<std::string, std::string> stored_keys;
  {
    std::vector<std::string> keys;
    for (const auto& ir : batch) {
      if (ir.request.idempotency_key) keys.push_back(*ir.request.idempotency_key);
    }
    for (std::size_t at = 0; at < keys.size(); at += key_chunk) {
      const std::size_t n = std::min(key_chunk, keys.size() - at);
      sql_params params(keys.begin() + static_cast<std::ptrdiff_t>(at),
                        keys.begin() + static_cast<std::ptrdiff_t>(at + n));
      auto rows =
          query(repeat_values("SELECT idem_key, answer FROM idempotency WHERE idem_key IN (", "?",
                              n, ")") +
                    dialect_.for_update,
                params);
      for (const auto& r : rows) stored_keys.emplace(r.str(0), r.str(1));
    }
  }
  sql_params key_rows;  // 4 values per new key

  std::vector<insert_result> out(batch.size());
  std::unordered_map<std::string, std::size_t> keys_seen;  // key -> first request in batch
  std::vector<const proto::notification*> rows;
  std::map<std::uint64_t, std::int64_t> new_unread;  // sorted: counters locked in one order

  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& ir = batch[i];
    auto& res = out[i];
    const auto& key = ir.request.idempotency_key;
    if (key) {
      if (auto it = keys_seen.find(*key); it != keys_seen.end()) {
        const auto& first = out[it->second];
        res.duplicate = true;
        res.previous_answer = first.duplicate ? first.previous_answer : first.answer;
        res.answer = res.previous_answer;
        continue;
      }
      keys_seen.emplace(*key, i);
      if (auto found = stored_keys.find(*key); found != stored_keys.end()) {
        res.duplicate = true;
        res.previous_answer = found->second;
        res.answer = res.previous_answer;
        continue;
      }
    }
    std::vector<std::uint64_t> ids;
    if (ir.request.persist) {
      res.items = items_of(ir);
      for (auto& n : res.items) {
        n.id = static_cast<std::uint64_t>(next_id++);
        ids.push_back(n.id);
        if (n.kind == proto::item_kind::personal) ++new_unread[n.user_id];
      }
    }
    res.answer = proto::encode_notify_answer(ir.request, ids, ir.online);
    if (key) {
      const auto expiry = key_expiry(ir);
      key_rows.push_back(*key);
      key_rows.push_back(res.answer);
      key_rows.push_back(ir.now_ms);
      key_rows.push_back(expiry ? sql_param{*expiry} : sql_param{nullptr});
    }
  }
  std::set<std::string> new_audiences;
  std::map<std::string, std::int64_t> new_live;  // by audience, "" = broadcasts
  for (const auto& res : out) {
    for (const auto& n : res.items) {
      rows.push_back(&n);
      if (n.kind == proto::item_kind::group) new_audiences.insert(n.audience);
      if (n.kind == proto::item_kind::group) ++new_live[n.audience];
      if (n.kind == proto::item_kind::broadcast) ++new_live[std::string()];
    }
  }
  // The pair index: each pair of a group audience -> the audience (kept once it exists).
  insert_pairs({new_audiences.begin(), new_audiences.end()});

  for (std::size_t at = 0; at < rows.size(); at += insert_chunk) {
    const std::size_t n = std::min(insert_chunk, rows.size() - at);
    sql_params params;
    params.reserve(n * 12);
    for (std::size_t k = 0; k < n; ++k) append_row(params, *rows[at + k]);
    exec(repeat_values("INSERT INTO notifications (id, kind, user_id, audience, title, content,"
                       " sender, data, created_at_ms, expires_at_ms, retention, desktop) VALUES ",
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", n, ""),
         params);
  }
  for (std::size_t at = 0; at < key_rows.size(); at += 4 * key_chunk) {
    const std::size_t n = std::min(4 * key_chunk, key_rows.size() - at);
    exec(repeat_values("INSERT INTO idempotency (idem_key, answer, created_at_ms, expires_at_ms)"
                       " VALUES ",
                       "(?, ?, ?, ?)", n / 4, ""),
         sql_params(key_rows.begin() + static_cast<std::ptrdiff_t>(at),
                    key_rows.begin() + static_cast<std::ptrdiff_t>(at + n)));
  }
  if (next_id != first_id) {
    exec("UPDATE id_sequence SET next_id = ? WHERE name = 'notifications'", {next_id});
  }
  exec("INSERT INTO batch_tokens (token, created_at_ms) VALUES (?, ?)",
       {token, batch.front().now_ms});
  add_to_live(new_live);
  std::vector<std::pair<std::uint64_t, std::int64_t>> counters(new_unread.begin(),
                                                               new_unread.end());
  for (std::size_t at = 0; at < counters.size(); at += counter_chunk) {
    const std::size_t n = std::min(counter_chunk, counters.size() - at);
    sql_params params;
    for (std::size_t k = 0; k < n; ++k) {
      params.push_back(id_param(counters[at + k].first));
      params.push_back(counters[at + k].second);
    }
    exec(repeat_values("INSERT INTO unread_counters (user_id, personal_unread) VALUES ", "(?, ?)",
                       n, dialect_.counter_upsert_tail),
         params);
  }
  return out;
}

std::optional<item_ref> sql_store::retract(std::uint64_t id) {
  return in_tx(true, [&]() -> std::optional<item_ref> {
    auto rows = query(std::string("SELECT kind, user_id, audience, is_read, deleted, retracted"
                                  " FROM notifications WHERE id = ?") +
                          dialect_.for_update,
                      {id_param(id)});
    if (rows.empty() || rows[0].i64(5) != 0) return std::nullopt;
    if (exec("UPDATE notifications SET retracted = 1 WHERE id = ? AND retracted = 0",
             {id_param(id)}) != 1) {
      return std::nullopt;
    }
    const auto& r = rows[0];
    item_ref ref;
    ref.id = id;
    const auto kind = r.i64(0);
    ref.kind = kind == kind_broadcast ? proto::item_kind::broadcast
               : kind == kind_group   ? proto::item_kind::group
                                      : proto::item_kind::personal;
    ref.user_id = static_cast<std::uint64_t>(r.i64(1));
    ref.audience = r.str(2);
    if (ref.kind == proto::item_kind::personal && r.i64(3) == 0 && r.i64(4) == 0) {
      add_to_counter(ref.user_id, -1);
    }
    if (ref.kind != proto::item_kind::personal) forget_shared({{id, ref.audience}});
    ref.seq = log_retraction(ref);
    return ref;
  });
}

// Only expiries that lower somebody's count: shared items, and unread undeleted personal ones.
std::vector<item_ref> sql_store::expired_between(std::int64_t from_ms, std::int64_t to_ms) {
  auto rows = query(
      "SELECT id, kind, user_id, audience FROM notifications"
      " WHERE expires_at_ms > ? AND expires_at_ms <= ? AND retracted = 0 AND deleted = 0"
      " AND (kind <> 0 OR is_read = 0) ORDER BY expires_at_ms, id",
      {from_ms, to_ms});
  std::vector<item_ref> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    item_ref ref;
    ref.id = static_cast<std::uint64_t>(r.i64(0));
    const auto kind = r.i64(1);
    ref.kind = kind == kind_broadcast ? proto::item_kind::broadcast
               : kind == kind_group   ? proto::item_kind::group
                                      : proto::item_kind::personal;
    ref.user_id = static_cast<std::uint64_t>(r.i64(2));
    ref.audience = r.str(3);
    out.push_back(std::move(ref));
  }
  return out;
}

std::int64_t sql_store::purge_expired(std::int64_t now_ms, int limit) {
  return in_tx(true, [&] {
    auto rows = query(std::string("SELECT id, user_id, is_read, deleted, retracted, kind, audience"
                                  " FROM notifications WHERE expires_at_ms <= ?"
                                  " ORDER BY expires_at_ms LIMIT ?") +
                          dialect_.for_update,
                      {now_ms, std::int64_t{limit}});
    std::map<std::uint64_t, std::int64_t> lost_unread;
    std::map<std::uint64_t, std::string> lost_shared;  // still counted: id -> audience
    sql_params ids;
    std::string marks;
    for (const auto& r : rows) {
      ids.push_back(r.i64(0));
      marks += marks.empty() ? "?" : ", ?";
      if (!r.null(1) && r.i64(2) == 0 && r.i64(3) == 0 && r.i64(4) == 0) {
        ++lost_unread[static_cast<std::uint64_t>(r.i64(1))];
      }
      if (r.i64(5) != kind_personal && r.i64(4) == 0) {
        lost_shared.emplace(static_cast<std::uint64_t>(r.i64(0)), r.str(6));
      }
    }
    forget_shared(lost_shared);
    if (!rows.empty()) {
      exec("DELETE FROM user_state WHERE notification_id IN (" + marks + ")", ids);
      exec("DELETE FROM notifications WHERE id IN (" + marks + ")", ids);
    }
    for (const auto& [user, n] : lost_unread) add_to_counter(user, -n);
    exec(dialect_.purge_keys, {now_ms, std::int64_t{limit}});
    exec(dialect_.purge_batch_tokens, {now_ms - batch_token_life_ms, std::int64_t{limit}});
    return static_cast<std::int64_t>(rows.size());
  });
}

// Two passes: a cheap comparison of every counter with a grouped count of the rows, then, for
// each user that disagreed, the same under the locks writers take (the counter row and the
// user's rows), so that a write racing the first pass is not taken for a mismatch.
std::vector<counter_mismatch> sql_store::recount(bool repair) {
  std::map<std::uint64_t, std::int64_t> counted, stored;
  for (const auto& r : query("SELECT user_id, COUNT(*) FROM notifications WHERE kind = 0"
                             " AND is_read = 0 AND deleted = 0 AND retracted = 0 GROUP BY user_id",
                             {})) {
    counted[static_cast<std::uint64_t>(r.i64(0))] = r.i64(1);
  }
  for (const auto& r : query("SELECT user_id, personal_unread FROM unread_counters", {})) {
    stored[static_cast<std::uint64_t>(r.i64(0))] = r.i64(1);
  }
  std::vector<std::uint64_t> suspects;
  for (const auto& [u, n] : counted) {
    auto it = stored.find(u);
    if (it == stored.end() || it->second != n) suspects.push_back(u);
  }
  for (const auto& [u, n] : stored) {
    if (n != 0 && counted.count(u) == 0) suspects.push_back(u);
  }
  std::vector<counter_mismatch> out;
  for (auto u : suspects) {
    in_tx(true, [&] {
      auto c = query(std::string("SELECT personal_unread FROM unread_counters WHERE user_id = ?") +
                         dialect_.for_update,
                     {id_param(u)});
      auto n = query(std::string("SELECT COUNT(*) FROM notifications WHERE user_id = ?"
                                 " AND is_read = 0 AND deleted = 0 AND retracted = 0") +
                         dialect_.for_update,
                     {id_param(u)});
      counter_mismatch m{u, c.empty() ? 0 : c[0].i64(0), n.empty() ? 0 : n[0].i64(0)};
      if (m.stored == m.counted) return;
      out.push_back(m);
      if (!repair) return;
      if (c.empty()) {
        exec("INSERT INTO unread_counters (user_id, personal_unread) VALUES (?, ?)",
             {id_param(u), m.counted});
      } else {
        exec("UPDATE unread_counters SET personal_unread = ? WHERE user_id = ?",
             {m.counted, id_param(u)});
      }
    });
  }
  return out;
}

// The shared counters, checked the same way: audience_live against the stored unretracted
// items of each audience, shared_seen against each user's read or deleted user_state rows of
// them. Under the locks: the counter row (every writer that moves it updates it) and the rows
// it stands for, read with a lock so uncommitted changes are waited for.
std::vector<shared_counter_mismatch> sql_store::recount_shared(bool repair) {
  std::vector<shared_counter_mismatch> out;
  auto key = [](const sql_row& r, std::size_t kind_col, std::size_t audience_col) {
    return r.i64(kind_col) == kind_broadcast ? std::string() : r.str(audience_col);
  };
  std::map<std::string, std::int64_t> live_counted, live_stored;
  for (const auto& r : query("SELECT kind, audience, COUNT(*) FROM notifications WHERE kind <> 0"
                             " AND retracted = 0 GROUP BY kind, audience",
                             {})) {
    live_counted[key(r, 0, 1)] += r.i64(2);
  }
  for (const auto& r : query("SELECT audience, live FROM audience_live", {})) {
    live_stored[r.str(0)] = r.i64(1);
  }
  std::set<std::string> live_suspects;
  for (const auto& [a, n] : live_counted) {
    auto it = live_stored.find(a);
    if (it == live_stored.end() || it->second != n) live_suspects.insert(a);
  }
  for (const auto& [a, n] : live_stored) {
    if (n != 0 && live_counted.count(a) == 0) live_suspects.insert(a);
  }
  for (const auto& a : live_suspects) {
    in_tx(true, [&] {
      auto c = query(
          std::string("SELECT live FROM audience_live WHERE audience = ?") + dialect_.for_update,
          {a});
      auto n = a.empty() ? query(std::string("SELECT COUNT(*) FROM notifications WHERE kind = 1"
                                             " AND retracted = 0") +
                                     dialect_.for_share,
                                 {})
                         : query(std::string("SELECT COUNT(*) FROM notifications WHERE kind = 2"
                                             " AND audience = ? AND retracted = 0") +
                                     dialect_.for_share,
                                 {a});
      shared_counter_mismatch m{"audience " + a + " live", 0, c.empty() ? 0 : c[0].i64(0),
                                n.empty() ? 0 : n[0].i64(0)};
      if (m.stored == m.counted) return;
      out.push_back(m);
      if (repair) add_to_live({{a, m.counted - m.stored}});
    });
  }

  using seen_key = std::pair<std::uint64_t, std::string>;
  std::map<seen_key, std::int64_t> seen_counted, seen_stored;
  for (const auto& r : query("SELECT s.user_id, n.kind, n.audience, COUNT(*) FROM user_state s"
                             " JOIN notifications n ON n.id = s.notification_id"
                             " WHERE n.kind <> 0 AND n.retracted = 0"
                             " AND (s.is_read = 1 OR s.deleted = 1)"
                             " GROUP BY s.user_id, n.kind, n.audience",
                             {})) {
    seen_counted[{static_cast<std::uint64_t>(r.i64(0)), key(r, 1, 2)}] += r.i64(3);
  }
  for (const auto& r : query("SELECT user_id, audience, seen FROM shared_seen", {})) {
    seen_stored[{static_cast<std::uint64_t>(r.i64(0)), r.str(1)}] = r.i64(2);
  }
  std::set<seen_key> seen_suspects;
  for (const auto& [k, n] : seen_counted) {
    auto it = seen_stored.find(k);
    if (it == seen_stored.end() || it->second != n) seen_suspects.insert(k);
  }
  for (const auto& [k, n] : seen_stored) {
    if (n != 0 && seen_counted.count(k) == 0) seen_suspects.insert(k);
  }
  for (const auto& k : seen_suspects) {
    in_tx(true, [&] {
      auto c =
          query(std::string("SELECT seen FROM shared_seen WHERE user_id = ? AND audience = ?") +
                    dialect_.for_update,
                {id_param(k.first), k.second});
      const std::string items =
          k.second.empty() ? " AND n.kind = 1" : " AND n.kind = 2 AND n.audience = ?";
      sql_params params{id_param(k.first)};
      if (!k.second.empty()) params.push_back(k.second);
      auto n = query(
          "SELECT COUNT(*) FROM user_state s JOIN notifications n"
          " ON n.id = s.notification_id WHERE s.user_id = ?" +
              items + " AND n.retracted = 0 AND (s.is_read = 1 OR s.deleted = 1)" +
              dialect_.for_share,
          params);
      shared_counter_mismatch m{"audience " + k.second + " seen", k.first,
                                c.empty() ? 0 : c[0].i64(0), n.empty() ? 0 : n[0].i64(0)};
      if (m.stored == m.counted) return;
      out.push_back(m);
      if (repair) add_to_seen({{k, m.counted - m.stored}});
    });
  }
  return out;
}

store_stats sql_store::stats(std::int64_t now_ms) {
  store_stats s;
  auto rows = query(
      "SELECT COUNT(*) FROM notifications WHERE retracted = 0 AND deleted = 0"
      " AND (expires_at_ms IS NULL OR expires_at_ms > ?)",
      {now_ms});
  s.notifications_stored = rows.empty() ? 0 : rows[0].i64(0);
  return s;
}

}  // namespace herald::persistence
