// The `queue` logger of the queue consumers (AMQP and Redis Streams): the one the daemon made
// on its shared sink when there is one, else a copy of the default logger under that name.
#pragma once
#include <spdlog/spdlog.h>
#include <memory>

namespace herald::cm {

std::shared_ptr<spdlog::logger> queue_log();

}  // namespace herald::cm
