// The Store interface: every query Herald makes of its database. Implementations are blocking
// and NOT thread-safe: each instance is one connection, used by one thread at a time (the
// store_pool gives each of its threads its own instance). Code above this interface never names
// a backend; open_store() picks one from the URL.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "proto/audience.hpp"
#include "proto/notification.hpp"
#include "proto/notify_request.hpp"
#include "proto/state_frames.hpp"

namespace herald::persistence {

// The database cannot be reached or failed mid-transaction; nothing of the call was committed.
struct store_unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The database answers but cannot write (disk or table full); nothing of the call was committed.
// Reads may still work.
struct store_full : store_unavailable {
  using store_unavailable::store_unavailable;
};

// The caller's view: which user, with which groups (from the presented token).
struct viewer {
  std::uint64_t user_id = 0;
  proto::group_set groups;
};

// One accepted notify request to store (persist: true, or persist: false with a key).
struct insert_request {
  proto::notify_request request;
  std::int64_t now_ms = 0;         // created_at
  std::int64_t default_ttl_s = 0;  // HERALD_RETENTION_DAYS in seconds
  std::int64_t online = 0;         // connections it will be pushed to (part of the answer)
};

struct insert_result {
  // True when the idempotency key already existed: nothing was stored; `previous_answer` holds
  // the first answer's JSON, returned unchanged.
  bool duplicate = false;
  std::string previous_answer;
  // The stored items, in request order (one per user for user_ids, else one). Empty when
  // persist is false.
  std::vector<proto::notification> items;
  // The answer to send: proto::encode_notify_answer of the ids and `online`; with a key it is
  // stored beside the key in the same transaction.
  std::string answer;
};

struct inbox_query {
  int limit = 20;                       // 1..100
  std::optional<std::uint64_t> before;  // only ids < before
  bool unread_only = false;
  std::optional<proto::item_kind> kind;  // nullopt = all
};

struct inbox_page {
  std::vector<proto::notification> items;  // newest first
  std::optional<std::uint64_t> next_before;
  std::int64_t unread = 0;  // the viewer's total unread, whatever the filters
};

struct unread_result {
  std::int64_t unread = 0;
  // Highest notification id the count could include (ids commit in increasing order): a
  // `notification` event with id <= watermark is already counted.
  std::uint64_t watermark = 0;
};

// One read of a batch: the viewer's unread count and, with `page`, an inbox page.
struct read_request {
  viewer who;
  std::optional<inbox_query> page;
  // With a value: also list the seqs of the changes in (seqs_after, counts.watermark] that the
  // viewer's count depends on (see store::change_seqs).
  std::optional<std::uint64_t> seqs_after = std::nullopt;
};
struct read_result {
  unread_result counts;
  inbox_page page;  // when a page was asked for (its unread is counts.unread)
  // With seqs_after: ascending, at most max_change_seqs.
  std::vector<std::uint64_t> seqs{};
};
inline constexpr int max_change_seqs = 256;

// A change to an item as state frames and the change log describe it (API.md "State events");
// its seq comes from the id sequence, allocated in the change's transaction.
using change_type = proto::change_type;
using removal_reason = proto::removal_reason;
using item_change = proto::state_change;

// Recovery: the changes a viewer missed, oldest first.
struct change_page {
  std::vector<item_change> changes;
  bool more = false;   // the page was full
  bool reset = false;  // after_seq is older than the kept log: nothing listed, reload
};

// What a change to one item means for other connections' counts.
struct item_ref {
  std::uint64_t id = 0;
  proto::item_kind kind = proto::item_kind::personal;
  std::uint64_t user_id = 0;  // personal
  std::string audience;       // group, canonical
  std::uint64_t seq = 0;      // retract, record_expiries: the change's seq
};

struct mark_result {
  bool found = false;    // visible to the viewer (else the caller answers 404)
  bool changed = false;  // it was unread (read) / visible (delete) before this call
  std::optional<proto::notification> item;  // get(): the item after marking
  std::optional<item_change> change;        // the logged change, when changed
};

struct store_stats {
  std::int64_t notifications_stored = 0;  // visible, unexpired items
};

// A stored counter that disagreed with a count of the rows it stands for.
struct counter_mismatch {
  std::uint64_t user_id = 0;
  std::int64_t stored = 0;   // the counter (0 when the user had no counter row)
  std::int64_t counted = 0;  // what the rows say
};

// The COMMIT of an insert batch failed with the connection: the database may or may not have
// committed it. `token` names the batch (a row written in the same transaction), `results` is
// what the batch answers when it did commit.
struct commit_unknown : store_unavailable {
  commit_unknown(const std::string& why, std::string t, std::vector<insert_result> r)
      : store_unavailable(why), token(std::move(t)), results(std::move(r)) {}
  std::string token;
  std::vector<insert_result> results;
};

// Receipts, read rates and the webhook outbox (API.md "Receipts and read rates", "Webhooks").
// One user's acks: the ids their client has shown or stored.
struct ack_request {
  viewer who;
  std::vector<std::uint64_t> ids;
};
// Distinct users who received (acked), read and deleted an item: counters, never a scan.
struct item_stats {
  std::int64_t delivered = 0;
  std::int64_t read = 0;
  std::int64_t deleted = 0;
};
struct sent_item {
  proto::notification item;  // as stored; a personal item keeps its user_id
  item_stats stats;
};
struct sent_query {
  int limit = 20;                        // 1..100
  std::optional<std::uint64_t> before;   // only ids < before
  std::optional<proto::item_kind> kind;  // broadcast or group; nullopt = both
};
struct sent_page {
  std::vector<sent_item> items;  // newest first
  std::optional<std::uint64_t> next_before;
};
// A webhook event waiting in the outbox (its JSON, sent unchanged on every attempt).
struct outbox_event {
  std::int64_t seq = 0;
  std::string body;
  std::int64_t created_at_ms = 0;
  std::int64_t attempts = 0;
};

class store {
 public:
  virtual ~store() = default;

