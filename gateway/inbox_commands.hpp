// Read one item, delete one item, read everything: the inbox changes a user makes, shared by
// the HTTP inbox routes and the WebSocket's client frames. Each runs its store call on the
// pool, tells the user's connections to recount when a count moved, and answers on `ex`.
// Thread-safe (no state).
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <optional>

#include "gateway/session_services.hpp"
#include "persistence/store.hpp"

namespace herald::gateway {

struct command_outcome {
  enum class status { ok, not_found, unavailable };
  status st = status::ok;
  bool changed = false;                // a count moved (the user's connections recount)
  std::optional<std::int64_t> unread;  // when asked for: the count after the change
  persistence::failure why =
      persistence::failure::none;  // unavailable: why the store did not serve it
};
using command_done = std::function<void(command_outcome)>;

// `with_unread`: also read the user's count after the change (the HTTP answers carry it).
void read_item(session_services& svc, const persistence::viewer& v, std::uint64_t id,
               bool with_unread, boost::asio::any_io_executor ex, command_done done);
void remove_item(session_services& svc, const persistence::viewer& v, std::uint64_t id,
                 boost::asio::any_io_executor ex, command_done done);
void read_everything(session_services& svc, const persistence::viewer& v, bool with_unread,
                     boost::asio::any_io_executor ex, command_done done);

}  // namespace herald::gateway
