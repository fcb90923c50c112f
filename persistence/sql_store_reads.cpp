// sql_store, the read side: unread counts, inbox pages and `since` syncs (read_batch: every read
// of a batch from one snapshot statement, see sql_store_snapshot.cpp), the viewers' audiences,
// and the connection's cache of shared item bodies.
#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "persistence/sql_rows.hpp"
#include "persistence/sql_store.hpp"

namespace herald::persistence {
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

// An audience matches a viewer when the viewer has every pair of it: it is one of the subsets of
// the viewer's pairs (1 to 8 pairs). group_set keeps its pairs in the canonical order (kind, then
// id), so a subset joined in that order is the audience's canonical key.
std::optional<std::vector<std::string>> sql_store::audience_keys(const viewer& v) {
  const auto& pairs = v.groups.pairs();
  if (pairs.size() > max_key_pairs) return std::nullopt;
  std::vector<std::string> out;
  const std::uint32_t all = 1u << pairs.size();
  out.reserve(all - 1);
  for (std::uint32_t mask = 1; mask < all; ++mask) {
    std::string key;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if ((mask & (1u << i)) == 0) continue;
      if (!key.empty()) key.push_back('/');
      key.append(pairs[i].kind).push_back('/');
      key.append(pairs[i].id);
    }
    out.push_back(std::move(key));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The viewers' audiences. A viewer with at most max_key_pairs pairs (at most 255 keys): the keys
// of its possible audiences, looked up by primary key in audience_live (a row for every group
// audience stored), so the work is the viewer's own subsets whatever else is stored. A viewer
// with more pairs: the audiences sharing a pair with it (the pair index), then a subset match.
sql_store::audience_lookup sql_store::find_audiences(const std::vector<const viewer*>& viewers) {
  audience_lookup out;
  out.of.resize(viewers.size());
  std::vector<std::optional<std::vector<std::string>>> keys(viewers.size());
  std::set<std::string> key_set, pair_set;
  for (std::size_t i = 0; i < viewers.size(); ++i) {
    if (viewers[i]->groups.empty()) continue;
    keys[i] = audience_keys(*viewers[i]);
    if (keys[i]) {
      key_set.insert(keys[i]->begin(), keys[i]->end());
    } else {
      for (auto& p : pairs_of(*viewers[i])) pair_set.insert(std::move(p));
    }
  }
  out.keys.assign(key_set.begin(), key_set.end());
  out.pairs.assign(pair_set.begin(), pair_set.end());
  std::set<std::string> stored;  // the keys that are audiences
  constexpr std::size_t chunk = 256;
  for (std::size_t at = 0; at < out.keys.size(); at += chunk) {
    const std::size_t n = std::min(chunk, out.keys.size() - at);
    sql_params params(out.keys.begin() + static_cast<std::ptrdiff_t>(at),
                      out.keys.begin() + static_cast<std::ptrdiff_t>(at + n));
    for (const auto& r :
         query("SELECT audience FROM audience_live WHERE audience IN (" + placeholders(n) + ")",
               params)) {
      stored.insert(r.str(0));
    }
  }
  std::unordered_map<std::string, std::vector<std::string>> by_pair;
  if (!out.pairs.empty()) out.found = audiences_of(out.pairs, &by_pair);
  out.found.insert(stored.begin(), stored.end());
  for (std::size_t i = 0; i < viewers.size(); ++i) {
    if (keys[i]) {
      for (const auto& k : *keys[i]) {
        if (stored.count(k) != 0) out.of[i].push_back(k);
      }
    } else if (!viewers[i]->groups.empty()) {
      // Only the candidates of this viewer's own pairs (not the whole batch's).
      std::set<std::string> mine;
      for (const auto& p : pairs_of(*viewers[i])) {
        if (auto it = by_pair.find(p); it != by_pair.end()) {
          mine.insert(it->second.begin(), it->second.end());
        }
      }
      out.of[i] = matching(mine, *viewers[i]);
    }
  }
  return out;
}

void sql_store::add_known_reads(const audience_lookup& lookup,
                                std::vector<sql_statement>& branches) const {
  if (!lookup.keys.empty()) branches.push_back(audiences_by_key_read(lookup.keys));
  if (!lookup.pairs.empty()) branches.push_back(audiences_known_read(lookup.pairs));
}

bool sql_store::lookup_holds(const audience_lookup& lookup, const snapshot& snap) {
  return std::includes(lookup.found.begin(), lookup.found.end(), snap.known.begin(),
                       snap.known.end());
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
  const auto audiences = find_audiences({&v}).of[0];
  std::vector<sql_statement> branches;
  branches.push_back(audience_items_read(0, v.user_id, "", now_ms, "", {}, "", 0, true));
  for (const auto& a : audiences) {
    branches.push_back(audience_items_read(0, v.user_id, a, now_ms, "", {}, "", 0, true));
  }
  auto snap = snapshot_read(branches, 0, 1);
  return refs_of(snap, v, snap.shared[0]);
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
// the watermark (see persistence/README.md). The viewers' audiences come first (find_audiences);
// the statement reads again what that lookup looked at and the batch starts over if an audience
// appeared meanwhile. The bodies of shared items on a page come from the connection's cache or
// one more query.
std::vector<read_result> sql_store::read_batch(const std::vector<read_request>& reads,
                                               std::int64_t now_ms) {
  std::vector<read_result> out(reads.size());
  if (reads.empty()) return out;
  std::vector<std::uint64_t> users;
  std::vector<const viewer*> viewers;
  for (const auto& r : reads) {
    users.push_back(r.who.user_id);
    viewers.push_back(&r.who);
  }
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());

  for (int attempt = 0;; ++attempt) {
    const auto lookup = find_audiences(viewers);
    const auto& audiences = lookup.of;
    std::set<std::string> all_audiences;
    for (const auto& mine : audiences) all_audiences.insert(mine.begin(), mine.end());
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
    // The live counters and the audiences known (what the lookup looked up by key) are one
    // branch: audience_live rows of both sets.
    std::set<std::string> live_rows(all_audiences);
    live_rows.insert(lookup.keys.begin(), lookup.keys.end());
    branches.push_back(live_and_known_read({live_rows.begin(), live_rows.end()}));
    branches.push_back(expired_read(counted, users, now_ms));
    if (!lookup.pairs.empty()) branches.push_back(audiences_known_read(lookup.pairs));
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
    if (attempt < 3 && !lookup_holds(lookup, snap)) {
      continue;  // an audience appeared between the lookup and the snapshot
    }
    std::vector<receipt_target> pages;
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
      pages.push_back({reads[i].who.user_id, &out[i].page.items});
    }
    add_receipts(pages);
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
  std::vector<shared_ref> shared;
  snapshot snap;
  for (int attempt = 0;; ++attempt) {
    const auto lookup = find_audiences({&v});
    const auto& audiences = lookup.of[0];
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
    add_known_reads(lookup, branches);
    snap = snapshot_read(branches, 1, 1);
    if (attempt < 3 && !lookup_holds(lookup, snap)) continue;
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

}  // namespace herald::persistence
