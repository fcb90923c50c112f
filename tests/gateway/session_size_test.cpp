// The per-connection memory budget starts with the session object: every open WebSocket holds
// one (plus its shared_ptr control block). These bounds are the sizes on Debian 12 amd64 with
// libstdc++ and Boost 1.74, where bench/RESULTS.md measures memory per connection; a member
// added to the session or one of its parts must pay for itself (move rare state behind a
// pointer, as unread_tracker does) or raise the bound here with a bench figure to show for it.
#include <catch2/catch.hpp>

#include "gateway/ws_session.hpp"

using namespace herald::gateway;

#if defined(__x86_64__) && defined(__GLIBCXX__)
TEST_CASE("a session and its parts stay within their memory budget", "[memory]") {
  CHECK(sizeof(ws_session) <= 408);
  CHECK(sizeof(unread_tracker) <= 136);
  CHECK(sizeof(ws::message_reader) <= 56);
  CHECK(sizeof(connection_lifetime) <= 12);
  CHECK(sizeof(herald::cm::send_queue) <= 48);
  // Positive control: the bounds are tight enough to catch one more 8-byte member.
  CHECK(sizeof(ws_session) + 8 > 408);
}
#endif
