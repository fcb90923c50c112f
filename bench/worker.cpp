#include "bench/worker.hpp"

#include "bench/frame_scan.hpp"
#include "bench/process_probe.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <iostream>

namespace herald::bench {

namespace asio = boost::asio;
using nlohmann::json;

worker::worker(int index, const bench_options& options, int command_fd, int report_fd)
    : index_(index),
      options_(options),
      channel_(io_.get_executor(), command_fd, report_fd),
      minter_(options.jwt_secret, {"org/1"}),
      close_timer_(io_) {
  const int total = options.connections;
  const int workers = options.workers;
  for (int i = index; i < total; i += workers) {
    const auto user_index = static_cast<std::uint32_t>(i % options.users);
    clients_.push_back(std::make_unique<bench_client>(static_cast<std::uint32_t>(i),
                                                      options.user_base + user_index, user_index));
  }
}

int worker::run() {
  if (!options_.pin_workers.empty()) pin_process(0, options_.pin_workers);
  asio::co_spawn(io_, command_loop(), asio::detached);
  io_.run();
  return 0;
}

asio::awaitable<void> worker::command_loop() {
  report({{"ev", "hello"}, {"worker", index_}, {"clients", clients_.size()}});
  while (!exit_) {
    auto cmd = co_await channel_.read();
    if (!cmd) break;
    try {
      handle(*cmd);
    } catch (const std::exception& e) {
      report({{"ev", "error"}, {"message", e.what()}});
    }
  }
  for (auto& c : clients_) c->abort();
  for (auto& f : floors_) f->stop();
  io_.stop();
}

void worker::handle(const json& cmd) {
  const std::string name = cmd.at("cmd");
  if (name == "connect") {
    start_connect(cmd);
  } else if (name == "phase") {
    start_phase(cmd);
  } else if (name == "collect") {
    report(collect(cmd.value("reset", false)));
  } else if (name == "close") {
    start_close(cmd.value("abort", false));
  } else if (name == "floor_sink") {
    floors_.push_back(std::make_unique<floor_sink>(io_, cmd.at("sockets").get<int>(),
                                                   cmd.at("frame_len").get<std::size_t>(),
                                                   [this](json m) { report(m); }));
    report({{"ev", "floor_listening"}, {"port", floors_.back()->listen()}});
  } else if (name == "floor_end") {
    if (!floors_.empty()) floors_.back()->stop();
    report({{"ev", "floor_closed"}});
  } else if (name == "exit") {
    exit_ = true;
  } else {
    report({{"ev", "error"}, {"message", "unknown command " + name}});
  }
}

// ---- connecting ----------------------------------------------------------------------------

void worker::start_connect(const json& cmd) {
  connect_ = connect_round{};
  connect_.active = true;
  connect_.host = cmd.at("host");
  connect_.port = cmd.at("port");
  if (cmd.contains("since") && !cmd["since"].is_null())
    connect_.since = cmd["since"].get<std::int64_t>();
  if (cmd.contains("expect_ids"))
    connect_.expect_ids = cmd["expect_ids"].get<std::vector<std::int64_t>>();
  connect_.concurrency = cmd.value("concurrency", options_.connect_concurrency);
  for (auto& c : clients_) {
    c->ready = false;
    c->counted = false;
    c->sync_done = false;
    c->synced_ids.clear();
  }
  if (clients_.empty()) {
    connect_.active = false;
    report({{"ev", "connected"}, {"ok", 0}, {"failed", 0}, {"t_last", monotonic_ns()}});
    return;
  }
  launch_more();
}

void worker::launch_more() {
  const auto server =
      asio::ip::tcp::endpoint(asio::ip::make_address_v4(connect_.host), connect_.port);
  while (connect_.in_flight < connect_.concurrency && connect_.next < clients_.size()) {
    bench_client& c = *clients_[connect_.next++];
    ++connect_.in_flight;
    const auto source = asio::ip::address_v4(
        (127u << 24) | static_cast<unsigned>(2 + c.index() % options_.source_addrs));
    std::string target = "/v1/ws?token=" + minter_.mint(c.user_id());
    if (connect_.since) target += "&since=" + std::to_string(*connect_.since);
    asio::co_spawn(io_, c.run(*this, server, source, connect_.host, std::move(target)),
                   asio::detached);
  }
}

void worker::finish_connect(bench_client& c, bool ok) {
  if (!connect_.active || c.counted) return;
  c.counted = true;
  --connect_.in_flight;
  ++connect_.done;
  if (ok) {
    ++connect_.ok;
    connect_.t_last = monotonic_ns();
    if (connect_.since) {
      if (c.sync_done && c.synced_ids == connect_.expect_ids)
        ++connect_.sync_ok;
      else
        ++connect_.sync_bad;
    }
  } else {
    ++connect_.failed;
  }
  if (connect_.done == static_cast<int>(clients_.size())) {
    connect_.active = false;
    json errors = json::object();
    for (auto& [what, n] : connect_.errors) errors[what] = n;
    report({{"ev", "connected"},
            {"ok", connect_.ok},
            {"failed", connect_.failed},
            {"t_last", connect_.t_last},
            {"sync_ok", connect_.sync_ok},
            {"sync_bad", connect_.sync_bad},
            {"errors", errors}});
    return;
  }
  launch_more();
}

// ---- frames --------------------------------------------------------------------------------

void worker::on_frame(bench_client& c, std::string_view text) {
  const auto type = scan_string_field(text, "type");
  if (!type) {
    ++error_frames_;
    return;
  }
  if (*type == "count") {
    if (!c.ready) {
      c.ready = true;
      // With `since`, the count frame follows the first sync page; later pages come on request.
      if (!connect_.since || c.sync_done) finish_connect(c, true);
    }
  } else if (*type == "desktop" || *type == "notification") {
    on_delivery(c, *type, text);
  } else if (*type == "sync") {
    on_sync(c, text);
  } else if (*type == "error") {
    ++error_frames_;
  }
}

void worker::on_sync(bench_client& c, std::string_view text) {
  const auto frame = json::parse(text, nullptr, false);
  if (frame.is_discarded() || !frame.contains("notifications")) {
    ++error_frames_;
    return;
  }
  for (const auto& item : frame["notifications"])
    c.synced_ids.push_back(item.value("id", std::int64_t{-1}));
  if (frame.value("more", false) && !c.synced_ids.empty()) {
    c.send_text(json{{"type", "sync"}, {"since", c.synced_ids.back()}}.dump());
  } else {
    c.sync_done = true;
    if (c.ready) finish_connect(c, true);
  }
}

void worker::on_delivery(bench_client& c, std::string_view type, std::string_view text) {
  const auto kind = scan_int_field(text, "bench_kind");
  const auto seq = scan_int_field(text, "bench_seq");
  const auto t0 = scan_int_field(text, "bench_t0");
  const std::int64_t now = monotonic_ns();
  if (!kind || !seq || !t0 || type != phase_.frame ||
      c.index() / options_.workers >= phase_.in_phase.size() ||
      !phase_.in_phase[c.index() / options_.workers]) {
    ++phase_.unexpected;
    return;
  }
  if (phase_.kind == "broadcast" && *kind == 1) {
    if (phase_.ack_from > 0 && *seq >= phase_.ack_from) {
      // The item's id is the frame's first "id" (the item object starts with it).
      if (const auto id = scan_int_field(text, "id"))
        c.send_text("{\"type\":\"ack\",\"ids\":[" + std::to_string(*id) + "]}");
    }
    if (*seq != c.last_seq + 1) ++c.bad;
    c.last_seq = *seq;
    ++c.got;
    phase_.hist.record(now - *t0);
    if (++phase_.arrivals[*seq] == phase_.live) {
      phase_.arrivals.erase(*seq);
      report({{"ev", "bcast"}, {"seq", *seq}, {"t_last", now}});
    }
  } else if (phase_.kind == "personal" && *kind == 2) {
    ++c.got;
    c.seq_sum += *seq;
    phase_.hist.record(now - *t0);
    if (++phase_.delivered == phase_.expected_total)
      report({{"ev", "personal_done"}, {"t_last", now}});
  } else {
    ++phase_.unexpected;
  }
}

// ---- phases --------------------------------------------------------------------------------

std::int64_t worker::personal_expected(const bench_client& c) const {
  const std::int64_t p = phase_.count, u = options_.users;
  return p / u + (static_cast<std::int64_t>(c.user_index()) < p % u ? 1 : 0);
}

std::int64_t worker::personal_expected_sum(const bench_client& c) const {
  // Notification k (0-based, seq k+1) goes to user index k % U.
  const std::int64_t n = personal_expected(c), u = options_.users;
  return n * (static_cast<std::int64_t>(c.user_index()) + 1) + u * n * (n - 1) / 2;
}

void worker::start_phase(const json& cmd) {
  phase_ = phase_state{};
  phase_.kind = cmd.at("kind");
  phase_.frame = cmd.at("frame");
  phase_.count = cmd.at("count");
  phase_.ack_from = cmd.value("ack_from_seq", std::int64_t{0});
  phase_.in_phase.assign(clients_.size(), false);
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    bench_client& c = *clients_[i];
    c.got = 0;
    c.bad = 0;
    c.last_seq = cmd.value("first_seq", std::int64_t{1}) - 1;
    c.seq_sum = 0;
    if (!c.ready || !c.open()) continue;
    phase_.in_phase[i] = true;
    ++phase_.live;
    if (phase_.kind == "personal") phase_.expected_total += personal_expected(c);
  }
  report({{"ev", "phase_ok"}, {"live", phase_.live}, {"expected", phase_.expected_total}});
  if (phase_.kind == "personal" && phase_.expected_total == 0)
    report({{"ev", "personal_done"}, {"t_last", monotonic_ns()}});
}

