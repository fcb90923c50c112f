// The store logic shared by the SQL backends: every query, transaction and counter rule lives
// here once, so SQLite and MySQL behave the same. A backend supplies only the connection
// primitives (run a statement, run a query, begin/commit/rollback, the migration lock).
// Like every store, an instance is one connection: not thread-safe.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "persistence/sql_schema.hpp"
#include "persistence/store.hpp"

namespace herald::persistence {

// A transaction lost a lock conflict (deadlock, lock wait timeout, SQLITE_BUSY): retry it.
struct sql_retry : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A bound parameter: NULL, an integer or text. (A plain struct rather than std::variant: GCC 12
// warns falsely about variants in initializer lists.)
struct sql_param {
  enum class type { null, integer, text };
  type kind = type::null;
  std::int64_t integer = 0;
  std::string text;
  sql_param(std::nullptr_t) {}
  sql_param(std::int64_t v) : kind(type::integer), integer(v) {}
  sql_param(std::string v) : kind(type::text), text(std::move(v)) {}
};
// A row referenced an item that no longer exists (purged or deleted meanwhile).
struct sql_missing_parent : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using sql_params = std::vector<sql_param>;

struct sql_statement {
  std::string sql;
  sql_params params;
};

// One result row; every cell as text (NULL as nullopt), converted by the caller.
struct sql_row {
  std::vector<std::optional<std::string>> cells;
  bool null(std::size_t i) const { return !cells[i].has_value(); }
  std::int64_t i64(std::size_t i) const;        // 0 when NULL
  const std::string& str(std::size_t i) const;  // "" when NULL
};

// A shared-item counter that disagreed with a count of the rows it stands for: `counter` is
// "audience A live" (audience_live of A, "" = the broadcasts; user_id 0) or "audience A seen"
// (shared_seen of user_id and A).
struct shared_counter_mismatch {
  std::string counter;
  std::uint64_t user_id = 0;
  std::int64_t stored = 0;
  std::int64_t counted = 0;
};

class sql_store : public store {
 public:
  void migrate() override;
  void ping() override;
  std::vector<insert_result> insert_batch(const std::vector<insert_request>& batch) override;
  unread_result unread_count(const viewer& v, std::int64_t now_ms) override;
  inbox_page list_inbox(const viewer& v, const inbox_query& q, std::int64_t now_ms) override;
  std::vector<read_result> read_batch(const std::vector<read_request>& reads,
                                      std::int64_t now_ms) override;
  std::vector<proto::notification> list_since(const viewer& v, std::uint64_t since, int limit,
                                              std::int64_t now_ms) override;
  mark_result get(const viewer& v, std::uint64_t id, bool mark_read, std::int64_t now_ms) override;
  mark_result mark_read(const viewer& v, std::uint64_t id, std::int64_t now_ms) override;
  std::int64_t mark_all_read(const viewer& v, std::int64_t now_ms) override;
  mark_result remove_for_user(const viewer& v, std::uint64_t id, std::int64_t now_ms) override;
  std::optional<item_ref> retract(std::uint64_t id) override;
  std::vector<item_ref> expired_between(std::int64_t from_ms, std::int64_t to_ms) override;
  std::int64_t purge_expired(std::int64_t now_ms, int limit) override;
  store_stats stats(std::int64_t now_ms) override;
  std::vector<counter_mismatch> recount(bool repair) override;
  bool batch_committed(const std::string& token) override;
  // recount() for the shared-item counters (audience_live, shared_seen), the same way.
  std::vector<shared_counter_mismatch> recount_shared(bool repair);
  // The change log (sql_store_changes.cpp).
  std::optional<item_change> last_change() const override { return last_change_; }
  change_page list_changes(const viewer& v, std::uint64_t after_seq, std::uint64_t max_id,
                           int limit) override;
  std::vector<std::uint64_t> change_seqs(const viewer& v, std::uint64_t after_seq,
                                         std::uint64_t up_to, int limit) override;
  void annotate_seq(const viewer& v, std::vector<proto::notification>& items) override;
  std::vector<item_ref> record_expiries(std::int64_t from_ms, std::int64_t to_ms,
                                        std::int64_t now_ms) override;
  std::int64_t purge_changes(std::int64_t before_ms, int limit) override;
  // Receipts, stats, webhook presence and the outbox (sql_receipts.cpp).
  std::int64_t ack(const std::vector<ack_request>& acks, std::int64_t now_ms) override;
  std::optional<sent_item> sent_item_of(std::uint64_t id) override;
  sent_page list_sent(const sent_query& q) override;
  bool presence_opened(std::uint64_t user_id, std::int64_t now_ms) override;
  void presence_closed(std::uint64_t user_id, std::int64_t now_ms) override;
  bool presence_offline(const viewer& v, std::int64_t window_ms, std::int64_t now_ms) override;
  std::vector<outbox_event> claim_outbox(const std::string& owner, int limit, std::int64_t now_ms,
                                         std::int64_t lease_ms) override;
  void outbox_sent(const std::vector<outbox_event>& events) override;
  std::int64_t outbox_failed(const std::vector<outbox_event>& events, std::int64_t now_ms,
                             std::int64_t give_up_ms) override;
  std::int64_t outbox_pending() override;

  // Drops every Herald table (the store tests start from it); migrate() recreates them.
  void drop_schema();

 protected:
  explicit sql_store(const sql_dialect& dialect) : dialect_(dialect) {}

  // Runs a statement; returns the number of rows it changed.
  virtual std::int64_t exec(const std::string& sql, const sql_params& params) = 0;
  virtual std::vector<sql_row> query(const std::string& sql, const sql_params& params) = 0;
  // A write transaction takes the write lock up front where the backend has one (SQLite); a
  // read transaction reads one consistent snapshot.
  virtual void begin_tx(bool write) = 0;
  virtual void commit_tx() = 0;
  virtual void rollback_tx() noexcept = 0;
  // Serializes migrate() across every node sharing the database.
  virtual void lock_schema() = 0;
  // Ends the migration: commits (ok) or rolls back what the backend can roll back.
  virtual void unlock_schema(bool ok) = 0;

 private:
  enum class action { look, read, remove };
  // A live broadcast/group item visible to a viewer, with that viewer's read state.
  struct shared_ref {
    std::uint64_t id = 0;
    proto::item_kind kind = proto::item_kind::broadcast;
    bool read = false;
    std::string audience;  // "" for a broadcast
  };

  template <class F>
  auto in_tx(bool write, F&& body) -> decltype(body());

  mark_result act(const viewer& v, std::uint64_t id, action a, std::int64_t now_ms);
  // What one snapshot read returned.
  struct shared_live {
    std::uint64_t id;
    proto::item_kind kind;
    std::string audience;
    bool read;
  };
  struct snapshot {
    std::int64_t next_id = 0;  // the id sequence: the watermark + 1
    std::unordered_map<std::uint64_t, std::int64_t> personal_unread;  // by user
    // Counters: live items by audience ("" broadcasts); read or deleted ones by user, audience.
    std::unordered_map<std::string, std::int64_t> live;
    std::unordered_map<std::uint64_t, std::unordered_map<std::string, std::int64_t>> seen;
    // Expired, unretracted items not purged yet, by audience; those of them each user has read
    // or deleted.
    std::unordered_map<std::string, std::vector<std::uint64_t>> expired;
    std::unordered_map<std::uint64_t, std::set<std::uint64_t>> expired_seen;
    std::set<std::string> known;                   // audiences of the batch's pairs
    std::vector<std::vector<shared_live>> shared;  // by shared branch (read index)
    std::vector<std::vector<sql_row>> personal;    // by personal branch
  };
  // Runs the branches as one UNION ALL statement: one read view, one round trip.
  snapshot snapshot_read(const std::vector<sql_statement>& branches, std::size_t personal_branches,
                         std::size_t shared_branches = 0);
  sql_statement counts_read(std::uint64_t user_id, std::int64_t now_ms) const;
  sql_statement live_and_known_read(const std::vector<std::string>& audiences) const;
  sql_statement seen_read(std::uint64_t user_id, const std::vector<std::string>& audiences) const;
  sql_statement expired_read(const std::vector<std::string>& audiences,
                             const std::vector<std::uint64_t>& users, std::int64_t now_ms) const;
  sql_statement audiences_known_read(const std::vector<std::string>& pairs) const;
  sql_statement audience_items_read(std::size_t index, std::uint64_t user_id,
                                    const std::string& audience, std::int64_t now_ms,
                                    const std::string& where, sql_params more, const char* order,
                                    std::int64_t limit, bool skip_read) const;
  sql_statement personal_read(const viewer& v, std::int64_t now_ms, const std::string& where,
                              sql_params more, std::size_t index) const;
  // With by_pair, also the audiences of each pair.
  std::set<std::string> audiences_of(
      const std::vector<std::string>& pairs,
      std::unordered_map<std::string, std::vector<std::string>>* by_pair = nullptr);
  std::vector<std::string> matching(const std::set<std::string>& candidates, const viewer& v);
  static std::vector<std::string> pairs_of(const viewer& v);
  // The audiences of the viewers of one read, and what the lookup looked at: a viewer with at
  // most max_key_pairs pairs by the keys of its audiences (every subset of its pairs), one with
  // more by the pair index.
  struct audience_lookup {
    std::vector<std::vector<std::string>> of;  // per viewer: its audiences, sorted
    std::vector<std::string> keys;             // the audience keys looked up
    std::vector<std::string> pairs;            // the pairs looked up in the pair index
    std::set<std::string> found;               // the audiences the lookup found
  };
  static constexpr std::size_t max_key_pairs = 8;
  // Every possible audience of a viewer with at most max_key_pairs pairs, canonical.
  static std::optional<std::vector<std::string>> audience_keys(const viewer& v);
  audience_lookup find_audiences(const std::vector<const viewer*>& viewers);
  // Branches that read again, inside the snapshot, what the lookup looked at; lookup_holds is
  // false when the snapshot knows an audience the lookup did not find (created in between).
  void add_known_reads(const audience_lookup& lookup, std::vector<sql_statement>& branches) const;
  static bool lookup_holds(const audience_lookup& lookup, const snapshot& snap);
  sql_statement audiences_by_key_read(const std::vector<std::string>& keys) const;
  static unread_result counts_of(const snapshot& snap, const viewer& v,
                                 const std::vector<std::string>& audiences);
  static std::vector<shared_ref> refs_of(const snapshot& snap, const viewer& v,
                                         std::vector<shared_live>& rows);
  inbox_page page_of(const inbox_query& q, const std::vector<shared_ref>& shared,
                     std::vector<sql_row>& personal);
  std::vector<shared_ref> live_shared(const viewer& v, std::int64_t now_ms);
  bool audience_matches(const std::string& audience, const proto::group_set& groups);
  // Marks a shared item read or deleted for the user; returns {changed, newly seen} (seen: read
  // or deleted, which moves the user's shared_seen counter).
  std::pair<bool, bool> set_shared_state(std::uint64_t user_id, std::uint64_t id, action a);
  void add_to_counter(std::uint64_t user_id, std::int64_t delta);
  // Moves counters by deltas (rows created when missing), in key order (one lock order).
  void add_to_live(const std::map<std::string, std::int64_t>& by_audience);
  void add_to_seen(const std::map<std::pair<std::uint64_t, std::string>, std::int64_t>& deltas);
  // Counter changes for shared items leaving the counted set (retraction, purge): each item's
  // audience loses one live item and each of its readers one seen item. `items`: id -> audience.
  void forget_shared(const std::map<std::uint64_t, std::string>& items);
  void insert_pairs(const std::vector<std::string>& audiences);
  // Full rows of the given shared ids that still exist, keyed by id (valid until the next call).
  std::unordered_map<std::uint64_t, const sql_row*> shared_bodies(
      const std::vector<std::uint64_t>& ids);
  std::vector<insert_result> insert_in_tx(const std::vector<insert_request>& batch,
                                          const std::string& token);
  // The change log, called inside the transaction of the change (sql_store_changes.cpp).
  // Locks the id sequence row and returns its next value.
  std::int64_t lock_sequence();
  // Allocates the next seq and logs one change; `user_id` 0 with the item's audience for a
  // change to a shared item.
  item_change log_change(change_type type, std::uint64_t id, removal_reason reason,
                         std::uint64_t user_id, const std::string& audience, bool expiry = false);
  // A read (`read`) or delete of one item by one user.
  item_change log_user_change(std::uint64_t user_id, std::uint64_t id, bool read);
  // A retraction: one row, scoped like the item.
  std::uint64_t log_retraction(const item_ref& ref);
  std::optional<item_change> last_change_;

  // Receipts (sql_receipts.cpp), inside the caller's transaction: the user read / deleted
  // these items just now (rows changed): receipts, stats counters and outbox events.
  void on_marked(std::uint64_t user_id, const std::vector<std::uint64_t>& ids, bool read,
                 std::int64_t now_ms);
  // Fills read_at / delivered_at of the user's items from their receipts.
  void add_receipts(std::uint64_t user_id, std::vector<proto::notification>& items);
  struct receipt_target {
    std::uint64_t user_id;
    std::vector<proto::notification>* items;
  };
  // Every page of a read batch in one statement (per 500 item ids).
  void add_receipts(const std::vector<receipt_target>& pages);
  void add_outbox(const std::string& body, std::int64_t now_ms);

  // Batch tokens outlive any commit whose outcome is still being resolved.
  static constexpr std::int64_t batch_token_life_ms = 86'400'000;
  const sql_dialect& dialect_;
  std::unordered_map<std::string, std::optional<proto::audience>> audience_cache_;
  static constexpr std::size_t max_cached_shared_rows = 512;
  std::unordered_map<std::uint64_t, sql_row> shared_rows_;
};

// Runs body in a transaction; retries it (from the start) when it loses a lock conflict.
template <class F>
auto sql_store::in_tx(bool write, F&& body) -> decltype(body()) {
  constexpr int max_attempts = 20;
  static thread_local std::minstd_rand jitter{std::random_device{}()};
  for (int attempt = 1;; ++attempt) {
    try {
      begin_tx(write);
      if constexpr (std::is_void_v<decltype(body())>) {
        body();
        commit_tx();
        return;
      } else {
        auto result = body();
        commit_tx();
        return result;
      }
    } catch (const sql_retry& e) {
      rollback_tx();
      if (attempt == max_attempts) {
        throw store_unavailable(std::string("store: gave up after lock conflicts: ") + e.what());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200 * std::min(attempt, 10) +
                                                            static_cast<int>(jitter() % 1000)));
    } catch (...) {
      rollback_tx();
      throw;
    }
  }
}

}  // namespace herald::persistence
