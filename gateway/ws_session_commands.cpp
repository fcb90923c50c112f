// ws_session, the client's commands: the JSON text frames a client sends (ping, read, delete,
// read_all, refresh, ack, sync), each answered on the session's shard. A command that calls the
// store counts as in flight until it answers; at the cap, reading pauses (drain_reader) and
// resumes when one finishes. Read, delete and read-all are the inbox commands the HTTP inbox
// routes use too (inbox_commands.hpp).
#include "gateway/inbox_commands.hpp"
#include "gateway/session_reads.hpp"
#include "gateway/state_events.hpp"
#include "gateway/ws_framing.hpp"
#include "gateway/ws_session.hpp"
#include "proto/server_frames.hpp"

namespace herald::gateway {

void ws_session::handle_message(std::uint8_t op, std::string_view text) {
  if (op != ws::text) {
    ++svc_.stats().ws_frames_refused;
    send_error("invalid_frame", "frames must be JSON text");
    return;
  }
  auto parsed = proto::parse_client_frame(text);
  if (auto* err = std::get_if<proto::frame_error>(&parsed)) {
    ++svc_.stats().ws_frames_refused;
    send_error(err->code, err->message);
    return;
  }
  handle_command(std::get<proto::client_frame>(parsed));
}

void ws_session::command_started() { ++commands_in_flight_; }

void ws_session::command_finished() {
  --commands_in_flight_;
  if (read_paused_ && commands_in_flight_ < svc_.cfg().max_commands_in_flight) {
    read_paused_ = false;
    on_readable();  // what is buffered first, then the socket again
  }
}

void ws_session::handle_command(const proto::client_frame& f) {
  auto self = shared_from_this();
  auto ex = sock_.get_executor();
  auto answer = [self](command_outcome r) {
    self->command_finished();
    if (self->closing()) return;
    if (r.st == command_outcome::status::unavailable) {
      self->send_error("unavailable", "the store cannot be reached; retry later");
    } else if (r.st == command_outcome::status::not_found) {
      self->send_error("not_found", "no such notification");
    }
  };
  switch (f.type) {
    case proto::client_frame_type::ping:
      send_frame(proto::encode_pong());
      return;
    case proto::client_frame_type::read:
      command_started();
      read_item(svc_, viewer(), f.id, false, ex, answer);
      return;
    case proto::client_frame_type::remove:
      command_started();
      remove_item(svc_, viewer(), f.id, ex, answer);
      return;
    case proto::client_frame_type::read_all:
      command_started();
      read_everything(svc_, viewer(), false, ex, answer);
      return;
    case proto::client_frame_type::refresh:
      refresh(f.token);
      return;
    case proto::client_frame_type::ack:
      svc_.acked(viewer(), f.ids);  // batched; an ack is never answered
      return;
    case proto::client_frame_type::sync:
      command_started();
      read_page(svc_, viewer(), f.since, f.changes_since, ex,
                [self, since = f.since](persistence::outcome<page> out) {
                  self->command_finished();
                  if (self->closing()) return;
                  if (!out.ok()) {
                    self->send_error("unavailable", "the store cannot be reached; retry later");
                    return;
                  }
                  self->send_frame(
                      encode_sync_page(out.value->items, out.value->more, out.value->changes));
                  // Items of the page that had not come live yet are not pushed again.
                  std::vector<std::uint64_t> ids;
                  ids.reserve(out.value->items.size());
                  for (const auto& n : out.value->items) ids.push_back(n.id);
                  self->tracker_.page_sent(since, ids);
                });
      return;
  }
}

void ws_session::refresh(const std::string& token) {
  using kind = connection_lifetime::refreshed::kind;
  auto r = life_.refresh(svc_.tokens(), token, user_id(), groups(), now_s());
  if (r.what != kind::renewed) {
    ++svc_.stats().ws_frames_refused;
    if (r.what == kind::refused) {
      send_error("unauthenticated", r.why);  // the old token stays in force
      return;
    }
    send_error("forbidden", "the token is for another user");
    close_with(ws::close_code::forbidden, "token of another user");
    return;
  }
  ++svc_.stats().ws_refreshes;
  if (registered_ && r.groups) svc_.registry().regroup(*this, std::move(*r.groups));
  send_frame(proto::encode_refreshed(life_.exp()));
  // The groups decide which shared items count: a count frame follows when they changed.
  if (r.groups) on_count_changed();
}

}  // namespace herald::gateway
