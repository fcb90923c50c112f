#include "gateway/unread_tracker.hpp"

#include <algorithm>

#include "persistence/store.hpp"

namespace herald::gateway {

void unread_tracker::loaded(std::int64_t unread, std::uint64_t watermark, bool synced) {
  advance_floor(watermark);  // changes before the connection's count: no frame is owed
  unread_ = to_count(unread);
  watermark_ = watermark;
  start_ = watermark;
  if (synced) floor_ = watermark;
  phase_ = phase::ready;
  last_sent_unread_ = unread_;
  out_.send_count(unread_);
  if (resync_after_load_ || outage_) {
    // The bus was down during the load: arrivals the count includes go out as on any load;
    // later ones may have overtaken items other nodes stored, so they go out through a read
    // of the store (which counts too).
    release_held_upto(watermark);
    if (resync_after_load_ || has_early() || early_overflow_ || dirty_) {
      resync_after_load_ = false;
      dirty_ = false;
      early_overflow_ = false;
      fetch();
    }
    trim();
    return;
  }
  deliver_held();
  if (dirty_ || early_overflow_) {
    // A change predating the count's snapshot, or arrivals that did not fit: the store knows.
    dirty_ = false;
    early_overflow_ = false;
    on_count_changed();
  }
  trim();
}

unread_tracker::pending& unread_tracker::cold() {
  if (!cold_) cold_ = std::make_unique<pending>();
  return *cold_;
}

std::vector<unread_tracker::item> unread_tracker::take_early() {
  if (!cold_) return {};
  auto held = std::move(cold_->early);
  cold_->early.clear();
  std::sort(held.begin(), held.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return held;
}

void unread_tracker::clear_during_recount() {
  if (cold_) cold_->during_recount.clear();
}

void unread_tracker::trim() {
  if (cold_ && cold_->early.empty() && cold_->during_recount.empty() && cold_->seen.empty() &&
      !cold_->held)
    cold_.reset();
}

void unread_tracker::deliver_held() {
  for (auto& [id, prefix] : take_early()) deliver(id, prefix);
}

void unread_tracker::release_held_upto(std::uint64_t id) {
  for (auto& [i, prefix] : take_early()) {
    if (i <= id) {
      deliver(i, prefix);
    } else {
      cold().early.emplace_back(i, std::move(prefix));
    }
  }
}

void unread_tracker::drop_held_upto(std::uint64_t id) {
  if (cold_) std::erase_if(cold_->early, [id](const item& e) { return e.first <= id; });
}

void unread_tracker::hold(std::uint64_t id, const std::shared_ptr<const std::string>& prefix) {
  if (!cold_ || cold_->early.size() < max_early_) {
    cold().early.emplace_back(id, prefix);
  } else {
    early_overflow_ = true;
  }
}

void unread_tracker::fetch() {
  resyncing_ = true;
  read_failed_ = false;
  resync_again_ = false;
  out_.start_resync(resume_point());
}

void unread_tracker::on_bus_lost() {
  outage_ = true;
  if (has_held()) release_held();  // the frames it waits for may be lost with the bus
}

void unread_tracker::on_bus_back() {
  outage_ = false;
  // After a failed read (arrivals held, or a repair not done): one more read.
  if (phase_ == phase::ready && !resyncing_ && (has_early() || early_overflow_ || read_failed_))
    fetch();
}

void unread_tracker::on_resync() {
  if (phase_ == phase::loading) {
    resync_after_load_ = true;  // the initial load reads after the outage anyway; then once more
    return;
  }
  if (resyncing_) {
    resync_again_ = true;
    return;
  }
  fetch();
}

void unread_tracker::resynced(std::int64_t unread, std::uint64_t watermark, std::vector<item> items,
                              bool more) {
  resyncing_ = false;
  // After a bus outage the store's count is the repair: state frames of the meantime may be
  // lost, and a held count is older than this one.
  advance_floor(watermark);
  if (has_held()) {
    cold_->held.reset();
    recounting_ = false;
    clear_during_recount();
    if (recount_again_) recount();
  }
  unread_ = to_count(unread);
  watermark_ = std::max(watermark_, watermark);
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, prefix] : items) deliver(id, prefix);  // within the watermark: counted already
  // Held arrivals the store answered for are dropped (sent just now, or no longer listed).
  // The rest are past its snapshot: pushed on top of the count, unless another read follows
  // (the bus is still down, or was down again meanwhile), which may find items stored before
  // them that the bus lost: then they wait for that read, so that ids still go out in order.
  const std::uint64_t covered = more && !items.empty() ? items.back().first : watermark;
  drop_held_upto(covered);
  // Arrivals that did not fit are in the store too: one more read lists them.
  const bool again = more || resync_again_ || early_overflow_ || (outage_ && has_early());
  if (!again && !outage_) deliver_held();
  if (unread_ != last_sent_unread_) {
    last_sent_unread_ = unread_;
    out_.send_count(unread_);
  }
  if (again) {
    early_overflow_ = false;
    fetch();
  }
  trim();
}

