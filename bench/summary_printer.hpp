// Turns a run's JSON figures into the human summary (with the DESIGN.md budget beside each
// figure) and adds the machine description. Thread safety: stateless.
#pragma once
#include <nlohmann/json.hpp>
#include <ostream>

namespace herald::bench {

class summary_printer {
 public:
  // cores, CPU model, kernel, date.
  static nlohmann::json machine();
  static void print(std::ostream& out, const nlohmann::json& results);
};

}  // namespace herald::bench
