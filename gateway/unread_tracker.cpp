#include "gateway/unread_tracker.hpp"

#include <algorithm>

#include "persistence/store.hpp"

namespace herald::gateway {

void unread_tracker::loaded(std::int64_t unread, std::uint64_t watermark, bool synced) {
  advance_floor(watermark);  // changes before the connection's count: no frame is owed
  unread_ = unread;
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
    if (resync_after_load_ || !early_.empty() || early_overflow_ || dirty_) {
      resync_after_load_ = false;
      dirty_ = false;
      early_overflow_ = false;
      fetch();
    }
    return;
  }
  deliver_held();
  if (dirty_ || early_overflow_) {
    // A change predating the count's snapshot, or arrivals that did not fit: the store knows.
    dirty_ = false;
    early_overflow_ = false;
    on_count_changed();
  }
}

void unread_tracker::deliver_held() {
  auto held = std::move(early_);
  early_.clear();
  std::sort(held.begin(), held.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, prefix] : held) deliver(id, prefix);
}

void unread_tracker::release_held_upto(std::uint64_t id) {
  auto held = std::move(early_);
  early_.clear();
  std::sort(held.begin(), held.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [i, prefix] : held) {
    if (i <= id) {
      deliver(i, prefix);
    } else {
      early_.emplace_back(i, std::move(prefix));
    }
  }
}

void unread_tracker::drop_held_upto(std::uint64_t id) {
  std::erase_if(early_, [id](const item& e) { return e.first <= id; });
}

void unread_tracker::hold(std::uint64_t id, const std::shared_ptr<const std::string>& prefix) {
  if (early_.size() < max_early_) {
    early_.emplace_back(id, prefix);
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
  if (held_) release_held();  // the frames it waits for may be lost with the bus
}

void unread_tracker::on_bus_back() {
  outage_ = false;
  // After a failed read (arrivals held, or a repair not done): one more read.
  if (phase_ == phase::ready && !resyncing_ && (!early_.empty() || early_overflow_ || read_failed_))
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
  if (held_) {
    held_.reset();
    recounting_ = false;
    during_recount_.clear();
    if (recount_again_) recount();
  }
  unread_ = unread;
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
  const bool again = more || resync_again_ || early_overflow_ || (outage_ && !early_.empty());
  if (!again && !outage_) deliver_held();
  if (unread_ != last_sent_unread_) {
    last_sent_unread_ = unread_;
    out_.send_count(unread_);
  }
  if (again) {
    early_overflow_ = false;
    fetch();
  }
}

void unread_tracker::resync_failed() {
  resyncing_ = false;
  if (outage_) {
    read_failed_ = true;  // arrivals stay held: the next arrival or the bus's return reads again
    return;
  }
  deliver_held();
  on_count_changed();
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
  return std::find(recent_.begin(), recent_.end(), id) != recent_.end();
}

void unread_tracker::deliver(std::uint64_t id, const std::shared_ptr<const std::string>& prefix) {
  if (id <= floor_ || id == max_sent_ || (id < max_sent_ && sent_recently(id))) {
    ++duplicates_;
    return;
  }
  if (recounting_ && during_recount_.size() < max_early_) during_recount_.push_back(id);
  if (id > watermark_) ++unread_;
  last_sent_unread_ = unread_;
  max_sent_ = std::max(max_sent_, id);
  recent_[recent_at_] = id;
  recent_at_ = (recent_at_ + 1) % recent_.size();
  out_.send_notification(id, prefix, unread_);
}

void unread_tracker::page_sent(std::uint64_t since, const std::vector<std::uint64_t>& ids) {
  if (phase_ != phase::ready || resyncing_ || outage_ || ids.empty()) return;
  const std::uint64_t had = std::max(max_sent_, floor_);
  if (since > had || ids.back() <= had) return;
  for (auto id : ids) {
    if (id <= had) continue;  // sent live already, or in the initial sync
    if (recounting_ && during_recount_.size() < max_early_) during_recount_.push_back(id);
    if (id > watermark_) ++unread_;
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
  during_recount_.clear();
  out_.start_recount();
}

void unread_tracker::recounted(std::int64_t unread, std::uint64_t watermark,
                               const std::vector<std::uint64_t>& seqs) {
  held_count h{unread, watermark, seqs, 0};
  const bool sent = std::all_of(seqs.begin(), seqs.end(), [this](std::uint64_t s) {
    return s <= seq_floor_ || seen_.count(s) != 0;
  });
  if (!sent && !outage_) {
    // Still a recount in progress: arrivals meanwhile are counted on top when it goes out.
    ++counts_held_;
    held_ = std::move(h);
    return;
  }
  held_ = std::move(h);
  release_held();
}

void unread_tracker::on_state(std::uint64_t seq) {
  if (seq <= seq_floor_) return;
  seen_.insert(seq);
  constexpr std::size_t max_seen = 1024;
  while (seen_.size() > max_seen) seen_.erase(seen_.begin());
  if (!held_) return;
  const bool sent = std::all_of(held_->seqs.begin(), held_->seqs.end(), [this](std::uint64_t s) {
    return s <= seq_floor_ || seen_.count(s) != 0;
  });
  if (sent) release_held();
}

void unread_tracker::on_tick() {
  if (held_ && ++held_->ticks >= 2) release_held();
}

void unread_tracker::release_held() {
  auto h = std::move(*held_);
  held_.reset();
  // Every change the count depends on was framed: up to its watermark (or, when the list was
  // cut at the store's limit, up to its last seq) nothing more is owed.
  if (h.seqs.size() >= static_cast<std::size_t>(persistence::max_change_seqs)) {
    advance_floor(h.seqs.back());
  } else {
    advance_floor(h.watermark);
  }
  apply_recount(h.unread, h.watermark);
}

void unread_tracker::advance_floor(std::uint64_t to) {
  if (to <= seq_floor_) return;
  seq_floor_ = to;
  seen_.erase(seen_.begin(), seen_.upper_bound(to));
}

void unread_tracker::apply_recount(std::int64_t unread, std::uint64_t watermark) {
  recounting_ = false;
  // Arrivals during the recount that its snapshot did not include are counted on top.
  std::int64_t after = 0;
  for (auto id : during_recount_) after += id > watermark ? 1 : 0;
  const bool overflow = during_recount_.size() >= max_early_;
  during_recount_.clear();
  unread_ = unread + after;
  watermark_ = std::max(watermark_, watermark);
  if (unread_ != last_sent_unread_) {
    last_sent_unread_ = unread_;
    out_.send_count(unread_);
  }
  if (recount_again_ || overflow) recount();
}

void unread_tracker::recount_failed() {
  // The store is down: the resync after it returns recounts every connection.
  recounting_ = false;
  during_recount_.clear();
  if (recount_again_) recount_again_ = false;
}

}  // namespace herald::gateway
