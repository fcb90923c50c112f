// The unread count one connection shows, and which notification frames it may still send.
// The count comes from the store at connect and on recounts, and moves with events in between;
// a snapshot's watermark (the highest id it could include) tells which arrivals it already
// counts, so the last count frame always ends on the true value (DESIGN.md invariant 2).
// Delivery rules: an id is sent at most once per connection, in increasing order, and never one
// that the initial sync covers (those are in the sync pages).
// While the bus is down (on_bus_lost until on_resync), events other nodes publish are lost, so
// a live arrival is not pushed as it comes: it makes the tracker read the store from its resume
// point, and what the store holds goes out in id order (the missed items with it).
// Pure logic, no I/O: the session supplies the actions. Not thread-safe: the session's thread.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
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

  enum class phase { loading, ready };

  explicit unread_tracker(actions& out, std::size_t max_early = 256)
      : out_(out), max_early_(max_early) {}

  // The initial count arrived. `synced` when a sync of the items up to `watermark` was sent
  // just before (connect with `since`): those ids are not pushed again.
  void loaded(std::int64_t unread, std::uint64_t watermark, bool synced);
  void on_notification(std::uint64_t id, const std::shared_ptr<const std::string>& prefix);
  void on_count_changed();
  void recounted(std::int64_t unread, std::uint64_t watermark);
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

  phase current() const { return phase_; }
  bool bus_lost() const { return outage_; }
  std::int64_t unread() const { return unread_; }
  // Items with a higher id were never delivered here (and the connection's initial count
  // included every lower one): a resync after a bus outage starts here.
  std::uint64_t resume_point() const { return std::max({max_sent_, floor_, start_}); }
  // Notifications refused as already sent (a bus redelivery, a sync overlap).
  std::uint64_t duplicates() const { return duplicates_; }

 private:
  void deliver(std::uint64_t id, const std::shared_ptr<const std::string>& prefix);
  void deliver_held();
  void release_held_upto(std::uint64_t id);  // later ones stay held
  void drop_held_upto(std::uint64_t id);
  void hold(std::uint64_t id, const std::shared_ptr<const std::string>& prefix);
  void fetch();  // start_resync from the resume point
  void recount();
  bool sent_recently(std::uint64_t id) const;

  actions& out_;
  std::size_t max_early_;
  phase phase_ = phase::loading;
  std::int64_t unread_ = 0;
  std::int64_t last_sent_unread_ = -1;
  std::uint64_t watermark_ = 0;  // highest id the count includes
  std::uint64_t floor_ = 0;      // ids up to here came in the initial sync
  std::uint64_t start_ = 0;      // the initial count's watermark: older items are not pushed
  std::uint64_t max_sent_ = 0;
  // Arrivals before the initial count; arrivals during a recount (ids only).
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const std::string>>> early_;
  std::vector<std::uint64_t> during_recount_;
  std::array<std::uint64_t, 16> recent_{};  // the last ids sent, for out-of-order duplicates
  std::size_t recent_at_ = 0;
  std::uint64_t duplicates_ = 0;
  bool early_overflow_ = false;
  bool dirty_ = false;  // a change arrived before the initial count
  bool recounting_ = false;
  bool recount_again_ = false;
  bool resyncing_ = false;  // live arrivals go to early_ meanwhile
  bool resync_again_ = false;
  bool resync_after_load_ = false;
  bool outage_ = false;       // the bus is down: arrivals go through the store
  bool read_failed_ = false;  // the last read through the store failed during the outage
};

}  // namespace herald::gateway
