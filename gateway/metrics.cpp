#include "gateway/metrics.hpp"

#include <sstream>

namespace herald::gateway {

void metrics::count_notify(int status) {
  std::size_t i = 0;
  while (i < statuses_.size() && statuses_[i] != status) ++i;
  notify_by_status_[i].fetch_add(1, std::memory_order_relaxed);
}

void metrics::observe_fanout(double seconds) {
  std::size_t i = 0;
  while (i < buckets_.size() && seconds > buckets_[i]) ++i;
  fanout_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  fanout_sum_us_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  fanout_count_.fetch_add(1, std::memory_order_relaxed);
}

std::string metrics::render(std::int64_t users_online, bool store_ready, bool bus_ready) const {
  std::ostringstream o;
  auto gauge = [&](const char* name, const char* help, auto v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
      << name << " " << v << "\n";
  };
  auto counter = [&](const char* name, const char* help, auto v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
      << name << " " << v << "\n";
  };
  gauge("herald_connections", "Open WebSocket connections on this node.", connections.load());
  gauge("herald_users_online", "Users with at least one connection on this node.", users_online);
  counter("herald_connections_total", "WebSocket connections accepted.", connections_total.load());
  counter("herald_frames_sent_total", "WebSocket frames written.", frames_sent.load());
  counter("herald_bytes_sent_total", "WebSocket payload bytes written.", bytes_sent.load());
  counter("herald_slow_client_closes_total", "Connections closed for passing the send queue cap.",
          slow_client_closes.load());
  counter("herald_upgrades_refused_total", "WebSocket upgrades refused (token, origin, drain).",
          upgrades_refused.load());
  counter("herald_bus_events_total", "Events delivered to this node's sessions.",
          bus_events.load());
  counter("herald_ws_frames_refused_total", "Client frames answered with an error frame.",
          ws_frames_refused.load());
  counter("herald_ws_protocol_closes_total",
          "WebSocket connections closed for breaking the protocol.", ws_protocol_closes.load());
  counter("herald_ws_commands_throttled_total",
          "Times a connection stopped being read with its client commands in flight at the cap.",
          ws_commands_throttled.load());
  counter("herald_ws_duplicates_dropped_total",
          "Notifications not sent again on a connection that had them.",
          ws_duplicates_dropped.load());
  counter("herald_ws_tokens_expired_total", "Connections closed (4001) when their token expired.",
          ws_tokens_expired.load());
  counter("herald_ws_refreshes_total", "Tokens replaced on open connections.", ws_refreshes.load());
  counter("herald_accept_pauses_total",
          "Times accepting paused because the process ran out of file descriptors.",
          accept_pauses.load());
  counter("herald_connections_shed_total",
          "Unauthenticated connections closed to make room (cap or fd pressure).",
          connections_shed.load());
  o << "# HELP herald_connections_refused_total Connections closed at accept.\n"
       "# TYPE herald_connections_refused_total counter\n"
       "herald_connections_refused_total{reason=\"per_ip\"} "
    << connections_refused_per_ip.load()
    << "\nherald_connections_refused_total{reason=\"fd_reserve\"} "
    << connections_refused_fds.load() << "\n";
  o << "# HELP herald_requests_refused_total HTTP requests refused at the edge for a limit.\n"
       "# TYPE herald_requests_refused_total counter\n"
       "herald_requests_refused_total{reason=\"too_large\"} "
    << requests_refused_too_large.load() << "\nherald_requests_refused_total{reason=\"malformed\"} "
    << requests_refused_malformed.load()
    << "\nherald_requests_refused_total{reason=\"body_unread\"} " << requests_answered_unread.load()
    << "\n";
  gauge("herald_store_up", "1 when the store answers.", store_ready ? 1 : 0);
  gauge("herald_bus_up", "1 when the bus reaches its peers.", bus_ready ? 1 : 0);
  o << "# HELP herald_notify_requests_total Notify requests by HTTP status.\n"
       "# TYPE herald_notify_requests_total counter\n";
  for (std::size_t i = 0; i <= statuses_.size(); ++i) {
    const auto v = notify_by_status_[i].load();
    if (i == statuses_.size() && v == 0) continue;
    o << "herald_notify_requests_total{status=\""
      << (i < statuses_.size() ? std::to_string(statuses_[i]) : std::string("other")) << "\"} " << v
      << "\n";
  }
  o << "# HELP herald_fanout_duration_seconds Time to hand one event to every local session.\n"
       "# TYPE herald_fanout_duration_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += fanout_buckets_[i].load();
    o << "herald_fanout_duration_seconds_bucket{le=\"" << buckets_[i] << "\"} " << cumulative
      << "\n";
  }
  cumulative += fanout_buckets_[buckets_.size()].load();
  o << "herald_fanout_duration_seconds_bucket{le=\"+Inf\"} " << cumulative << "\n";
  o << "herald_fanout_duration_seconds_sum " << static_cast<double>(fanout_sum_us_.load()) / 1e6
    << "\n";
  o << "herald_fanout_duration_seconds_count " << fanout_count_.load() << "\n";
  return o.str();
}

}  // namespace herald::gateway
