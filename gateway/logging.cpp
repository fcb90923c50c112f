#include "gateway/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <mutex>

namespace herald::gateway {

namespace {

constexpr const char* components[] = {"gateway", "conn", "store", "bus", "queue"};

spdlog::sink_ptr shared_sink() {
  static const spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  return sink;
}

std::mutex make_mu;

}  // namespace

std::shared_ptr<spdlog::logger> logger(const char* name) {
  std::lock_guard lock(make_mu);
  if (auto l = spdlog::get(name)) return l;
  auto l = std::make_shared<spdlog::logger>(name, shared_sink());
  l->set_level(spdlog::get_level());
  spdlog::register_logger(l);
  return l;
}

void init_logging(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
  for (const char* c : components) logger(c)->set_level(spdlog::get_level());
  spdlog::set_default_logger(logger("gateway"));
}

}  // namespace herald::gateway
