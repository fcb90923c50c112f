#include "gateway/event_targets.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

namespace gw = herald::gateway;
namespace cm = herald::cm;
namespace proto = herald::proto;

namespace {

proto::notify_request request(const std::string& body) {
  auto r = proto::parse_notify(body);
  REQUIRE(std::holds_alternative<proto::notify_request>(r));
  return std::get<proto::notify_request>(r);
}

bool same_target(const cm::event& a, const cm::event& b) {
  return a.type == b.type && a.target == b.target && a.users == b.users && a.group == b.group;
}

}  // namespace

TEST_CASE("an item's event reaches its readers", "[event_targets]") {
  const auto personal =
      gw::event_for(cm::event_type::count_changed, proto::item_kind::personal, 7, "ignored");
  CHECK(personal.type == cm::event_type::count_changed);
  CHECK(personal.target == cm::event_target::users);
  CHECK(personal.users == std::vector<std::uint64_t>{7});
  CHECK(personal.group.empty());

  const auto broadcast =
      gw::event_for(cm::event_type::notification, proto::item_kind::broadcast, 7, "ignored");
  CHECK(broadcast.type == cm::event_type::notification);
  CHECK(broadcast.target == cm::event_target::everyone);
  CHECK(broadcast.users.empty());
  CHECK(broadcast.group.empty());

  const auto group =
      gw::event_for(cm::event_type::state, proto::item_kind::group, 7, "org/1/role/3");
  CHECK(group.type == cm::event_type::state);
  CHECK(group.target == cm::event_target::group);
  CHECK(group.users.empty());
  CHECK(group.group == "org/1/role/3");
}

TEST_CASE("a notify request's event reaches the recipients it names", "[event_targets]") {
  const auto one = gw::event_for(cm::event_type::desktop, request(R"({"user_id":42,"title":"t"})"));
  CHECK(one.type == cm::event_type::desktop);
  CHECK(one.target == cm::event_target::users);
  CHECK(one.users == std::vector<std::uint64_t>{42});

  const auto many =
      gw::event_for(cm::event_type::desktop, request(R"({"user_ids":[5,3,9],"title":"t"})"));
  CHECK(many.target == cm::event_target::users);
  CHECK(many.users == std::vector<std::uint64_t>{5, 3, 9});
  CHECK(many.group.empty());

  for (const char* body : {R"({"user_id":-1,"title":"t"})", R"({"audience":"*","title":"t"})"}) {
    INFO(body);
    const auto all = gw::event_for(cm::event_type::notification, request(body));
    CHECK(all.target == cm::event_target::everyone);
    CHECK(all.users.empty());
    CHECK(all.group.empty());
  }

  // The group in canonical form: the path sessions match their token's groups against.
  const auto group = gw::event_for(cm::event_type::notification,
                                   request(R"({"audience":"role/3/org/1","title":"t"})"));
  CHECK(group.target == cm::event_target::group);
  CHECK(group.group == "org/1/role/3");
  CHECK(group.users.empty());
}

TEST_CASE("a request's event and its stored items' events reach the same sessions",
          "[event_targets]") {
  using k = proto::item_kind;
  const auto t = cm::event_type::notification;
  CHECK(same_target(gw::event_for(t, request(R"({"user_id":42,"title":"t"})")),
                    gw::event_for(t, k::personal, 42, "")));
  CHECK(same_target(gw::event_for(t, request(R"({"audience":"*","title":"t"})")),
                    gw::event_for(t, k::broadcast, 0, "")));
  CHECK(same_target(gw::event_for(t, request(R"({"audience":"org/1","title":"t"})")),
                    gw::event_for(t, k::group, 0, "org/1")));
  // Positive control: another user or another group is another target.
  CHECK_FALSE(same_target(gw::event_for(t, request(R"({"user_id":42,"title":"t"})")),
                          gw::event_for(t, k::personal, 43, "")));
  CHECK_FALSE(same_target(gw::event_for(t, request(R"({"audience":"org/1","title":"t"})")),
                          gw::event_for(t, k::group, 0, "org/2")));
}
