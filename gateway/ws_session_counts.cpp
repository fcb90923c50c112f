// ws_session, the count: what the session sends from the store rather than from the bus (the
// initial load: the count, or with `since` the first sync page and then the count; the recount
// after the cluster's subscription settles; the resync after a bus outage) and the actions of its
// unread_tracker, which decides when a count or a notification frame goes out.
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <vector>

#include "gateway/session_reads.hpp"
#include "gateway/state_events.hpp"
#include "gateway/ws_framing.hpp"
#include "gateway/ws_session.hpp"
#include "proto/server_frames.hpp"

namespace herald::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

const std::shared_ptr<const std::string>& count_prefix() {
  static const auto p = std::make_shared<const std::string>("{\"type\":\"count\"");
  return p;
}

cm::outgoing with_tail(std::shared_ptr<const std::string> body, std::int64_t unread) {
  cm::outgoing o;
  o.body = std::move(body);
  o.tail_len = static_cast<std::uint8_t>(proto::encode_notification_tail(unread, o.tail.data()));
  return o;
}

}  // namespace

void ws_session::load_initial(std::optional<std::uint64_t> since,
                              std::optional<std::uint64_t> changes_since) {
  auto v = viewer();
  if (!since) {
    // A count alone goes through the read batcher with the other counts and pages.
    svc_.readers().submit(
        {v, std::nullopt}, sock_.get_executor(),
        [self = shared_from_this()](persistence::outcome<persistence::read_result> out) {
          if (self->closing()) return;
          if (!out.ok()) {
            self->close_with(ws::close_code::try_again_later, "store unavailable, try again later");
            return;
          }
          self->initial_loaded(std::nullopt, out.value->counts);
        });
    return;
  }
  read_count_and_page(
      svc_, v, *since, changes_since, sock_.get_executor(),
      [self = shared_from_this(), since](persistence::outcome<count_and_page> out) {
        if (self->closing()) return;
        if (!out.ok()) {
          self->close_with(ws::close_code::try_again_later, "store unavailable, try again later");
          return;
        }
        self->send_frame(encode_sync_page(out.value->items, out.value->more, out.value->changes));
        self->initial_loaded(since, out.value->count);
      });
}

void ws_session::initial_loaded(std::optional<std::uint64_t> since,
                                const persistence::unread_result& count) {
  // The count frame (after the sync page, with since), then what arrived meanwhile (never an id the
  // sync covers).
  tracker_.loaded(count.unread, count.watermark, since.has_value());
  const auto settle = svc_.subscription_settle();
  // (Not once closing: the close grace timer holds timer_, and sending the count or the sync
  // page may have started the close.)
  if (settle.count() > 0 && !closing()) {
    // Events for a newly seen user reach this node only once its bus subscription is
    // confirmed; one recount after that window makes the count true even if one fell into
    // it (the item itself is in the inbox and the next sync).
    timer_ = std::make_unique<asio::steady_timer>(sock_.get_executor(), settle);
    timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      // Cancelled or replaced by the close timer; or it expired just as the close began (its
      // handler already queued): timer_ is the close timer then, and stays.
      if (ec || self->closing()) return;
      self->timer_.reset();
      self->on_count_changed();
    });
  }
}

void ws_session::on_resync() {
  if (!closing()) tracker_.on_resync();
}

void ws_session::on_bus_lost() {
  if (!closing()) tracker_.on_bus_lost();
}

void ws_session::on_bus_back() {
  if (!closing()) tracker_.on_bus_back();
}

void ws_session::start_resync(std::uint64_t from) {
  read_count_and_page(svc_, viewer(), from, std::nullopt, sock_.get_executor(),
                      [self = shared_from_this()](persistence::outcome<count_and_page> out) {
                        if (self->closing()) return;
                        if (!out.ok()) {
                          self->tracker_.resync_failed();
                          return;
                        }
                        std::vector<unread_tracker::item> missed;
                        missed.reserve(out.value->items.size());
                        for (const auto& n : out.value->items) {
                          missed.emplace_back(n.id, std::make_shared<const std::string>(
                                                        proto::encode_notification_prefix(n)));
                        }
                        self->tracker_.resynced(out.value->count.unread, out.value->count.watermark,
                                                std::move(missed), out.value->more);
                      });
}

void ws_session::send_count(std::int64_t unread) {
  auto o = with_tail(count_prefix(), unread);
  o.is_count = true;
  if (closing()) return;
  if (!queue_.push_count(std::move(o))) {
    ++svc_.stats().slow_client_closes;
    close_with(ws::close_code::try_again_later, "client too slow");
    return;
  }
  if (!waiting_writable_) flush();
}

void ws_session::send_notification(std::uint64_t, const std::shared_ptr<const std::string>& prefix,
                                   std::int64_t unread) {
  enqueue(with_tail(prefix, unread));
}

void ws_session::start_recount() {
  svc_.readers().submit(
      {viewer(), std::nullopt, tracker_.seqs_after()}, sock_.get_executor(),
      [self = shared_from_this()](persistence::outcome<persistence::read_result> out) {
        if (self->closing()) return;
        if (!out.ok()) {
          self->tracker_.recount_failed();
          return;
        }
        self->tracker_.recounted(out.value->counts.unread, out.value->counts.watermark,
                                 out.value->seqs);
      });
}

void ws_session::on_notification(std::uint64_t id,
                                 const std::shared_ptr<const std::string>& prefix) {
  if (closing()) return;
  const auto dups = tracker_.duplicates();
  tracker_.on_notification(id, prefix);
  if (tracker_.duplicates() != dups) ++svc_.stats().ws_duplicates_dropped;
}

void ws_session::on_count_changed() {
  if (!closing()) tracker_.on_count_changed();
}

}  // namespace herald::gateway