  // Creates or migrates the schema to the current version. Safe to run concurrently from
  // several nodes.
  virtual void migrate() = 0;
  // Cheap round trip; throws store_unavailable when the database does not answer.
  virtual void ping() = 0;

  // Stores a batch of requests in ONE transaction (persist: false requests store only their
  // idempotency key and answer) (group commit); results in request order.
  // Ids are assigned in increasing order and commit in that order across all writers.
  virtual std::vector<insert_result> insert_batch(const std::vector<insert_request>& batch) = 0;

  virtual unread_result unread_count(const viewer& v, std::int64_t now_ms) = 0;
  virtual inbox_page list_inbox(const viewer& v, const inbox_query& q, std::int64_t now_ms) = 0;
  // Several counts and pages, of one or several users, from one snapshot in one round trip
  // (the read batcher's call); results in request order.
  virtual std::vector<read_result> read_batch(const std::vector<read_request>& reads,
                                              std::int64_t now_ms) = 0;
  // Visible items with id > since, oldest first, at most `limit`.
  virtual std::vector<proto::notification> list_since(const viewer& v, std::uint64_t since,
                                                      int limit, std::int64_t now_ms) = 0;
  // The item as the viewer sees it; marks it read first when mark_read.
  virtual mark_result get(const viewer& v, std::uint64_t id, bool mark_read,
                          std::int64_t now_ms) = 0;
  virtual mark_result mark_read(const viewer& v, std::uint64_t id, std::int64_t now_ms) = 0;
  // Marks every item visible to the viewer read; returns how many changed.
  virtual std::int64_t mark_all_read(const viewer& v, std::int64_t now_ms) = 0;
  virtual mark_result remove_for_user(const viewer& v, std::uint64_t id, std::int64_t now_ms) = 0;
  // Retracts from everyone. nullopt when unknown or already retracted.
  virtual std::optional<item_ref> retract(std::uint64_t id) = 0;
  // Items whose expires_at is in (from_ms, to_ms]: their readers' counts drop.
  virtual std::vector<item_ref> expired_between(std::int64_t from_ms, std::int64_t to_ms) = 0;
  // Deletes up to `limit` expired items (and their per-user state); returns how many.
  virtual std::int64_t purge_expired(std::int64_t now_ms, int limit) = 0;
  virtual store_stats stats(std::int64_t now_ms) = 0;
  // Checks every user's counters against the rows; with `repair`, sets each wrong one to what
  // the rows say (under the row locks writers take, so concurrent writes stay exact).
  // Returns the mismatches found.
  virtual std::vector<counter_mismatch> recount(bool repair) = 0;
  // Whether the insert batch named `token` (commit_unknown::token) committed. Throws
  // store_unavailable when that cannot be read.
  virtual bool batch_committed(const std::string& token) = 0;

