// A consumer of one Redis stream in consumer group `herald`, one consumer per node (its name is
// the node id), over two hiredis connections on an Asio strand: one blocks in XREADGROUP, the
// other acks, moves refused entries to KEY:dead and claims (XAUTOCLAIM) entries left pending
// for longer than `claim_idle` by a consumer that died. The group is created when missing
// (MKSTREAM). At start, entries still pending on this consumer (a restart) are read again first.
// At most `prefetch` entries are in flight; entries held longer (the store is down) are
// touched so that no other node claims them while this one still works on them.
// Thread safety: ready() and the settle calls from any thread; start/pause/stop from one thread.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "connection_manager/redis_endpoint.hpp"

namespace herald::cm {

class stream_consumer {
 public:
  struct options {
    std::string url;  // redis://HOST:PORT/KEY
    std::string group = "herald";
    std::string consumer;  // the node id
    unsigned prefetch = 256;
    std::chrono::milliseconds claim_idle{30000};
    std::chrono::milliseconds claim_interval{5000};
    std::chrono::milliseconds block{2000};
  };

  struct entry {
    std::string id;
    std::string body;
    bool has_body = false;
    bool redelivered = false;  // read again after a restart, or claimed from another consumer
  };
  // Runs on the consumer's strand for each entry; must not block.
  using handler = std::function<void(entry)>;

  // Splits redis://HOST:PORT/KEY; false (and `why`) when it is not one.
  static bool parse_url(const std::string& url, redis_endpoint* ep, std::string* key,
                        std::string* why);
  static std::string check_url(const std::string& url);

  stream_consumer(boost::asio::io_context& io, options opts, handler on_entry);
  ~stream_consumer();
  stream_consumer(const stream_consumer&) = delete;
  stream_consumer& operator=(const stream_consumer&) = delete;

  void start();
  void pause();  // no more reads; settlements still go out
  void stop();

  bool ready() const;
  const std::string& key() const;

  // XACK after the commit.
  void ack(const std::string& id);
  // XADD KEY:dead * body BODY error ERROR, then XACK.
  void dead(const std::string& id, std::string body, std::string error);
  // Gives the entry up without settling it (draining): it stays pending on this consumer.
  void release(const std::string& id);

  std::uint64_t claimed() const;

 private:
  struct core;
  std::shared_ptr<core> core_;
};

}  // namespace herald::cm
