// Herald's logs: one sink (stderr) shared by one named logger per component: `gateway` (the
// daemon, listeners, handlers), `conn` (WebSocket sessions), `store` (the database) and `bus`
// (Redis bus and presence), `queue` (the AMQP and Redis Streams consumers). Tokens and API keys are
// never logged. Thread-safe after init_logging(), which main() calls once before anything else
// runs.
#pragma once
#include <spdlog/spdlog.h>
#include <memory>
#include <string>

namespace herald::gateway {

void init_logging(const std::string& level);
// The named logger (created on the shared sink if init_logging() has not run, as in tests).
std::shared_ptr<spdlog::logger> logger(const char* name);

}  // namespace herald::gateway
