#include "connection_manager/component_log.hpp"

namespace herald::cm {

std::shared_ptr<spdlog::logger> component_log(const char* name) {
  if (auto existing = spdlog::get(name)) return existing;
  auto made = spdlog::default_logger()->clone(name);
  try {
    spdlog::register_logger(made);
  } catch (const spdlog::spdlog_ex&) {
    // Another thread registered it first: use that one.
    if (auto existing = spdlog::get(name)) return existing;
  }
  return made;
}

}  // namespace herald::cm
