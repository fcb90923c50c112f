#include "gateway/inbox_commands.hpp"

#include <chrono>
#include <utility>

namespace herald::gateway {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// One store call that may move the user's count; `changed` says whether it did.
struct step {
  persistence::mark_result mark;
  std::optional<std::int64_t> unread;
};

void finish(session_services& svc, std::uint64_t user, const persistence::outcome<step>& out,
            const command_done& done) {
  command_outcome r;
  if (!out.ok()) {
    r.st = command_outcome::status::unavailable;
    r.why = out.why;
  } else if (!out.value->mark.found) {
    r.st = command_outcome::status::not_found;
  } else {
    r.changed = out.value->mark.changed;
    r.unread = out.value->unread;
    if (r.changed && out.value->mark.change) svc.user_state_changed(user, *out.value->mark.change);
    if (r.changed) svc.user_count_changed(user);
  }
  done(r);
}

}  // namespace

void read_item(session_services& svc, const persistence::viewer& v, std::uint64_t id,
               bool with_unread, boost::asio::any_io_executor ex, command_done done) {
  svc.pool().submit(
      ex,
      [v, id, with_unread](persistence::store& st) {
        const auto now = now_ms();
        step s{st.mark_read(v, id, now), std::nullopt};
        if (with_unread && s.mark.found) s.unread = st.unread_count(v, now).unread;
        return s;
      },
      [&svc, user = v.user_id, done = std::move(done)](persistence::outcome<step> out) {
        finish(svc, user, out, done);
      });
}

void remove_item(session_services& svc, const persistence::viewer& v, std::uint64_t id,
                 boost::asio::any_io_executor ex, command_done done) {
  svc.pool().submit(
      ex,
      [v, id](persistence::store& st) {
        return step{st.remove_for_user(v, id, now_ms()), std::nullopt};
      },
      [&svc, user = v.user_id, done = std::move(done)](persistence::outcome<step> out) {
        finish(svc, user, out, done);
      });
}

void read_everything(session_services& svc, const persistence::viewer& v, bool with_unread,
                     boost::asio::any_io_executor ex, command_done done) {
  svc.pool().submit(
      ex,
      [v, with_unread](persistence::store& st) {
        const auto now = now_ms();
        step s;
        s.mark.found = true;
        s.mark.changed = st.mark_all_read(v, now) > 0;
        s.mark.change = st.last_change();
        if (with_unread) s.unread = st.unread_count(v, now).unread;
        return s;
      },
      [&svc, user = v.user_id, done = std::move(done)](persistence::outcome<step> out) {
        finish(svc, user, out, done);
      });
}

}  // namespace herald::gateway