json worker::collect(bool reset_histogram) {
  int complete = 0, incomplete = 0;
  std::int64_t bad = 0;
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    if (!phase_.in_phase.empty() && !phase_.in_phase[i]) continue;
    const bench_client& c = *clients_[i];
    bool ok = c.bad == 0;
    if (phase_.kind == "broadcast") ok = ok && c.got == phase_.count;
    if (phase_.kind == "personal")
      ok = ok && c.got == personal_expected(c) && c.seq_sum == personal_expected_sum(c);
    bad += c.bad;
    ok ? ++complete : ++incomplete;
  }
  json out = {{"ev", "collect"},
              {"hist", phase_.hist.to_json()},
              {"live", phase_.live},
              {"complete", complete},
              {"incomplete", incomplete},
              {"bad", bad},
              {"unexpected", phase_.unexpected},
              {"delivered", phase_.delivered},
              {"dropped", dropped_},
              {"error_frames", error_frames_}};
  if (reset_histogram) phase_.hist.clear();
  return out;
}

// ---- closing -------------------------------------------------------------------------------

void worker::start_close(bool abort) {
  closing_ = true;
  closing_left_ = 0;
  for (auto& c : clients_) {
    if (!c->open()) continue;
    ++closing_left_;
    abort ? c->abort() : c->close();
  }
  closing_total_ = closing_left_;
  if (closing_left_ == 0) {
    finish_close();
    return;
  }
  close_timer_.expires_after(std::chrono::seconds(10));
  close_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !closing_) return;
    for (auto& c : clients_) c->abort();  // the server did not answer the close in time
  });
}

void worker::finish_close() {
  closing_ = false;
  close_timer_.cancel();
  for (auto& c : clients_) c->ready = false;
  report({{"ev", "closed"}, {"closed", closing_total_}});
}

void worker::on_closed(bench_client& c, const boost::system::error_code& ec) {
  const bool was_open = c.open();
  if (!c.counted && connect_.active) {
    if (connect_.errors.size() < 20 || connect_.errors.count(ec.message()))
      ++connect_.errors[ec ? ec.message() : "closed before its count frame"];
    finish_connect(c, false);
  }
  c.ready = false;
  if (closing_ && was_open) {
    if (--closing_left_ == 0) finish_close();
  } else if (was_open) {
    ++dropped_;
  }
}

}  // namespace herald::bench
