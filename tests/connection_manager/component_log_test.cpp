#include "connection_manager/component_log.hpp"

#include <spdlog/sinks/null_sink.h>

#include <catch2/catch.hpp>
#include <memory>

using herald::cm::component_log;

TEST_CASE("a component's logger is made once under its name and the same one is kept") {
  auto made = component_log("cm-test-made");
  REQUIRE(made);
  CHECK(made->name() == "cm-test-made");
  CHECK(spdlog::get("cm-test-made") == made);
  CHECK(component_log("cm-test-made") == made);
  spdlog::drop("cm-test-made");
}

TEST_CASE("a logger the daemon registered under the component's name is the one used") {
  auto own = std::make_shared<spdlog::logger>("cm-test-own",
                                              std::make_shared<spdlog::sinks::null_sink_mt>());
  spdlog::register_logger(own);
  CHECK(component_log("cm-test-own") == own);
  spdlog::drop("cm-test-own");
}

TEST_CASE("the bus and queue loggers carry their component names") {
  CHECK(herald::cm::redis_log()->name() == "bus");
  CHECK(herald::cm::queue_log()->name() == "queue");
  CHECK(herald::cm::redis_log() == herald::cm::redis_log());
}
