#include "gateway/metrics.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

using herald::gateway::metrics;

namespace {

// Sample lines of a Prometheus text page: "name{labels}" -> value.
std::map<std::string, std::string> samples(const std::string& page) {
  std::map<std::string, std::string> out;
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    REQUIRE(sp != std::string::npos);
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

}  // namespace

TEST_CASE("the metrics page names every metric with its type", "[metrics]") {
  metrics m;
  const auto page = m.render(0, true, false);
  for (const char* name :
       {"herald_connections", "herald_users_online", "herald_connections_total",
        "herald_frames_sent_total", "herald_bytes_sent_total", "herald_slow_client_closes_total",
        "herald_upgrades_refused_total", "herald_bus_events_total", "herald_store_up",
        "herald_bus_up", "herald_notify_requests_total", "herald_fanout_duration_seconds"}) {
    INFO(name);
    CHECK_THAT(page, Catch::Contains(std::string("# TYPE ") + name + " "));
    CHECK_THAT(page, Catch::Contains(std::string("# HELP ") + name + " "));
  }
  CHECK_THAT(page, Catch::Contains("# TYPE herald_fanout_duration_seconds histogram"));
  CHECK_THAT(page, Catch::Contains("# TYPE herald_connections gauge"));
  CHECK_THAT(page, Catch::Contains("# TYPE herald_frames_sent_total counter"));
}

TEST_CASE("the metrics page shows the current values", "[metrics]") {
  metrics m;
  m.connections = 3;
  m.connections_total = 10;
  m.frames_sent = 42;
  m.bytes_sent = 4200;
  m.slow_client_closes = 1;
  m.upgrades_refused = 2;
  m.bus_events = 5;
  auto s = samples(m.render(7, true, false));
  CHECK(s["herald_connections"] == "3");
  CHECK(s["herald_users_online"] == "7");
  CHECK(s["herald_connections_total"] == "10");
  CHECK(s["herald_frames_sent_total"] == "42");
  CHECK(s["herald_bytes_sent_total"] == "4200");
  CHECK(s["herald_slow_client_closes_total"] == "1");
  CHECK(s["herald_upgrades_refused_total"] == "2");
  CHECK(s["herald_bus_events_total"] == "5");
  CHECK(s["herald_store_up"] == "1");
  CHECK(s["herald_bus_up"] == "0");
  auto t = samples(m.render(0, false, true));
  CHECK(t["herald_store_up"] == "0");
  CHECK(t["herald_bus_up"] == "1");
}

TEST_CASE("notify requests are counted by status", "[metrics]") {
  metrics m;
  m.count_notify(200);
  m.count_notify(200);
  m.count_notify(400);
  m.count_notify(503);
  auto s = samples(m.render(0, true, true));
  CHECK(s["herald_notify_requests_total{status=\"200\"}"] == "2");
  CHECK(s["herald_notify_requests_total{status=\"400\"}"] == "1");
  CHECK(s["herald_notify_requests_total{status=\"503\"}"] == "1");
  CHECK(s["herald_notify_requests_total{status=\"401\"}"] == "0");
  CHECK(s.count("herald_notify_requests_total{status=\"other\"}") == 0);
  m.count_notify(418);
  CHECK(samples(m.render(0, true, true))["herald_notify_requests_total{status=\"other\"}"] == "1");
}

TEST_CASE("the fan-out histogram has cumulative buckets, +Inf, sum and count", "[metrics]") {
  metrics m;
  auto empty = samples(m.render(0, true, true));
  for (const char* le : {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                         "0.05", "0.1", "0.25", "1", "+Inf"}) {
    const std::string key = std::string("herald_fanout_duration_seconds_bucket{le=\"") + le + "\"}";
    INFO(key);
    REQUIRE(empty.count(key) == 1);
    CHECK(empty[key] == "0");
  }
  CHECK(empty["herald_fanout_duration_seconds_count"] == "0");

  m.observe_fanout(0.00005);  // first bucket
  m.observe_fanout(0.001);    // exactly on a bound: counted in that bucket
  m.observe_fanout(0.2);
  m.observe_fanout(3.0);  // only +Inf
  auto s = samples(m.render(0, true, true));
  auto bucket = [&](const char* le) {
    return s[std::string("herald_fanout_duration_seconds_bucket{le=\"") + le + "\"}"];
  };
  CHECK(bucket("0.0001") == "1");
  CHECK(bucket("0.0005") == "1");
  CHECK(bucket("0.001") == "2");
  CHECK(bucket("0.1") == "2");
  CHECK(bucket("0.25") == "3");
  CHECK(bucket("1") == "3");
  CHECK(bucket("+Inf") == "4");
  CHECK(s["herald_fanout_duration_seconds_count"] == "4");
  CHECK(std::stod(s["herald_fanout_duration_seconds_sum"]) == Approx(3.20105).margin(1e-5));
}

TEST_CASE("what the HTTP edge refuses and sheds is counted on the metrics page", "[metrics]") {
  metrics m;
  const auto before = samples(m.render(0, true, true));
  CHECK(before.at("herald_accept_pauses_total") == "0");
  CHECK(before.at("herald_connections_shed_total") == "0");
  m.accept_pauses += 2;
  m.connections_shed += 3;
  m.connections_refused_per_ip += 4;
  m.connections_refused_fds += 5;
  m.requests_refused_too_large += 6;
  m.requests_refused_malformed += 7;
  m.requests_answered_unread += 8;
  const auto s = samples(m.render(0, true, true));
  CHECK(s.at("herald_accept_pauses_total") == "2");
  CHECK(s.at("herald_connections_shed_total") == "3");
  CHECK(s.at("herald_connections_refused_total{reason=\"per_ip\"}") == "4");
  CHECK(s.at("herald_connections_refused_total{reason=\"fd_reserve\"}") == "5");
  CHECK(s.at("herald_requests_refused_total{reason=\"too_large\"}") == "6");
  CHECK(s.at("herald_requests_refused_total{reason=\"malformed\"}") == "7");
  CHECK(s.at("herald_requests_refused_total{reason=\"body_unread\"}") == "8");
}
