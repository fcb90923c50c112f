// herald: the daemon. Parses the settings, then serves (or migrates) until drained.
#include <spdlog/spdlog.h>
#include <cstdio>
#include <iostream>

#include "gateway/logging.hpp"

#include "gateway/config.hpp"
#include "gateway/server.hpp"
#include "persistence/sql_store.hpp"
#include "persistence/store.hpp"

extern char** environ;

int main(int argc, char** argv) {
  using namespace herald;
  gateway::command_line cl;
  try {
    cl = gateway::load_config(argc, argv, environ);
  } catch (const gateway::config_error& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return 2;
  }
  if (cl.command == "help") {
    std::cout << gateway::usage();
    return 0;
  }
  if (cl.command == "version") {
    std::cout << "herald " << HERALD_VERSION << "\n";
    return 0;
  }
  gateway::init_logging(cl.cfg.log_level);
  if (cl.cfg.web_root.empty()) cl.cfg.web_root = HERALD_DEFAULT_WEB_ROOT;
  for (const auto& note : cl.notes) std::cerr << "herald: " << note << "\n";
  if (cl.command == "migrate") {
    try {
      persistence::open_store(cl.cfg.store)->migrate();
      std::cerr << "herald: schema is current\n";
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "herald: migrate failed: " << e.what() << "\n";
      return 1;
    }
  }
  if (cl.command == "recount") {
    // Checks every user's counters against the rows and repairs the wrong ones: exit 0 when
    // all agreed, 1 when something was repaired, 3 when the store failed.
    try {
      auto st = persistence::open_store(cl.cfg.store);
      st->migrate();
      const auto wrong = st->recount(true);
      for (const auto& m : wrong) {
        std::cout << "user " << m.user_id << ": personal unread counter " << m.stored << ", rows "
                  << m.counted << ": repaired\n";
      }
      std::size_t repaired = wrong.size();
      // The shared-item counters (per audience, per user and audience).
      if (auto* sql = dynamic_cast<persistence::sql_store*>(st.get())) {
        for (const auto& m : sql->recount_shared(true)) {
          if (m.user_id != 0) std::cout << "user " << m.user_id << ": ";
          std::cout << m.counter << " counter " << m.stored << ", rows " << m.counted
                    << ": repaired\n";
          ++repaired;
        }
      }
      std::cerr << "herald: recount: " << repaired << " counter(s) repaired\n";
      return repaired == 0 ? 0 : 1;
    } catch (const std::exception& e) {
      std::cerr << "herald: recount failed: " << e.what() << "\n";
      return 3;
    }
  }
  try {
    gateway::server srv(std::move(cl.cfg));
    return srv.run();
  } catch (const gateway::config_error& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return 1;
  }
}
