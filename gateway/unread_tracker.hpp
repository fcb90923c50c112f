// The unread count one connection shows, and which notification frames it may still send.
// The count comes from the store at connect and on recounts, and moves with events in between;
// a snapshot's watermark (the highest id it could include) tells which arrivals it already
// counts, so the last count frame always ends on the true value (DESIGN.md invariant 2).
// Delivery rules: an id is sent at most once per connection, in increasing order, and never one
// that the initial sync covers (those are in the sync pages).
// While the bus is down (on_bus_lost until on_resync), events other nodes publish are lost, so
// a live arrival is not pushed as it comes: it makes the tracker read the store from its resume
// point, and what the store holds goes out in id order (the missed items with it).
// A count never reflects a change whose state frame this connection has not been sent yet
// (API.md "State events": the state frame goes before the count it causes): a recount lists the
// seqs of the changes its count depends on since the last count (store::change_seqs), and its
// result is held until the state frame of each of them went out (on_state), for at most two
// ticks (a frame lost with the bus, or purged meanwhile, does not hold the count for ever).
// Pure logic, no I/O: the session supplies the actions. Not thread-safe: the session's thread.
#pragma once
#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace herald::gateway {

class unread_tracker {
 public:
  // What the session does on the tracker's behalf, in the order the tracker asks.
  class actions {
   public:
    virtual ~actions() = default;
    virtual void send_count(std::int64_t unread) = 0;
    virtual void send_notification(std::uint64_t id,
                                   const std::shared_ptr<const std::string>& prefix,
                                   std::int64_t unread) = 0;
    // Read the count from the store; answer with recounted() or recount_failed().
    virtual void start_recount() = 0;
    // Read the count and the items after `from` from the store; answer with resynced() or
    // resync_failed().
    virtual void start_resync(std::uint64_t from) = 0;
  };
  using item = std::pair<std::uint64_t, std::shared_ptr<const std::string>>;

  enum class phase : std::uint8_t { loading, ready };

  explicit unread_tracker(actions& out, std::uint16_t max_early = 256)
      : out_(out), max_early_(max_early) {}

  // The initial count arrived. `synced` when a sync of the items up to `watermark` was sent
  // just before (connect with `since`): those ids are not pushed again.
  void loaded(std::int64_t unread, std::uint64_t watermark, bool synced);
  void on_notification(std::uint64_t id, const std::shared_ptr<const std::string>& prefix);
  void on_count_changed();
  // `seqs`: the changes in (seqs_after(), watermark] the count depends on (the store's
  // change_seqs, ascending); the count goes out once each one's state frame did.
  void recounted(std::int64_t unread, std::uint64_t watermark,
                 const std::vector<std::uint64_t>& seqs = {});
  // A state frame of this user's scope reached the session (sent, or filtered out as not
  // visible to this connection): counts that depend on its change may go out.
  void on_state(std::uint64_t seq);
  // Once a second: a count held past two ticks goes out anyway.
  void on_tick();
  // What a recount asks the store for: changes with a higher seq may still be unsent here.
  std::uint64_t seqs_after() const { return seq_floor_; }
  // Recount results held for state frames (the session's metrics).
  std::uint16_t counts_held() const { return counts_held_; }
  void recount_failed();
  // The node's bus subscription is lost: from now until on_bus_back, a live arrival is not
  // pushed as it comes but read from the store with what precedes it, so that nothing another
  // node published (and the bus lost) is skipped or sent out of order.
  void on_bus_lost();
  void on_bus_back();
  // After a bus outage: the items this connection may have missed, then the count. Live
  // arrivals meanwhile are held, so that ids still go out in increasing order.
  void on_resync();
  // `items` (id order, all within `watermark`) came from the store; `more` when a page was full.
  void resynced(std::int64_t unread, std::uint64_t watermark, std::vector<item> items, bool more);
  void resync_failed();

  // A `sync` page the client asked for went out: `ids` (id order) are every visible item in
  // (since, ids.back()]. When it follows on from what this connection already had (`since` at
  // or below the last id it was sent or synced), its items are not pushed again as live frames,
  // and those not sent yet count as arrivals do (a count frame follows when the count moved).
  // Ignored while loading, resyncing or during a bus outage (the store read that follows
  // answers for those items).
  void page_sent(std::uint64_t since, const std::vector<std::uint64_t>& ids);