void unread_tracker::resync_failed() {
  resyncing_ = false;
  if (outage_) {
    read_failed_ = true;  // arrivals stay held: the next arrival or the bus's return reads again
    return;
  }
  deliver_held();
  on_count_changed();
  trim();
}

void unread_tracker::on_notification(std::uint64_t id,
                                     const std::shared_ptr<const std::string>& prefix) {
  if (phase_ == phase::loading || resyncing_) {
    hold(id, prefix);
    return;
  }
  if (outage_) {
    hold(id, prefix);
    fetch();  // the store has it, and whatever another node stored before it
    return;
  }
  deliver(id, prefix);
}

bool unread_tracker::sent_recently(std::uint64_t id) const {
  if (id > max_sent_ || max_sent_ - id >= no_recent) return false;
  const auto below = static_cast<std::uint32_t>(max_sent_ - id);
  return std::find(recent_.begin(), recent_.end(), below) != recent_.end();
}

void unread_tracker::remember_sent(std::uint64_t id) {
  if (id > max_sent_) {
    // Every remembered distance grows by the step (saturating at no_recent).
    const std::uint64_t step = id - max_sent_;
    for (auto& r : recent_) {
      if (r != no_recent) {
        r = step >= no_recent - r ? no_recent : static_cast<std::uint32_t>(r + step);
      }
    }
    max_sent_ = id;
  }
  const std::uint64_t below = max_sent_ - id;
  recent_[recent_at_] = below >= no_recent ? no_recent : static_cast<std::uint32_t>(below);
  static_assert(std::tuple_size_v<decltype(recent_)> == 16, "recent_at_ has 4 bits");
  recent_at_ = static_cast<std::uint8_t>((recent_at_ + 1) % recent_.size());
}

void unread_tracker::deliver(std::uint64_t id, const std::shared_ptr<const std::string>& prefix) {
  if (id <= floor_ || id == max_sent_ || (id < max_sent_ && sent_recently(id))) {
    ++duplicates_;
    return;
  }
  note_during_recount(id);
  if (id > watermark_ && unread_ < INT32_MAX) ++unread_;
  last_sent_unread_ = unread_;
  remember_sent(id);
  out_.send_notification(id, prefix, unread_);
}

void unread_tracker::page_sent(std::uint64_t since, const std::vector<std::uint64_t>& ids) {
  if (phase_ != phase::ready || resyncing_ || outage_ || ids.empty()) return;
  const std::uint64_t had = std::max(max_sent_, floor_);
  if (since > had || ids.back() <= had) return;
  for (auto id : ids) {
    if (id <= had) continue;  // sent live already, or in the initial sync
    note_during_recount(id);
    if (id > watermark_ && unread_ < INT32_MAX) ++unread_;
  }
  floor_ = ids.back();
  if (unread_ != last_sent_unread_) {
    last_sent_unread_ = unread_;
    out_.send_count(unread_);
  }
}

