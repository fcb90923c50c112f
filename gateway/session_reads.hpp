// The store reads behind what a WebSocket session sends from the store rather than from the
// bus: the initial load of a connection (its count, and with `since` the first sync page), the
// reads of a resync after a bus outage (the count and the items after the resume point), and a
// client's `sync` command. Each answers on the session's executor; nothing here touches the
// socket. Thread safety: call from any thread; `done` runs on `ex`.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "gateway/session_services.hpp"
#include "persistence/store.hpp"
#include "proto/notification.hpp"

namespace herald::gateway {

// Items a `sync` frame carries at most.
inline constexpr int sync_page_size = 100;

// The count, then the items after `since` that it includes (ids up to its watermark), at most
// one page; `more` when items within the watermark did not fit.
struct count_and_page {
  persistence::unread_result count;
  std::vector<proto::notification> items;
  bool more = false;
  // With `changes_since`: the changes after it to items up to `since` (state events).
  std::optional<persistence::change_page> changes;
};

// Patient (a connection's first load queues behind every other after a restart or an outage).
void read_count_and_page(session_services& svc, const persistence::viewer& v, std::uint64_t since,
                         std::optional<std::uint64_t> changes_since,
                         boost::asio::any_io_executor ex,
                         std::function<void(persistence::outcome<count_and_page>)> done);

// The items after `since` (at most one page) for a client's `sync` command; `more` as above.
struct page {
  std::vector<proto::notification> items;
  bool more = false;
  std::optional<persistence::change_page> changes;
};
void read_page(session_services& svc, const persistence::viewer& v, std::uint64_t since,
               std::optional<std::uint64_t> changes_since, boost::asio::any_io_executor ex,
               std::function<void(persistence::outcome<page>)> done);

}  // namespace herald::gateway
