#include "gateway/config.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using herald::gateway::command_line;
using herald::gateway::config_error;
using herald::gateway::load_config;

namespace {

// Owns argv/envp arrays in the shape main() receives them.
struct c_strings {
  std::vector<std::string> items;
  std::vector<char*> ptrs;
  explicit c_strings(std::vector<std::string> v) : items(std::move(v)) {
    for (auto& s : items) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  char** data() { return ptrs.data(); }
  int size() const { return static_cast<int>(items.size()); }
};

command_line load(std::vector<std::string> flags, std::vector<std::string> env = {}) {
  ::unsetenv("HERALD_CONFIG");  // the config path may also come from the process environment
  flags.insert(flags.begin(), "herald");
  c_strings argv(std::move(flags)), envp(std::move(env));
  return load_config(argv.size(), argv.data(), envp.data());
}

// The message of the config_error that loading throws; fails the test when nothing is thrown.
std::string refusal(std::vector<std::string> flags, std::vector<std::string> env = {}) {
  try {
    load(std::move(flags), std::move(env));
  } catch (const config_error& e) {
    return e.what();
  }
  FAIL("no config_error was thrown");
  return {};
}

// A TOML file in the temp directory, removed at the end of the test.
struct toml_file {
  std::filesystem::path path;
  explicit toml_file(const std::string& text) {
    static int n = 0;
    path =
        std::filesystem::temp_directory_path() /
        ("herald-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".toml");
    std::ofstream(path) << text;
  }
  ~toml_file() { std::filesystem::remove(path); }
  std::string str() const { return path.string(); }
};

const std::vector<std::string> secrets{"HERALD_JWT_SECRET=s3cret-long-enough-for-hs256-0123456789",
                                       "HERALD_API_KEY=key1-long-enough-0123"};

std::vector<std::string> with_secrets(std::vector<std::string> env) {
  env.insert(env.end(), secrets.begin(), secrets.end());
  return env;
}

}  // namespace

TEST_CASE("every setting has its documented default", "[config]") {
  auto cl = load({}, secrets);
  const auto& c = cl.cfg;
  CHECK(cl.command == "serve");
  CHECK(c.public_addr.host == "0.0.0.0");
  CHECK(c.public_addr.port == 8080);
  CHECK(c.internal_addr.str() == "127.0.0.1:8081");
  CHECK(c.jwt_secret == "s3cret-long-enough-for-hs256-0123456789");
  CHECK(c.api_keys == std::vector<std::string>{"key1-long-enough-0123"});
  CHECK(c.store == "sqlite:herald.db");
  CHECK(c.bus.empty());
  CHECK(c.allowed_origins.empty());
  CHECK(c.retention_days == 90);
  CHECK(c.log_level == "info");
  CHECK(c.max_frame_bytes == 4096);
  CHECK(c.max_queue_bytes == 1024 * 1024);
  CHECK(c.max_body_bytes == 65536);
  CHECK(c.max_batch_bytes == 8 * 1024 * 1024);
  CHECK_FALSE(c.dev);
  CHECK(cl.notes.empty());
}

TEST_CASE("environment variables set every named setting", "[config]") {
  auto c =
      load({}, with_secrets({"HERALD_PUBLIC_ADDR=127.0.0.1:9000", "HERALD_INTERNAL_ADDR=[::1]:9001",
                             "HERALD_STORE=mysql://u:p@127.0.0.1:3306/herald",
                             "HERALD_BUS=redis://127.0.0.1:6379", "HERALD_NODE_ID=node-a",
                             "HERALD_ALLOWED_ORIGINS=https://a.example, https://b.example",
                             "HERALD_RETENTION_DAYS=7", "HERALD_LOG_LEVEL=debug",
                             "HERALD_MAX_FRAME_BYTES=8192", "HERALD_MAX_QUEUE_BYTES=2048",
                             "PATH=/usr/bin"}))
          .cfg;
  CHECK(c.public_addr.str() == "127.0.0.1:9000");
  CHECK(c.internal_addr.host == "::1");
  CHECK(c.internal_addr.port == 9001);
  CHECK(c.store == "mysql://u:p@127.0.0.1:3306/herald");
  CHECK(c.bus == "redis://127.0.0.1:6379");
  CHECK(c.node_id == "node-a");
  CHECK(c.allowed_origins == std::vector<std::string>{"https://a.example", "https://b.example"});
  CHECK(c.retention_days == 7);
  CHECK(c.log_level == "debug");
  CHECK(c.max_frame_bytes == 8192);
  CHECK(c.max_queue_bytes == 2048);
}

TEST_CASE("the environment wins over TOML and a flag wins over both", "[config]") {
  toml_file f(
      "public_addr = \"10.0.0.1:1000\"\n"
      "internal_addr = \"10.0.0.1:1001\"\n"
      "retention_days = 30\n"
      "log_level = \"warn\"\n"
      "jwt_secret = \"from-toml-secret-0123456789abcdef0123\"\n"
      "api_key = [\"toml-key-one-0123456\", \"toml-key-two-0123456\"]\n");
  SECTION("TOML alone") {
    auto c = load({"--config", f.str()}).cfg;
    CHECK(c.public_addr.str() == "10.0.0.1:1000");
    CHECK(c.internal_addr.str() == "10.0.0.1:1001");
    CHECK(c.retention_days == 30);
    CHECK(c.log_level == "warn");
    CHECK(c.jwt_secret == "from-toml-secret-0123456789abcdef0123");
    CHECK(c.api_keys == std::vector<std::string>{"toml-key-one-0123456", "toml-key-two-0123456"});
  }
  SECTION("environment over TOML") {
    auto c =
        load({"--config", f.str()}, {"HERALD_PUBLIC_ADDR=10.0.0.2:2000",
                                     "HERALD_JWT_SECRET=from-env-secret-0123456789abcdef01234"})
            .cfg;
    CHECK(c.public_addr.str() == "10.0.0.2:2000");
    CHECK(c.jwt_secret == "from-env-secret-0123456789abcdef01234");
    CHECK(c.retention_days == 30);  // untouched by the environment
  }
  SECTION("flags over environment and TOML, in both spellings") {
    auto c = load({"--config=" + f.str(), "--public-addr", "10.0.0.3:3000", "--retention-days=12",
                   "--jwt-secret", "from-flag-secret-0123456789abcdef0123"},
                  {"HERALD_PUBLIC_ADDR=10.0.0.2:2000", "HERALD_RETENTION_DAYS=20",
                   "HERALD_JWT_SECRET=from-env-secret-0123456789abcdef01234"})
                 .cfg;
    CHECK(c.public_addr.str() == "10.0.0.3:3000");
    CHECK(c.retention_days == 12);
    CHECK(c.jwt_secret == "from-flag-secret-0123456789abcdef0123");
    CHECK(c.internal_addr.str() == "10.0.0.1:1001");
    CHECK(c.log_level == "warn");
  }
}

TEST_CASE("a flag takes its value as the next argument or after '='", "[config]") {
  auto a = load(
      {"--log-level", "error", "--store=sqlite:/tmp/x.db", "--api-key", "key-long-enough-0123"},
      {"HERALD_JWT_SECRET=secret-long-enough-for-hs256-01234"});
  CHECK(a.cfg.log_level == "error");
  CHECK(a.cfg.store == "sqlite:/tmp/x.db");
  CHECK(a.cfg.api_keys == std::vector<std::string>{"key-long-enough-0123"});
  // A value may itself contain '=' after the first one.
  auto b = load({"--jwt-secret=abc=def-0123456789abcdef0123456789"},
                {"HERALD_API_KEY=key-long-enough-0123"});
  CHECK(b.cfg.jwt_secret == "abc=def-0123456789abcdef0123456789");
}

TEST_CASE("the API key setting is a comma-separated list", "[config]") {
  CHECK(
      load({}, {"HERALD_JWT_SECRET=secret-long-enough-for-hs256-01234",
                "HERALD_API_KEY=alpha-key-0123456789, beta-key-0123456789 ,gamma-key-0123456789,,"})
          .cfg.api_keys == std::vector<std::string>{"alpha-key-0123456789", "beta-key-0123456789",
                                                    "gamma-key-0123456789"});
  CHECK(load({"--api-key=one-key-0123456789ab,two-key-0123456789ab"},
             {"HERALD_JWT_SECRET=secret-long-enough-for-hs256-01234"})
            .cfg.api_keys ==
        std::vector<std::string>{"one-key-0123456789ab", "two-key-0123456789ab"});
  CHECK_THAT(
      refusal({"--api-key", " , "}, {"HERALD_JWT_SECRET=secret-long-enough-for-hs256-01234"}),
      Catch::Contains("--api-key"));
}

TEST_CASE("an unknown TOML key stops the start and is named", "[config]") {
  toml_file f("retention_days = 5\nbogus_key = 1\n");
  const auto msg = refusal({"--config", f.str()}, secrets);
  CHECK_THAT(msg, Catch::Contains("bogus_key"));
}

TEST_CASE("an unknown flag stops the start and is named", "[config]") {
  CHECK_THAT(refusal({"--bogus-flag", "1"}, secrets), Catch::Contains("--bogus-flag"));
  CHECK_THAT(refusal({"--bogus-flag=1"}, secrets), Catch::Contains("--bogus-flag"));
  CHECK_THAT(refusal({"stray"}, secrets), Catch::Contains("stray"));
}

TEST_CASE("a flag without a value stops the start", "[config]") {
  CHECK_THAT(refusal({"--public-addr"}, secrets), Catch::Contains("--public-addr"));
}

TEST_CASE("bad values stop the start with a message naming the key", "[config]") {
  SECTION("port 0 and 70000") {
    CHECK_THAT(refusal({"--public-addr", "0.0.0.0:0"}, secrets), Catch::Contains("--public-addr"));
    CHECK_THAT(refusal({"--internal-addr=127.0.0.1:70000"}, secrets),
               Catch::Contains("--internal-addr"));
    CHECK_THAT(refusal({}, with_secrets({"HERALD_PUBLIC_ADDR=0.0.0.0:70000"})),
               Catch::Contains("HERALD_PUBLIC_ADDR"));
    CHECK_THAT(refusal({}, with_secrets({"HERALD_INTERNAL_ADDR=127.0.0.1:0"})),
               Catch::Contains("HERALD_INTERNAL_ADDR"));
    CHECK_THAT(refusal({"--public-addr", "no-port"}, secrets), Catch::Contains("--public-addr"));
    toml_file f("public_addr = \"0.0.0.0:70000\"\n");
    CHECK_THAT(refusal({"--config", f.str()}, secrets), Catch::Contains("public_addr"));
  }
  SECTION("retention_days abc and 0") {
    CHECK_THAT(refusal({"--retention-days", "abc"}, secrets), Catch::Contains("--retention-days"));
    CHECK_THAT(refusal({"--retention-days=0"}, secrets), Catch::Contains("--retention-days"));
    CHECK_THAT(refusal({}, with_secrets({"HERALD_RETENTION_DAYS=abc"})),
               Catch::Contains("HERALD_RETENTION_DAYS"));
    CHECK_THAT(refusal({}, with_secrets({"HERALD_RETENTION_DAYS=0"})),
               Catch::Contains("HERALD_RETENTION_DAYS"));
    toml_file f("retention_days = 0\n");
    CHECK_THAT(refusal({"--config", f.str()}, secrets), Catch::Contains("retention_days"));
    toml_file g("retention_days = -3\n");
    CHECK_THAT(refusal({"--config", g.str()}, secrets), Catch::Contains("retention_days"));
  }
  SECTION("log_level loud") {
    CHECK_THAT(refusal({"--log-level", "loud"}, secrets), Catch::Contains("--log-level"));
    CHECK_THAT(refusal({}, with_secrets({"HERALD_LOG_LEVEL=loud"})),
               Catch::Contains("HERALD_LOG_LEVEL"));
  }
  SECTION("store postgres://") {
    CHECK_THAT(refusal({"--store", "postgres://u:p@h:5432/db"}, secrets),
               Catch::Contains("--store"));
    CHECK_THAT(refusal({}, with_secrets({"HERALD_STORE=postgres://"})),
               Catch::Contains("HERALD_STORE"));
  }
  SECTION("bus http://x") {
    CHECK_THAT(refusal({"--bus", "http://x"}, secrets), Catch::Contains("--bus"));
    CHECK_THAT(refusal({}, with_secrets({"HERALD_BUS=http://x"})), Catch::Contains("HERALD_BUS"));
    CHECK_THAT(refusal({"--bus=redis://nohostport"}, secrets), Catch::Contains("--bus"));
  }
  SECTION("a TOML value of the wrong type") {
    toml_file f("log_level = true\n");
    CHECK_THAT(refusal({"--config", f.str()}, secrets), Catch::Contains("log_level"));
  }
}

TEST_CASE("a TOML file that does not parse stops the start", "[config]") {
  toml_file f("public_addr = \n");
  CHECK_THAT(refusal({"--config", f.str()}, secrets), Catch::Contains("--config"));
  CHECK_THAT(refusal({"--config", "/nonexistent/herald.toml"}, secrets),
             Catch::Contains("--config"));
}

TEST_CASE("a missing JWT secret or API key stops the start without --dev", "[config]") {
  CHECK_THAT(refusal({}, {"HERALD_API_KEY=key-long-enough-0123"}),
             Catch::Contains("HERALD_JWT_SECRET"));
  CHECK_THAT(refusal({}, {"HERALD_JWT_SECRET=secret-long-enough-for-hs256-01234"}),
             Catch::Contains("HERALD_API_KEY"));
  CHECK_THAT(refusal({}, {}), Catch::Contains("HERALD_"));
  CHECK_THAT(refusal({}, {"HERALD_JWT_SECRET=", "HERALD_API_KEY=key-long-enough-0123"}),
             Catch::Contains("HERALD_JWT_SECRET"));
}

TEST_CASE("--dev generates a fresh JWT secret and API key and says so", "[config]") {
  auto a = load({"--dev"});
  auto b = load({"--dev"});
  CHECK(a.cfg.dev);
  CHECK(a.cfg.jwt_secret.size() >= 32);
  REQUIRE(a.cfg.api_keys.size() == 1);
  CHECK_FALSE(a.cfg.api_keys[0].empty());
  CHECK(a.cfg.jwt_secret != b.cfg.jwt_secret);
  CHECK(a.cfg.api_keys != b.cfg.api_keys);
  REQUIRE(a.notes.size() == 2);
  CHECK_THAT(a.notes[0], Catch::Contains(a.cfg.jwt_secret));
  CHECK_THAT(a.notes[1], Catch::Contains(a.cfg.api_keys[0]));

  // Configured secrets are kept in dev mode.
  auto c = load({"--dev"}, secrets);
  CHECK(c.cfg.jwt_secret == "s3cret-long-enough-for-hs256-0123456789");
  CHECK(c.cfg.api_keys == std::vector<std::string>{"key1-long-enough-0123"});
  CHECK(c.notes.empty());
}

TEST_CASE("the first argument may name the command", "[config]") {
  CHECK(load({"migrate"}, secrets).command == "migrate");
  CHECK(load({"serve"}, secrets).command == "serve");
  CHECK(load({"--help"}).command == "help");
  CHECK(load({"--version"}).command == "version");
  CHECK_THAT(herald::gateway::usage(),
             Catch::Contains("--public-addr") && Catch::Contains("HERALD_RETENTION_DAYS"));
}

TEST_CASE("a JWT secret under 32 bytes or an API key under 16 bytes stops the start without --dev",
          "[config]") {
  const std::string long_secret = "HERALD_JWT_SECRET=" + std::string(32, 'j');
  const std::string long_key = "HERALD_API_KEY=" + std::string(16, 'k');
  // The shortest accepted values start (positive control).
  CHECK(load({}, {long_secret, long_key}).cfg.jwt_secret == std::string(32, 'j'));
  CHECK_THAT(refusal({}, {"HERALD_JWT_SECRET=" + std::string(31, 'j'), long_key}),
             Catch::Contains("HERALD_JWT_SECRET"));
  CHECK_THAT(refusal({}, {long_secret, "HERALD_API_KEY=" + std::string(15, 'k')}),
             Catch::Contains("HERALD_API_KEY"));
  // Any key of the list.
  CHECK_THAT(refusal({}, {long_secret, "HERALD_API_KEY=" + std::string(16, 'k') + ",short"}),
             Catch::Contains("HERALD_API_KEY"));
  CHECK_THAT(refusal({"--jwt-secret", "s3cret"}, {long_key}), Catch::Contains("HERALD_JWT_SECRET"));
  // --dev accepts short secrets (local trials only).
  CHECK(load({"--dev"}, {"HERALD_JWT_SECRET=s3cret", "HERALD_API_KEY=k1"}).cfg.api_keys ==
        std::vector<std::string>{"k1"});
}

TEST_CASE("the connection bounds have their documented defaults and are parsed strictly",
          "[config]") {
  const auto c = load({}, secrets).cfg;
  CHECK(c.max_pending_connections == 8192);
  CHECK(c.max_connections_per_ip == 2048);
  CHECK(c.reserved_fds == 64);
  CHECK(c.drain_grace_ms == 1000);
  const auto d =
      load({}, with_secrets({"HERALD_MAX_PENDING_CONNECTIONS=10", "HERALD_MAX_CONNECTIONS_PER_IP=0",
                             "HERALD_RESERVED_FDS=8", "HERALD_DRAIN_GRACE_MS=0"}))
          .cfg;
  CHECK(d.max_pending_connections == 10);
  CHECK(d.max_connections_per_ip == 0);
  CHECK(d.reserved_fds == 8);
  CHECK(d.drain_grace_ms == 0);
  CHECK_THAT(refusal({}, with_secrets({"HERALD_MAX_PENDING_CONNECTIONS=0"})),
             Catch::Contains("HERALD_MAX_PENDING_CONNECTIONS"));
  CHECK_THAT(refusal({}, with_secrets({"HERALD_MAX_CONNECTIONS_PER_IP=x"})),
             Catch::Contains("HERALD_MAX_CONNECTIONS_PER_IP"));
  CHECK_THAT(refusal({}, with_secrets({"HERALD_DRAIN_GRACE_MS=9001"})),
             Catch::Contains("HERALD_DRAIN_GRACE_MS"));
}
