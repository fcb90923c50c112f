#include "gateway/connection_lifetime.hpp"

namespace herald::gateway {
namespace {

bool same_groups(const proto::group_set& a, const proto::group_set& b) {
  if (a.pairs().size() != b.pairs().size()) return false;
  for (const auto& p : a.pairs()) {
    if (!b.contains(p)) return false;
  }
  return true;
}

}  // namespace

connection_lifetime::due connection_lifetime::tick(std::int64_t now_s, const limits& l) {
  due d;
  if (exp_s_ > 0) {
    if (now_s >= exp_s_) {
      d.expired = true;
      return d;
    }
    if (!warned_ && now_s >= exp_s_ - l.refresh_window_s) {
      warned_ = true;
      d.warn = true;
    }
  }
  // After ping_interval of silence a ping goes out; when nothing (not even the pong) arrives
  // within pong_timeout after it, the connection is dead.
  if (ping_outstanding_) {
    d.cut = now_s - mark_s_ >= l.pong_timeout_s;
    return d;
  }
  if (now_s - mark_s_ >= l.ping_interval_s) {
    ping_outstanding_ = true;
    mark_s_ = to_s(now_s);
    d.ping = true;
  }
  return d;
}

connection_lifetime::refreshed connection_lifetime::refresh(const token_verifier& tokens,
                                                            const std::string& token,
                                                            std::uint64_t user,
                                                            const proto::group_set& current,
                                                            std::int64_t now_s) {
  refreshed r;
  auto who = tokens.verify(token, now_s, &r.why);
  if (!who) return r;
  if (who->user_id != user) {
    r.what = refreshed::kind::other_user;
    return r;
  }
  r.what = refreshed::kind::renewed;
  exp_s_ = to_s(who->exp);
  warned_ = false;
  if (!same_groups(who->groups, current)) r.groups = std::move(who->groups);
  return r;
}

}  // namespace herald::gateway
