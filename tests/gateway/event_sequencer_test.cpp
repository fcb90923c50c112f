#include "gateway/event_sequencer.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

using herald::gateway::event_sequencer;
namespace cm = herald::cm;

namespace {

struct rig {
  boost::asio::io_context io;
  std::vector<std::uint64_t> out;    // ids delivered, in order
  std::vector<std::uint64_t> asked;  // rounds asked
  std::vector<std::string> peers{"node-b"};
  std::unique_ptr<event_sequencer> seq;

  explicit rig(std::chrono::milliseconds window, bool fenced = true) {
    event_sequencer::fence f;
    if (fenced) {
      f.peers = [this] { return peers; };
      f.ask = [this](std::uint64_t r) { asked.push_back(r); };
    }
    seq = std::make_unique<event_sequencer>(
        io, window, [this](std::shared_ptr<const cm::event> e) { out.push_back(e->id); },
        std::move(f));
  }
  void push(std::uint64_t id, cm::event_type type = cm::event_type::notification) {
    auto e = std::make_shared<cm::event>();
    e->type = type;
    e->id = id;
    seq->push(e);
    settle();
  }
  void confirm(const std::string& node, std::uint64_t round) {
    seq->confirmed(node, round);
    settle();
  }
  void settle() {
    io.restart();
    io.poll();
  }
};

}  // namespace

TEST_CASE("a held id goes out only once every node answered, after a lower one that came late",
          "[event_sequencer]") {
  rig r(std::chrono::milliseconds(10000));
  r.push(12);  // this node's own, committed after node-b's 10
  REQUIRE(r.asked == std::vector<std::uint64_t>{1});
  r.confirm("", 1);  // this node's writer
  CHECK(r.out.empty());
  r.push(10);  // node-b's, which it published before its answer
  CHECK(r.out.empty());
  r.confirm("node-b", 1);
  CHECK(r.out == std::vector<std::uint64_t>{10, 12});
  CHECK(r.seq->held() == 0);
  CHECK(r.asked.size() == 1);  // nothing held: no new round
  CHECK(r.seq->released_at_window() == 0);
}

TEST_CASE("arrivals during a round wait for the next one; stale answers are ignored",
          "[event_sequencer]") {
  rig r(std::chrono::milliseconds(10000));
  r.push(1);
  r.push(5);  // during round 1, which does not cover it
  r.confirm("node-b", 1);
  r.confirm("node-b", 1);  // twice: counted once
  CHECK(r.out.empty());
  r.confirm("", 1);
  CHECK(r.out == std::vector<std::uint64_t>{1});
  REQUIRE(r.asked == std::vector<std::uint64_t>{1, 2});
  r.confirm("node-b", 1);  // an old round
  r.confirm("", 2);
  CHECK(r.out == std::vector<std::uint64_t>{1});
  r.confirm("node-b", 2);
  CHECK(r.out == std::vector<std::uint64_t>{1, 5});
}

TEST_CASE("a round nobody answers holds events at most the window, then they go in id order",
          "[event_sequencer]") {
  rig r(std::chrono::milliseconds(50));
  r.push(7);
  r.push(6);
  r.confirm("", 1);  // node-b never answers (it died)
  CHECK(r.out.empty());
  r.io.restart();
  r.io.run_for(std::chrono::milliseconds(300));
  CHECK(r.out == std::vector<std::uint64_t>{6, 7});
  CHECK(r.seq->released_at_window() == 2);
  CHECK(r.seq->rounds_given_up() >= 1);
}

TEST_CASE("other events pass at once; a window of zero passes everything", "[event_sequencer]") {
  rig r(std::chrono::milliseconds(10000));
  r.push(3, cm::event_type::count_changed);
  CHECK(r.out == std::vector<std::uint64_t>{3});
  CHECK(r.asked.empty());
  rig zero(std::chrono::milliseconds(0));
  zero.push(9);
  CHECK(zero.out == std::vector<std::uint64_t>{9});
  CHECK(zero.asked.empty());
}

TEST_CASE("without a fence the window alone orders", "[event_sequencer]") {
  rig r(std::chrono::milliseconds(30), false);
  r.push(4);
  r.push(2);
  CHECK(r.out.empty());
  r.io.restart();
  r.io.run_for(std::chrono::milliseconds(200));
  CHECK(r.out == std::vector<std::uint64_t>{2, 4});
}
