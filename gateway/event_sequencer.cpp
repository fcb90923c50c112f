#include "gateway/event_sequencer.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace herald::gateway {

event_sequencer::event_sequencer(boost::asio::io_context& io, std::chrono::milliseconds window,
                                 deliver_fn deliver, fence f)
    : strand_(boost::asio::make_strand(io)),
      window_(window),
      deliver_(std::move(deliver)),
      fence_(std::move(f)),
      timer_(strand_) {}

void event_sequencer::push(std::shared_ptr<const cm::event> e) {
  if (window_.count() == 0 || e->type != cm::event_type::notification) {
    deliver_(std::move(e));
    return;
  }
  held_count_.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(strand_, [this, e = std::move(e)]() mutable {
    const auto id = e->id;
    held_.emplace(id, entry{std::chrono::steady_clock::now() + window_, ++arrivals_, std::move(e)});
    if (fence_.ask && round_ == 0) start_round();
    arm();
  });
}

void event_sequencer::confirmed(std::string node, std::uint64_t round) {
  boost::asio::post(strand_, [this, node = std::move(node), round] {
    if (round != round_ || round_waits_.erase(node) == 0 || !round_waits_.empty()) return;
    finish_round();
    arm();
  });
}

void event_sequencer::start_round() {
  round_ = ++rounds_;
  round_covers_ = arrivals_;
  round_deadline_ = std::chrono::steady_clock::now() + window_;
  round_waits_.clear();
  round_waits_.insert(std::string());
  if (fence_.peers) {
    for (auto& p : fence_.peers()) round_waits_.insert(std::move(p));
  }
  fence_.ask(round_);
}

void event_sequencer::release(std::multimap<std::uint64_t, entry>::iterator it) {
  auto e = std::move(it->second.e);
  held_.erase(it);
  held_count_.fetch_sub(1, std::memory_order_relaxed);
  deliver_(std::move(e));
}

void event_sequencer::finish_round() {
  // Every id below the highest one the round covers has arrived: all of those go, in id order
  // (a later arrival with a lower id than a covered one too).
  std::uint64_t upto = 0;
  bool any = false;
  for (const auto& [id, en] : held_) {
    if (en.arrival <= round_covers_) {
      upto = std::max(upto, id);
      any = true;
    }
  }
  round_ = 0;
  round_waits_.clear();
  while (any && !held_.empty() && held_.begin()->first <= upto) release(held_.begin());
  if (!held_.empty()) start_round();
}

void event_sequencer::on_timer() {
  const auto now = std::chrono::steady_clock::now();
  if (round_ != 0 && now >= round_deadline_) {
    given_up_.fetch_add(1, std::memory_order_relaxed);
    round_ = 0;
    round_waits_.clear();
  }
  // The lowest id goes first; a higher id that is due waits behind a lower one that is not.
  while (!held_.empty() && held_.begin()->second.due <= now) {
    at_window_.fetch_add(1, std::memory_order_relaxed);
    release(held_.begin());
  }
  if (fence_.ask && round_ == 0 && !held_.empty()) start_round();
}

void event_sequencer::arm() {
  auto next = std::chrono::steady_clock::time_point::max();
  if (!held_.empty()) next = held_.begin()->second.due;
  if (round_ != 0) next = std::min(next, round_deadline_);
  if (next == std::chrono::steady_clock::time_point::max()) return;
  if (armed_ && armed_at_ <= next) return;
  armed_ = true;
  armed_at_ = next;
  const auto gen = ++timer_gen_;
  timer_.expires_at(next);  // a wait armed for later is cancelled (its handler sees another gen)
  timer_.async_wait([this, gen](boost::system::error_code ec) {
    if (gen != timer_gen_) return;
    armed_ = false;
    if (ec) return;
    on_timer();
    arm();
  });
}

}  // namespace herald::gateway
