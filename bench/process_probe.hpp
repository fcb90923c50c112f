// Reads another process's memory and CPU use from /proc, pins processes to CPUs, and gives the
// one monotonic clock every bench process shares (CLOCK_MONOTONIC is system-wide).
// Thread safety: stateless free functions.
#pragma once
#include <sys/types.h>
#include <cstdint>
#include <string>
#include <vector>

namespace herald::bench {

// CLOCK_MONOTONIC in nanoseconds; comparable across processes on this machine.
std::int64_t monotonic_ns();

// VmRSS of `pid` in bytes, or -1 when it cannot be read.
std::int64_t rss_bytes(pid_t pid);

// User + system CPU time of `pid` (all threads) in nanoseconds, or -1.
std::int64_t cpu_ns(pid_t pid);

// The sums over several processes (a cluster's nodes); -1 when one cannot be read, and for RSS
// also when `pids` is empty (CPU: 0).
std::int64_t rss_bytes(const std::vector<pid_t>& pids);
std::int64_t cpu_ns(const std::vector<pid_t>& pids);

// Parses "0", "0,1", "0-3" into CPU numbers; throws std::invalid_argument on bad input.
std::vector<int> parse_cpu_list(const std::string& text);

// Pins every thread of `pid` (0 = this process) to `cpus`. Returns false on failure.
bool pin_process(pid_t pid, const std::vector<int>& cpus);

}  // namespace herald::bench
