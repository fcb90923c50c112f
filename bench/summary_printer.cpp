#include "bench/summary_printer.hpp"

#include <sys/utsname.h>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <thread>

namespace herald::bench {

using nlohmann::json;

json summary_printer::machine() {
  std::string model;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  uname(&u);
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::ostringstream date;
  date << std::put_time(std::gmtime(&now), "%Y-%m-%dT%H:%M:%SZ");
  return {{"cores", std::thread::hardware_concurrency()},
          {"model", model},
          {"kernel", std::string(u.sysname) + " " + u.release},
          {"date", date.str()}};
}

namespace {

std::string num(const json& v, int precision = 1) {
  if (!v.is_number()) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(precision) << v.get<double>();
  return s.str();
}

std::string lat(const json& figures) {
  if (!figures.is_object()) return "-";
  return num(figures["p50"], 2) + "/" + num(figures["p99"], 2) + "/" + num(figures["max"], 2) +
         " ms";
}

void side(std::ostream& out, const std::string& name, const json& r, const json& floor) {
  if (r.contains("connect")) {
    const auto& c = r["connect"];
    out << name << " connect    " << c["ok"] << " ok, " << c["failed"] << " failed in "
        << num(c["seconds"], 2) << " s (" << num(c["rate_per_s"], 0) << "/s)";
    if (c.contains("bytes_per_conn"))
      out << "; RSS " << num(json(c["rss_before"].get<double>() / 1048576), 1) << " -> "
          << num(json(c["rss_after"].get<double>() / 1048576), 1)
          << " MiB = " << num(c["bytes_per_conn"], 0) << " B/conn [budget <= 4096]; idle CPU "
          << num(c["idle_cpu_pct"], 1) << "% [budget ~0]";
    out << "\n";
  }
  if (r.contains("broadcast")) {
    const auto& b = r["broadcast"];
    out << name << " broadcast  " << b["count"] << " x " << b["clients"] << " clients"
        << (b["persist"].get<bool>() ? " (persisted)" : " (desktop)")
        << ": time to last p50/p99/max " << lat(b["time_to_last_ms"]) << "; per-client latency "
        << lat(b["latency_ms"]) << "; complete " << b["complete_clients"] << "/" << b["clients"];
    if (b.contains("cpu_per_recipient_ns"))
      out << "; CPU/recipient " << num(json(b["cpu_per_recipient_ns"].get<double>() / 1000), 2)
          << " us";
    if (b.contains("cpu_ratio_to_floor"))
      out << " = " << num(b["cpu_ratio_to_floor"], 2) << "x floor [budget <= 1.3x]";
    out << "\n";
  }
  if (r.contains("personal")) {
    const auto& p = r["personal"];
    out << name << " personal   " << p["sent"]
        << (p["persist"].get<bool>() ? " persisted" : " transient") << " at c=" << p["concurrency"]
        << ": sent " << num(p["sent_per_s"], 0) << "/s, delivered " << num(p["delivered_per_s"], 0)
        << "/s (" << p["delivered"] << "/" << p["expected_deliveries"] << "), latency "
        << lat(p["latency_ms"]) << ", HTTP " << lat(p["http_ms"]) << " ["
        << (p["persist"].get<bool>() ? "budget >= 5000/s SQLite, 10000/s MySQL"
                                     : "budget > Bun's rate")
        << "]\n";
  }
  if (r.contains("reconnect")) {
    const auto& c = r["reconnect"];
    out << name << " reconnect  " << c.value("ok", 0) << " clients with since, "
        << c.value("missed_items", 0) << " missed items: all synced in "
        << num(c.value("seconds", json(0)), 2) << " s [budget <= 10 s]; synced exactly "
        << c.value("sync_ok", 0) << ", wrong " << c.value("sync_bad", 0) << "\n";
  }
  if (r.contains("inbox")) {
    const auto& i = r["inbox"];
    out << name << " inbox      " << i.value("requests", 0)
        << " requests at c=" << i.value("concurrency", 0) << ": "
        << num(i.value("requests_per_s", json(0)), 0) << "/s; unread_count "
        << lat(i["unread_count_ms"]) << ", page " << lat(i["inbox_page_ms"])
        << " [budget 10000/s, p99 < 10 ms]; seeded " << i.value("seeded_items", 0) << " items at "
        << num(i.value("seed_items_per_s", json(0)), 0) << "/s\n";
  }
  if (r.contains("scale")) {
    const auto& i = r["scale"];
    out << name << " scale      " << i.value("requests", 0)
        << " requests at c=" << i.value("concurrency", 0) << " for " << i.value("sampled_users", 0)
        << " users in 6 groups: " << num(i.value("requests_per_s", json(0)), 0)
        << "/s; unread_count " << lat(i["unread_count_ms"]) << ", page " << lat(i["inbox_page_ms"])
        << " [budget MariaDB p99 < 2 / 5 ms, SQLite < 1 / 3 ms]; persisted notify "
        << num(i.value("notify_per_s", json(0)), 0) << "/s\n";
  }
  (void)floor;
}

}  // namespace

void summary_printer::print(std::ostream& out, const json& results) {
  const auto& m = results["machine"];
  out << "herald-bench " << results.value("label", "") << ": N=" << results["n"]
      << " users=" << results["users"] << " workers=" << results["workers"] << " on " << m["cores"]
      << " cores, " << m["model"].get<std::string>() << ", " << m["kernel"].get<std::string>()
      << ", " << m["date"].get<std::string>() << "\n";
  const json floor = results.value("floor", json());
  if (floor.is_object() && floor.contains("cpu_per_send_ns"))
    out << "floor       send() of " << floor["frame_bytes"] << " B to " << floor["sockets"]
        << " loopback sockets: " << num(json(floor["cpu_per_send_ns"].get<double>() / 1000), 2)
        << " us CPU per send, time to last " << lat(floor["time_to_last_ms"]) << "\n";
  if (results.contains("herald")) side(out, "herald", results["herald"], floor);
  if (results.contains("peer")) side(out, "peer  ", results["peer"], floor);
  if (results.contains("herald") && results["herald"].contains("soak"))
    out << "soak        " << results["herald"]["soak"].size()
        << " windows of 10 s (see lines above)\n";
  const auto& failed = results["checks_failed"];
  out << (failed.empty() ? "all delivery checks passed"
                         : std::to_string(failed.size()) + " checks FAILED")
      << "\n";
  for (const auto& f : failed) out << "  FAILED: " << f.get<std::string>() << "\n";
}

}  // namespace herald::bench
