#include "proto/audience.hpp"

#include <catch2/catch.hpp>

using namespace herald::proto;

namespace {
std::string why_refused(std::string_view path) {
  std::string why;
  const auto a = audience::parse(path, &why);
  REQUIRE_FALSE(a.has_value());
  CHECK_FALSE(why.empty());
  return why;
}

std::string canonical(std::string_view path) {
  std::string why;
  const auto a = audience::parse(path, &why);
  REQUIRE(a.has_value());
  return a->canonical();
}

std::string pairs(int n) {
  std::string path;
  for (int i = 0; i < n; ++i) {
    if (i) path += '/';
    path += "k" + std::to_string(i) + "/" + std::to_string(i);
  }
  return path;
}
}  // namespace

TEST_CASE("a single pair and several pairs parse") {
  CHECK(canonical("org/1") == "org/1");
  CHECK(canonical("org/1/role/3") == "org/1/role/3");
}

TEST_CASE("canonical form sorts pairs by kind, then by id") {
  CHECK(canonical("role/3/org/1") == "org/1/role/3");
  CHECK(canonical("team/b/org/9/team/a") == "org/9/team/a/team/b");
  std::string why;
  const auto a = audience::parse("role/3/org/1", &why);
  REQUIRE(a);
  REQUIRE(a->pairs().size() == 2);
  CHECK(a->pairs()[0] == group_pair{"org", "1"});
  CHECK(a->pairs()[1] == group_pair{"role", "3"});
}

TEST_CASE("eight pairs are accepted and nine are refused") {
  CHECK(canonical(pairs(8)) == pairs(8));
  why_refused(pairs(9));
}

TEST_CASE("empty paths, odd segment counts and stray slashes are refused") {
  why_refused("");
  why_refused("org");
  why_refused("org/1/role");
  why_refused("org/1/");
  why_refused("/org/1");
  why_refused("org//1");
  why_refused("org/1//role/3");
  why_refused("*");
}

TEST_CASE("a repeated pair is refused, the same kind with other ids is not") {
  why_refused("org/1/org/1");
  why_refused("org/1/role/3/org/1");
  CHECK(canonical("org/2/org/1") == "org/1/org/2");
}

TEST_CASE("kinds follow [a-z][a-z0-9_]{0,31}") {
  CHECK(valid_group_kind("a"));
  CHECK(valid_group_kind("org_unit2"));
  CHECK(valid_group_kind(std::string(32, 'k')));
  CHECK_FALSE(valid_group_kind(std::string(33, 'k')));
  CHECK_FALSE(valid_group_kind(""));
  CHECK_FALSE(valid_group_kind("1org"));
  CHECK_FALSE(valid_group_kind("_org"));
  CHECK_FALSE(valid_group_kind("Org"));
  CHECK_FALSE(valid_group_kind("or-g"));
  why_refused("Org/1");
}

TEST_CASE("ids follow [A-Za-z0-9_-]{1,64}") {
  CHECK(valid_group_id("1"));
  CHECK(valid_group_id("Ab_-9"));
  CHECK(valid_group_id(std::string(64, 'x')));
  CHECK_FALSE(valid_group_id(std::string(65, 'x')));
  CHECK_FALSE(valid_group_id(""));
  CHECK_FALSE(valid_group_id("a.b"));
  CHECK_FALSE(valid_group_id("a b"));
  CHECK_FALSE(valid_group_id("\xC3\xA9"));
  why_refused("org/a.b");
}

TEST_CASE("a token's groups keep only valid single pairs, sorted and unique") {
  const auto set = group_set::from_claims(
      {"role/3", "org/1", "org/1", "bad", "org/1/role/3", "Org/1", "org/", "/1", "job/x.y", ""});
  REQUIRE(set.pairs().size() == 2);
  CHECK(set.pairs()[0] == group_pair{"org", "1"});
  CHECK(set.pairs()[1] == group_pair{"role", "3"});
  CHECK(set.contains({"org", "1"}));
  CHECK_FALSE(set.contains({"org", "2"}));
  CHECK(group_set::from_claims({}).empty());
}

TEST_CASE("insert keeps the set sorted and unique") {
  group_set set;
  set.insert({"role", "3"});
  set.insert({"org", "1"});
  set.insert({"role", "3"});
  REQUIRE(set.pairs().size() == 2);
  CHECK(set.pairs()[0].str() == "org/1");
  CHECK(set.pairs()[1].str() == "role/3");
}

TEST_CASE("an audience matches only when every pair is in the groups") {
  std::string why;
  const auto both = audience::parse("role/3/org/1", &why);
  const auto org = audience::parse("org/1", &why);
  REQUIRE(both);
  REQUIRE(org);
  const auto member = group_set::from_claims({"org/1", "job/7", "role/3"});
  const auto org_only = group_set::from_claims({"org/1"});
  const auto other_role = group_set::from_claims({"org/1", "role/4"});
  CHECK(both->matches(member));
  CHECK_FALSE(both->matches(org_only));
  CHECK_FALSE(both->matches(other_role));
  CHECK_FALSE(both->matches(group_set{}));
  CHECK(org->matches(member));
  CHECK(org->matches(org_only));
}
