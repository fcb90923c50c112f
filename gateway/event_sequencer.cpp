#include "gateway/event_sequencer.hpp"

#include <boost/asio/post.hpp>

namespace herald::gateway {

event_sequencer::event_sequencer(boost::asio::io_context& io, std::chrono::milliseconds window,
                                 deliver_fn deliver)
    : strand_(boost::asio::make_strand(io)),
      window_(window),
      deliver_(std::move(deliver)),
      timer_(strand_) {}

void event_sequencer::push(std::shared_ptr<const cm::event> e) {
  if (window_.count() == 0 || e->type != cm::event_type::notification) {
    deliver_(std::move(e));
    return;
  }
  held_count_.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(strand_, [this, e = std::move(e)]() mutable {
    heap_.push(entry{std::chrono::steady_clock::now() + window_, std::move(e)});
    arm();
  });
}

void event_sequencer::arm() {
  if (armed_ || heap_.empty()) return;
  armed_ = true;
  timer_.expires_at(heap_.top().due);
  timer_.async_wait([this](boost::system::error_code ec) {
    armed_ = false;
    if (ec) return;
    release();
  });
}

void event_sequencer::release() {
  // The lowest id goes first; a higher id that is due waits behind a lower one that is not.
  const auto now = std::chrono::steady_clock::now();
  while (!heap_.empty() && heap_.top().due <= now) {
    auto e = heap_.top().e;
    heap_.pop();
    held_count_.fetch_sub(1, std::memory_order_relaxed);
    deliver_(std::move(e));
  }
  arm();
}

}  // namespace herald::gateway
