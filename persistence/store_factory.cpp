#include <stdexcept>

#include "persistence/mysql/mysql_store.hpp"
#include "persistence/sqlite/sqlite_store.hpp"
#include "persistence/store.hpp"
#include "persistence/store_url.hpp"

namespace herald::persistence {

std::unique_ptr<store> open_store(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0) return std::make_unique<sqlite_store>(parse_sqlite_url(url));
  if (url.rfind("mysql://", 0) == 0) return std::make_unique<mysql_store>(parse_mysql_url(url));
  throw std::invalid_argument("store URL: unknown scheme in '" + url.substr(0, url.find(':')) +
                              "' (expected sqlite:PATH or mysql://USER:PASS@HOST:PORT/DB)");
}

store_capabilities capabilities_of(const std::string& url) {
  // SQLite serializes writers and answers from local files: a few threads suffice. MySQL's calls
  // wait on network round trips, so more threads keep the database busy.
  if (url.rfind("sqlite:", 0) == 0) return {"sqlite", 4};
  if (url.rfind("mysql://", 0) == 0) return {"mysql", 16};
  throw std::invalid_argument(
      "store URL: unknown scheme (expected sqlite:PATH or mysql://USER:PASS@HOST:PORT/DB)");
}

std::string check_store_url(const std::string& url) {
  try {
    if (url.rfind("sqlite:", 0) == 0) {
      parse_sqlite_url(url);
    } else if (url.rfind("mysql://", 0) == 0) {
      parse_mysql_url(url);
    } else {
      return "store URL: unknown scheme (expected sqlite:PATH or mysql://USER:PASS@HOST:PORT/DB)";
    }
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

}  // namespace herald::persistence
