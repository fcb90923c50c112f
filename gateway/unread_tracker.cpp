#include "gateway/unread_tracker.hpp"

#include <algorithm>

namespace herald::gateway {

void unread_tracker::loaded(std::int64_t unread, std::uint64_t watermark, bool synced) {
  unread_ = unread;
  watermark_ = watermark;
  if (synced) floor_ = watermark;
  phase_ = phase::ready;
  last_sent_unread_ = unread_;
  out_.send_count(unread_);
  deliver_held();
  if (dirty_ || early_overflow_) {
    // A change predating the count's snapshot, or arrivals that did not fit: the store knows.
    dirty_ = false;
    early_overflow_ = false;
    on_count_changed();
  }
  if (resync_after_load_) {
    resync_after_load_ = false;
    on_resync();
  }
}

void unread_tracker::deliver_held() {
  auto held = std::move(early_);
  early_.clear();
  std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, prefix] : held) deliver(id, prefix);
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
  resyncing_ = true;
  resync_again_ = false;
  out_.start_resync(resume_point());
}

void unread_tracker::resynced(std::int64_t unread, std::uint64_t watermark, std::vector<item> items, bool more) {
  resyncing_ = false;
  unread_ = unread;
  watermark_ = std::max(watermark_, watermark);
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, prefix] : items) deliver(id, prefix);  // within the watermark: counted already
  deliver_held();                                         // past it: counted on top
  if (unread_ != last_sent_unread_) {
    last_sent_unread_ = unread_;
    out_.send_count(unread_);
  }
  if (early_overflow_) {
    early_overflow_ = false;
    on_count_changed();
  }
  if (more || resync_again_) {
    resync_again_ = false;
    resyncing_ = true;
    out_.start_resync(resume_point());
  }
}

void unread_tracker::resync_failed() {
  resyncing_ = false;
  deliver_held();
  on_count_changed();
}

void unread_tracker::on_notification(std::uint64_t id, const std::shared_ptr<const std::string>& prefix) {
  if (phase_ == phase::loading || resyncing_) {
    if (early_.size() < max_early_) {
      early_.emplace_back(id, prefix);
    } else {
      early_overflow_ = true;
    }
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

void unread_tracker::recounted(std::int64_t unread, std::uint64_t watermark) {
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
