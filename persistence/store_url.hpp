// Parsing of HERALD_STORE URLs: "sqlite:PATH" and "mysql://USER:PASS@HOST[:PORT]/DB".
// Pure functions; thread-safe.
#pragma once
#include <string>

namespace herald::persistence {

struct mysql_url {
  std::string user;
  std::string password;  // may be empty
  std::string host;
  int port = 3306;
  std::string database;
};

// Both throw std::invalid_argument naming what is wrong with the URL.
// USER and PASS may carry %XX escapes (for ':', '@', '/').
mysql_url parse_mysql_url(const std::string& url);
std::string parse_sqlite_url(const std::string& url);  // the file path

}  // namespace herald::persistence
