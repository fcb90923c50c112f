// The `bus` logger shared by the Redis bus and the presence registry. Thread-safe.
#pragma once
#include <memory>

#include <spdlog/spdlog.h>

namespace herald::cm {

inline std::shared_ptr<spdlog::logger> redis_log() {
  static const std::shared_ptr<spdlog::logger> log = [] {
    if (auto existing = spdlog::get("bus")) return existing;
    auto made = spdlog::default_logger()->clone("bus");
    try {
      spdlog::register_logger(made);
    } catch (const spdlog::spdlog_ex&) {
      if (auto existing = spdlog::get("bus")) return existing;
    }
    return made;
  }();
  return log;
}

}  // namespace herald::cm
