#include "bench/process_probe.hpp"

#include <dirent.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace herald::bench {

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      std::int64_t kb = 0;
      fields >> kb;
      return kb * 1024;
    }
  }
  return -1;
}

std::int64_t cpu_ns(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close_paren = text.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(close_paren + 2));
  std::string field;
  // After "pid (comm) " come: state(3) ... utime is field 14, stime 15 (1-based overall).
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return (utime + stime) * (1'000'000'000LL / ticks);
}

std::int64_t rss_bytes(const std::vector<pid_t>& pids) {
  if (pids.empty()) return -1;
  std::int64_t sum = 0;
  for (pid_t p : pids) {
    const std::int64_t one = rss_bytes(p);
    if (one < 0) return -1;
    sum += one;
  }
  return sum;
}

std::int64_t cpu_ns(const std::vector<pid_t>& pids) {
  std::int64_t sum = 0;
  for (pid_t p : pids) {
    const std::int64_t one = cpu_ns(p);
    if (one < 0) return -1;
    sum += one;
  }
  return sum;
}

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::istringstream parts(text);
  std::string part;
  while (std::getline(parts, part, ',')) {
    if (part.empty()) throw std::invalid_argument("empty CPU in list '" + text + "'");
    const auto dash = part.find('-');
    const int first = std::stoi(part.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(part.substr(dash + 1));
    if (first < 0 || last < first) throw std::invalid_argument("bad CPU range '" + part + "'");
    for (int c = first; c <= last; ++c) cpus.push_back(c);
  }
  if (cpus.empty()) throw std::invalid_argument("empty CPU list");
  return cpus;
}

bool pin_process(pid_t pid, const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  const std::string dir =
      "/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/task";
  DIR* tasks = opendir(dir.c_str());
  if (!tasks) return false;
  bool ok = true;
  while (dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    if (sched_setaffinity(static_cast<pid_t>(std::stol(entry->d_name)), sizeof set, &set) != 0)
      ok = false;
  }
  closedir(tasks);
  return ok;
}

}  // namespace herald::bench
