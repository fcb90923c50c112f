// gather_batch, the gathering of a batch's answers shared by POST /v1/notify/batch and the queue
// consumers.
#include "gateway/notify_process.hpp"

#include <catch2/catch.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

using herald::gateway::gather_batch;

namespace {

struct answers {
  std::vector<std::string> bodies;
  std::vector<bool> unavailable;
};

// A gather of n entries whose answers land in `got`.
std::function<void(std::size_t, herald::gateway::notify_result)> gather_into(answers& got,
                                                                             std::size_t n) {
  return gather_batch(n, [&got](std::string out, bool unavailable) {
    got.bodies.push_back(std::move(out));
    got.unavailable.push_back(unavailable);
  });
}

}  // namespace

TEST_CASE("a batch's answers are joined in entry order once every entry has answered") {
  answers got;
  auto finish = gather_into(got, 3);
  finish(2, {200, R"({"id":3})"});
  finish(0, {400, R"({"error":{"code":"invalid_argument"}})"});
  CHECK(got.bodies.empty());
  finish(1, {200, R"({"id":2})"});
  REQUIRE(got.bodies.size() == 1);
  CHECK(got.bodies[0] ==
        R"({"results":[{"error":{"code":"invalid_argument"}},{"id":2},{"id":3}]})");
  CHECK_FALSE(got.unavailable[0]);
}

TEST_CASE("a batch with an entry the store did not take (503) is reported unavailable") {
  answers got;
  auto finish = gather_into(got, 2);
  finish(0, {200, R"({"id":1})"});
  finish(1, {503, R"({"error":{"code":"unavailable"}})"});
  REQUIRE(got.bodies.size() == 1);
  CHECK(got.bodies[0] == R"({"results":[{"id":1},{"error":{"code":"unavailable"}}]})");
  CHECK(got.unavailable[0]);
}

TEST_CASE("a batch of one entry answers with a one-element list") {
  std::string body;
  auto finish = gather_batch(1, [&body](std::string out, bool) { body = std::move(out); });
  finish(0, {200, R"({"id":7})"});
  CHECK(body == R"({"results":[{"id":7}]})");
}