  phase current() const { return phase_; }
  bool bus_lost() const { return outage_; }
  std::int64_t unread() const { return unread_; }
  // Items with a higher id were never delivered here (and the connection's initial count
  // included every lower one): a resync after a bus outage starts here.
  std::uint64_t resume_point() const { return std::max({max_sent_, floor_, start_}); }
  // Nothing is pending: the connection holds no arrivals, state seqs or held count (the memory
  // of an idle connection is the tracker's fixed part alone).
  bool idle() const { return !cold_; }
  // Notifications refused as already sent (a bus redelivery, a sync overlap).
  std::uint16_t duplicates() const { return duplicates_; }

 private:
  void deliver(std::uint64_t id, const std::shared_ptr<const std::string>& prefix);
  void deliver_held();
  void release_held_upto(std::uint64_t id);  // later ones stay held
  void drop_held_upto(std::uint64_t id);
  void hold(std::uint64_t id, const std::shared_ptr<const std::string>& prefix);
  void fetch();  // start_resync from the resume point
  void recount();
  bool sent_recently(std::uint64_t id) const;
  void remember_sent(std::uint64_t id);  // id went out: max_sent_ and recent_
  void apply_recount(std::int64_t unread, std::uint64_t watermark);
  void release_held();
  void advance_floor(std::uint64_t to);
  void advance_floor_for(std::uint64_t watermark, const std::vector<std::uint64_t>& seqs);
  void note_during_recount(std::uint64_t id);  // while a recount is in flight

  // What a connection holds only while something is pending (arrivals before its count or
  // during a recount or resync, state seqs above the floor, a held count): allocated on first
  // use and freed when empty, so that an idle connection carries none of it.
  struct held_count {
    std::int64_t unread = 0;
    std::uint64_t watermark = 0;
    std::vector<std::uint64_t> seqs;
    int ticks = 0;
  };
  struct pending {
    std::vector<item> early;  // arrivals before the initial count, or held during a resync
    std::vector<std::uint64_t> during_recount;  // arrivals during a recount (ids only)
    std::set<std::uint64_t> seen;               // state seqs above seq_floor_ received so far
    std::optional<held_count> held;
  };
  pending& cold();  // allocates
  bool has_early() const { return cold_ && !cold_->early.empty(); }
  bool has_held() const { return cold_ && cold_->held.has_value(); }
  bool seen(std::uint64_t seq) const {
    return seq <= seq_floor_ || (cold_ && cold_->seen.count(seq) != 0);
  }
  std::vector<item> take_early();
  void clear_during_recount();
  void trim();  // frees `cold_` when nothing in it is pending

  actions& out_;
  std::unique_ptr<pending> cold_;
  // Counts fit in 32 bits (saturated: a count is far below 2^31).
  static std::int32_t to_count(std::int64_t n) {
    return static_cast<std::int32_t>(std::clamp<std::int64_t>(n, INT32_MIN, INT32_MAX));
  }
  std::int32_t unread_ = 0;
  std::int32_t last_sent_unread_ = -1;
  std::uint64_t watermark_ = 0;  // highest id the count includes
  std::uint64_t floor_ = 0;      // ids up to here came in the initial sync
  std::uint64_t start_ = 0;      // the initial count's watermark: older items are not pushed
  std::uint64_t max_sent_ = 0;
  // Seq gating: every change with seq <= seq_floor_ that counts here had its frame sent (or
  // predates the connection); pending::seen holds the state seqs above it received so far.
  std::uint64_t seq_floor_ = 0;
  // The last ids sent, for out-of-order duplicates: each as its distance below max_sent_
  // (exact; kept up to date when max_sent_ moves), or no_recent when unused or 2^32 - 1 ids or
  // more below it.
  static constexpr std::uint32_t no_recent = UINT32_MAX;
  static constexpr std::array<std::uint32_t, 16> no_recents() {
    std::array<std::uint32_t, 16> a{};
    a.fill(no_recent);
    return a;
  }
  std::array<std::uint32_t, 16> recent_ = no_recents();
  std::uint16_t duplicates_ = 0;   // wraps: the session only looks for a change
  std::uint16_t counts_held_ = 0;  // wraps
  std::uint16_t max_early_;
  std::uint8_t recent_at_ : 4 = 0;
  phase phase_ : 1 = phase::loading;
  bool early_overflow_ : 1 = false;
  bool dirty_ : 1 = false;  // a change arrived before the initial count
  bool recounting_ : 1 = false;
  bool recount_again_ : 1 = false;
  bool resyncing_ : 1 = false;  // live arrivals are held meanwhile
  bool resync_again_ : 1 = false;
  bool resync_after_load_ : 1 = false;
  bool outage_ : 1 = false;       // the bus is down: arrivals go through the store
  bool read_failed_ : 1 = false;  // the last read through the store failed during the outage
};

}  // namespace herald::gateway
