// The named loggers of the connection_manager components. Each is the one the daemon made on
// its shared sink when there is one (gateway/logging.cpp), else a copy of the default logger
// under that name, registered so that every later call gets the same one. Thread-safe.
#pragma once
#include <spdlog/spdlog.h>
#include <memory>

namespace herald::cm {

std::shared_ptr<spdlog::logger> component_log(const char* name);

// `bus`: the Redis bus and the presence registry.
inline std::shared_ptr<spdlog::logger> redis_log() {
  static const std::shared_ptr<spdlog::logger> log = component_log("bus");
  return log;
}

// `queue`: the queue consumers (AMQP and Redis Streams).
inline std::shared_ptr<spdlog::logger> queue_log() {
  static const std::shared_ptr<spdlog::logger> log = component_log("queue");
  return log;
}

}  // namespace herald::cm
