#include "connection_manager/send_queue.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <string>

using herald::cm::outgoing;
using herald::cm::send_queue;

namespace {

outgoing frame(const std::string& body) {
  outgoing o;
  o.body = std::make_shared<const std::string>(body);
  return o;
}

// A count frame: a shared prefix plus a per-session tail holding the number.
outgoing count_frame(const std::string& unread) {
  outgoing o;
  o.body = std::make_shared<const std::string>("{\"type\":\"count\",\"unread\":");
  std::memcpy(o.tail.data(), unread.data(), unread.size());
  std::memcpy(o.tail.data() + unread.size(), "}", 1);
  o.tail_len = static_cast<std::uint8_t>(unread.size() + 1);
  o.is_count = true;
  return o;
}

std::string text(const outgoing& o) { return *o.body + std::string(o.tail.data(), o.tail_len); }

// Pops every frame and returns their texts in order.
std::vector<std::string> drain(send_queue& q) {
  std::vector<std::string> out;
  while (!q.empty()) {
    out.push_back(text(q.front()));
    q.pop_front();
  }
  return out;
}

const std::string count_prefix = "{\"type\":\"count\",\"unread\":";

}  // namespace

TEST_CASE("an outgoing frame's size is its shared body plus its tail", "[send_queue]") {
  auto c = count_frame("12");
  CHECK(c.size() == count_prefix.size() + 3);
  CHECK(text(c) == count_prefix + "12}");
  CHECK(frame("hello").size() == 5);
}

TEST_CASE("the queue counts the bytes of every queued frame", "[send_queue]") {
  send_queue q(1000);
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
  CHECK(q.push(frame("abcde")));
  CHECK(q.push(frame("0123456789")));
  CHECK(q.push_count(count_frame("7")));
  CHECK(q.size() == 3);
  CHECK(q.bytes() == 5 + 10 + count_prefix.size() + 2);
  CHECK_FALSE(q.empty());
}

TEST_CASE("a push that takes the queue past its cap returns false", "[send_queue]") {
  send_queue q(10);
  CHECK(q.push(frame("12345")));
  CHECK(q.push(frame("67890")));  // exactly at the cap is still fine
  CHECK(q.bytes() == 10);
  CHECK_FALSE(q.push(frame("x")));
  CHECK(q.bytes() == 11);
}

TEST_CASE("a count push that takes the queue past its cap returns false", "[send_queue]") {
  send_queue q(count_prefix.size() + 2);
  CHECK(q.push_count(count_frame("1")));
  CHECK(q.push_count(count_frame("2")));  // replaces the first: still within the cap
  CHECK(q.bytes() == count_prefix.size() + 2);
  CHECK_FALSE(q.push_count(count_frame("10")));
}

TEST_CASE("pop_front releases the frame's bytes and its shared body", "[send_queue]") {
  send_queue q(1000);
  auto shared = std::make_shared<const std::string>("broadcast");
  outgoing o;
  o.body = shared;
  q.push(o);
  o.body.reset();
  q.push(frame("second"));
  CHECK(shared.use_count() == 2);
  q.set_in_flight(true);
  q.pop_front();
  CHECK(shared.use_count() == 1);
  CHECK(q.bytes() == 6);
  CHECK(q.size() == 1);
  CHECK(text(q.front()) == "second");
  q.pop_front();
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
}

TEST_CASE("queued count frames collapse into the latest one", "[send_queue]") {
  send_queue q(1000);
  q.push_count(count_frame("1"));
  q.push_count(count_frame("2"));
  q.push_count(count_frame("3"));
  CHECK(q.size() == 1);
  CHECK(q.bytes() == count_prefix.size() + 2);
  CHECK(drain(q) == std::vector<std::string>{count_prefix + "3}"});
}

TEST_CASE("the latest count moves after the frames queued before it", "[send_queue]") {
  send_queue q(1000);
  q.push(frame("A"));
  q.push_count(count_frame("1"));
  q.push(frame("B"));
  q.push_count(count_frame("2"));
  CHECK(q.size() == 3);
  CHECK(q.bytes() == 2 + count_prefix.size() + 2);
  CHECK(drain(q) == std::vector<std::string>{"A", "B", count_prefix + "2}"});
}

TEST_CASE("a count frame in flight is never replaced", "[send_queue]") {
  send_queue q(1000);
  q.push_count(count_frame("1"));
  q.set_in_flight(true);
  q.push_count(count_frame("2"));
  CHECK(q.size() == 2);
  CHECK(text(q.front()) == count_prefix + "1}");  // the frame on the wire is untouched
  q.push_count(count_frame("3"));                 // collapses with "2", not with "1"
  CHECK(q.size() == 2);
  CHECK(q.bytes() == 2 * (count_prefix.size() + 2));
  CHECK(drain(q) == std::vector<std::string>{count_prefix + "1}", count_prefix + "3}"});
}

TEST_CASE("a count frame at the front that is not in flight is replaced", "[send_queue]") {
  send_queue q(1000);
  q.push_count(count_frame("1"));
  q.push(frame("A"));
  q.push_count(count_frame("2"));
  CHECK(drain(q) == std::vector<std::string>{"A", count_prefix + "2}"});
}

TEST_CASE("after a pop the queue keeps collapsing counts behind the new front", "[send_queue]") {
  send_queue q(1000);
  q.push(frame("A"));
  q.push(frame("B"));
  q.set_in_flight(true);
  q.pop_front();  // A written
  q.push_count(count_frame("1"));
  q.set_in_flight(true);  // B on the wire now
  q.push_count(count_frame("2"));
  CHECK(q.size() == 2);
  CHECK(drain(q) == std::vector<std::string>{"B", count_prefix + "2}"});
}

TEST_CASE("clear empties the queue and its byte count", "[send_queue]") {
  send_queue q(1000);
  auto shared = std::make_shared<const std::string>("shared");
  outgoing o;
  o.body = shared;
  q.push(o);
  o.body.reset();
  q.push_count(count_frame("4"));
  q.set_in_flight(true);
  q.clear();
  CHECK(q.empty());
  CHECK(q.size() == 0);
  CHECK(q.bytes() == 0);
  CHECK(shared.use_count() == 1);
  CHECK(q.push(frame("again")));
  CHECK(q.bytes() == 5);
  CHECK(drain(q) == std::vector<std::string>{"again"});
}

TEST_CASE("once the frame on the wire is popped, the count behind it may be replaced again") {
  send_queue q(1024);
  q.push_count(count_frame("1"));
  q.set_in_flight(true);           // "1" is on the wire
  q.push_count(count_frame("2"));  // queued behind it
  q.pop_front();                   // "1" written: "2" is at the front, not on the wire
  q.push_count(count_frame("3"));
  CHECK(drain(q) == std::vector<std::string>{R"({"type":"count","unread":3})"});
}

TEST_CASE("after clear a new count at the front is not taken for one on the wire") {
  send_queue q(1024);
  q.push_count(count_frame("1"));
  q.set_in_flight(true);
  q.clear();
  q.push_count(count_frame("2"));
  q.push_count(count_frame("3"));
  CHECK(drain(q) == std::vector<std::string>{R"({"type":"count","unread":3})"});
}
