#include "connection_manager/queue_log.hpp"

namespace herald::cm {

std::shared_ptr<spdlog::logger> queue_log() {
  static const std::shared_ptr<spdlog::logger> l = [] {
    if (auto existing = spdlog::get("queue")) return existing;
    auto made = spdlog::default_logger()->clone("queue");
    try {
      spdlog::register_logger(made);
    } catch (const spdlog::spdlog_ex&) {
      if (auto existing = spdlog::get("queue")) return existing;
    }
    return made;
  }();
  return l;
}

}  // namespace herald::cm
