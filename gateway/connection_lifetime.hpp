// When a WebSocket connection must end or be poked: its token's life (a `token_expiring`
// warning ahead of exp, close 4001 at exp, a `refresh` moving exp on) and the keep-alive (a
// ping after a silence, the cut when nothing answers it). Pure logic on epoch seconds, no I/O:
// the session acts on what tick() and refresh() say. Not thread-safe: the session's thread.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>

#include "gateway/token_verifier.hpp"
#include "proto/audience.hpp"

namespace herald::gateway {

class connection_lifetime {
 public:
  struct limits {
    std::int64_t refresh_window_s = 0;  // the warning goes out this long before exp
    std::int64_t ping_interval_s = 0;   // a ping after this much silence
    std::int64_t pong_timeout_s = 0;    // then the cut, when nothing came back meanwhile
  };
  // token_exp_s: 0 when the token has no exp (the connection lives on).
  connection_lifetime(std::int64_t token_exp_s, std::int64_t now_s)
      : exp_s_(to_s(token_exp_s)), mark_s_(to_s(now_s)) {}

  // The client sent something (a pong included).
  void heard(std::int64_t now_s) {
    mark_s_ = to_s(now_s);
    ping_outstanding_ = false;
  }

  struct due {
    bool expired = false;  // close 4001: nothing else matters
    bool warn = false;     // send token_expiring (once per token)
    bool cut = false;      // the keep-alive ping went unanswered: the peer is gone
    bool ping = false;     // send a keep-alive ping
  };
  // Once a second.
  due tick(std::int64_t now_s, const limits& l);

  struct refreshed {
    enum class kind { refused, other_user, renewed } what = kind::refused;
    std::string why;                         // refused: the verifier's reason
    std::optional<proto::group_set> groups;  // renewed with groups other than `current`
  };
  // A `refresh` token: renewed when it verifies and is for `user` (exp moves, and a warning
  // may come again); otherwise the old token stays in force.
  refreshed refresh(const token_verifier& tokens, const std::string& token, std::uint64_t user,
                    const proto::group_set& current, std::int64_t now_s);

  std::int64_t exp() const { return exp_s_; }

 private:
  // Epoch seconds in 32 bits (until 2106; an exp past that is taken as 2106).
  static std::uint32_t to_s(std::int64_t s) {
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(s, 0, UINT32_MAX));
  }
  std::uint32_t exp_s_;
  // When the client last sent anything; while a ping is outstanding, when the ping went out.
  std::uint32_t mark_s_;
  bool ping_outstanding_ = false;
  bool warned_ = false;
};

}  // namespace herald::gateway