void unread_tracker::on_count_changed() {
  if (phase_ == phase::loading) {
    dirty_ = true;  // the initial count is in flight and may predate this change
    return;
  }
  if (recounting_) {
    recount_again_ = true;
    return;
  }
  recount();
}

void unread_tracker::recount() {
  recounting_ = true;
  recount_again_ = false;
  clear_during_recount();
  out_.start_recount();
}

void unread_tracker::recounted(std::int64_t unread, std::uint64_t watermark,
                               const std::vector<std::uint64_t>& seqs) {
  const bool sent =
      std::all_of(seqs.begin(), seqs.end(), [this](std::uint64_t s) { return seen(s); });
  if (!sent && !outage_) {
    // Still a recount in progress: arrivals meanwhile are counted on top when it goes out.
    ++counts_held_;
    cold().held = held_count{unread, watermark, seqs, 0};
    return;
  }
  if (cold_) cold_->held.reset();
  advance_floor_for(watermark, seqs);
  apply_recount(unread, watermark);
}

void unread_tracker::on_state(std::uint64_t seq) {
  if (seq <= seq_floor_) return;
  auto& seen_set = cold().seen;
  seen_set.insert(seq);
  constexpr std::size_t max_seen = 1024;
  while (seen_set.size() > max_seen) seen_set.erase(seen_set.begin());
  if (!cold_->held) return;
  const auto& seqs = cold_->held->seqs;
  if (std::all_of(seqs.begin(), seqs.end(), [this](std::uint64_t s) { return seen(s); }))
    release_held();
}

void unread_tracker::on_tick() {
  if (has_held() && ++cold_->held->ticks >= 2) release_held();
}

void unread_tracker::release_held() {
  auto h = std::move(*cold_->held);
  cold_->held.reset();
  advance_floor_for(h.watermark, h.seqs);
  apply_recount(h.unread, h.watermark);
}

void unread_tracker::advance_floor_for(std::uint64_t watermark,
                                       const std::vector<std::uint64_t>& seqs) {
  // Every change the count depends on was framed: up to its watermark (or, when the list was
  // cut at the store's limit, up to its last seq) nothing more is owed.
  if (seqs.size() >= static_cast<std::size_t>(persistence::max_change_seqs)) {
    advance_floor(seqs.back());
  } else {
    advance_floor(watermark);
  }
}

void unread_tracker::advance_floor(std::uint64_t to) {
  if (to <= seq_floor_) return;
  seq_floor_ = to;
  if (cold_) cold_->seen.erase(cold_->seen.begin(), cold_->seen.upper_bound(to));
}

void unread_tracker::note_during_recount(std::uint64_t id) {
  if (recounting_ && (!cold_ || cold_->during_recount.size() < max_early_))
    cold().during_recount.push_back(id);
}

void unread_tracker::apply_recount(std::int64_t unread, std::uint64_t watermark) {
  recounting_ = false;
  // Arrivals during the recount that its snapshot did not include are counted on top.
  std::int64_t after = 0;
  bool overflow = false;
  if (cold_) {
    for (auto id : cold_->during_recount) after += id > watermark ? 1 : 0;
    overflow = cold_->during_recount.size() >= max_early_;
    cold_->during_recount.clear();
  }
  unread_ = to_count(unread + after);
  watermark_ = std::max(watermark_, watermark);
  if (unread_ != last_sent_unread_) {
    last_sent_unread_ = unread_;
    out_.send_count(unread_);
  }
  if (recount_again_ || overflow) recount();
  trim();
}

void unread_tracker::recount_failed() {
  // The store is down: the resync after it returns recounts every connection.
  recounting_ = false;
  clear_during_recount();
  recount_again_ = false;
  trim();
}

}  // namespace herald::gateway