  // The change log (API.md "State events"). The change the last mark_all_read call on this
  // instance logged (nullopt when it changed nothing).
  virtual std::optional<item_change> last_change() const { return std::nullopt; }
  // Changes with seq > after_seq to items with id <= max_id (read_all whatever its up_to)
  // that the viewer can see or could, oldest first, at most `limit`.
  virtual change_page list_changes(const viewer& v, std::uint64_t after_seq, std::uint64_t max_id,
                                   int limit) {
    (void)v, (void)after_seq, (void)max_id, (void)limit;
    return {};
  }
  // The seqs in (after_seq, up_to] of the logged changes a viewer's count depends on (the
  // user's own, the broadcasts', the viewer's audiences'), ascending, at most `limit`.
  virtual std::vector<std::uint64_t> change_seqs(const viewer& v, std::uint64_t after_seq,
                                                 std::uint64_t up_to, int limit) {
    (void)v, (void)after_seq, (void)up_to, (void)limit;
    return {};
  }
  // Sets each item's seq: the last logged change it reflects for the viewer, else its id.
  virtual void annotate_seq(const viewer& v, std::vector<proto::notification>& items) {
    (void)v;
    for (auto& n : items) n.seq = n.id;
  }
  // Logs one `removed` (expired) change per item whose expires_at is in (from_ms, to_ms] and
  // that somebody could still see, once whichever node asks; returns them with their seq.
  virtual std::vector<item_ref> record_expiries(std::int64_t from_ms, std::int64_t to_ms,
                                                std::int64_t now_ms) {
    (void)from_ms, (void)to_ms, (void)now_ms;
    return {};
  }
  // Deletes up to `limit` changes logged at or before before_ms; returns how many.
  virtual std::int64_t purge_changes(std::int64_t before_ms, int limit) {
    (void)before_ms, (void)limit;
    return 0;
  }
  // Records the first delivery of each id the viewer can see (others are ignored), in one
  // transaction for the whole batch; returns how many deliveries were new.
  virtual std::int64_t ack(const std::vector<ack_request>& acks, std::int64_t now_ms) = 0;
  // An item as sent, with its stats; nullopt when unknown or retracted.
  virtual std::optional<sent_item> sent_item_of(std::uint64_t id) = 0;
  // The broadcasts and group items sent (retracted ones left out), newest first.
  virtual sent_page list_sent(const sent_query& q) = 0;
  // Webhook presence (user.online / user.offline), decided in the shared store so that one
  // node raises each event. opened: the user's first connection on a node; true when it
  // raised user.online. closed: the user's last connection on a node closed.
  virtual bool presence_opened(std::uint64_t user_id, std::int64_t now_ms) = 0;
  virtual void presence_closed(std::uint64_t user_id, std::int64_t now_ms) = 0;
  // Raises user.offline (with the viewer's unread count) when the user is still marked online
  // and nothing opened since a close at least `window_ms` ago; true when it did.
  virtual bool presence_offline(const viewer& v, std::int64_t window_ms, std::int64_t now_ms) = 0;
  // Takes up to `limit` due outbox events, oldest first, leased to `owner` for `lease_ms`
  // (another node skips them until then).
  virtual std::vector<outbox_event> claim_outbox(const std::string& owner, int limit,
                                                 std::int64_t now_ms, std::int64_t lease_ms) = 0;
  // The receiver took them: they leave the outbox.
  virtual void outbox_sent(const std::vector<outbox_event>& events) = 0;
  // The receiver refused them or did not answer: each is due again after its backoff, or is
  // dropped when it is older than `give_up_ms`; returns how many were dropped.
  virtual std::int64_t outbox_failed(const std::vector<outbox_event>& events, std::int64_t now_ms,
                                     std::int64_t give_up_ms) = 0;
  // Events waiting in the outbox.
  virtual std::int64_t outbox_pending() = 0;
};

// "sqlite:PATH" or "mysql://USER:PASS@HOST:PORT/DB". Throws std::invalid_argument for a URL of
// no known form (a bad setting), store_unavailable when the database cannot be reached.
std::unique_ptr<store> open_store(const std::string& url);
// What a backend asks of the threads above it, known before any connection opens.
struct store_capabilities {
  std::string backend;  // "sqlite" or "mysql" (for logs; never the URL, which may hold a password)
  unsigned pool_threads = 4;  // store_pool threads when HERALD_STORE_THREADS is unset
};
// The capabilities of the backend open_store(url) picks. Throws std::invalid_argument like it.
store_capabilities capabilities_of(const std::string& url);
// Validates the URL's form without connecting; returns an error message or empty.
std::string check_store_url(const std::string& url);

}  // namespace herald::persistence
