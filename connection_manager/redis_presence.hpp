// Cluster-wide presence in Redis. Each node writes its user -> connection count map on a
// heartbeat (default every 2 s; only the entries that changed since the last write, the whole
// map after a (re)connect) and keeps a liveness key with a TTL (default 6 s). When a node's
// liveness key expires, the next heartbeat or totals query of any node removes its entries,
// so a dead node stops counting within TTL + one heartbeat. Keys, with the default prefix:
//   herald:presence:users         hash user -> connections over all live nodes
//   herald:presence:node:<node>   hash user -> connections on that node
//   herald:presence:alive:<node>  hash {connections, users} of that node, expires after TTL
//   herald:presence:nodes         set of node ids that may still have entries
//   herald:presence:gnode:<node>  hash group set -> connections on that node (a group set is a
//                                 token's sorted pairs joined by ",", e.g. "org/1,role/3")
//   herald:presence:gpair:<pair>  hash "<group set>|<node>" -> connections, for every group set
//                                 that contains the pair: a group audience's online count reads
//                                 the smallest of its pairs' hashes, never every connection
// Each write is one Lua script, so the cluster-wide hash always equals the sum of the node
// hashes. A user's count is one HGET; totals are one script over the node list.
// Query callbacks run on the presence strand (on the given io_context), with nullopt when
// Redis cannot answer or has not answered within the lookup timeout. Thread safety: every member
// may be called from any thread. Destroy the registry before its io_context.
#pragma once
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace herald::cm {

struct presence_totals {
  std::uint64_t connections = 0;   // open WebSocket connections on live nodes
  std::uint64_t users_online = 0;  // distinct users with at least one of them
  std::uint64_t nodes = 0;         // live nodes
};

class redis_presence {
 public:
  using user_counts = std::unordered_map<std::uint64_t, std::uint32_t>;
  // Gathers this node's user -> connection count (users with none left out) and passes it to
  // the callback, from any thread (registry::snapshot fits).
  using snapshot_fn = std::function<void(std::function<void(user_counts)>)>;
  // This node's group set (see above) -> connection count, sessions without groups left out.
  using group_counts = std::unordered_map<std::string, std::uint32_t>;
  using group_snapshot_fn = std::function<void(std::function<void(group_counts)>)>;

  struct options {
    std::string url;  // redis://[:password@]host[:port]
    std::string node_id;
    std::string prefix = "herald:";
    std::chrono::milliseconds heartbeat{2000};
    std::chrono::milliseconds ttl{6000};
    // refresh_soon() writes within this delay; calls inside it share one write.
    std::chrono::milliseconds debounce{100};
    std::chrono::milliseconds backoff_min{100};
    std::chrono::milliseconds backoff_max{5000};
    // PING this often; two unanswered reconnect (a frozen Redis is seen within about 3 s).
    std::chrono::milliseconds ping_interval{1000};
    // users_connections() not answered within this gets nullopt (a notify's `online` then uses
    // the local count instead of waiting); the other queries wait up to query_timeout.
    std::chrono::milliseconds lookup_timeout{50};
    std::chrono::milliseconds query_timeout{1000};
  };

  // Throws std::invalid_argument for a bad URL, an empty node id or a TTL not above the
  // heartbeat.
  redis_presence(boost::asio::io_context& io, options opts, snapshot_fn snapshot);
  ~redis_presence();
  redis_presence(const redis_presence&) = delete;
  redis_presence& operator=(const redis_presence&) = delete;

  // Optional, before start(): also publish this node's group sets on every write, so that
  // group_connections() counts them.
  void set_group_snapshot(group_snapshot_fn fn);
  void start();
  // Removes this node's entries from Redis (when reachable) and disconnects; the io_context
  // must run for a moment (at most a second) afterwards for that to be sent.
  void stop();
  // Connected, and this node's entries are written.
  bool healthy() const;
  // Writes the snapshot soon instead of at the next heartbeat (after connects/disconnects).
  void refresh_soon();

  void user_connections(std::uint64_t user, std::function<void(std::optional<std::uint64_t>)> done);
  // Counts in the order of `users`.
  void users_connections(std::vector<std::uint64_t> users,
                         std::function<void(std::optional<std::vector<std::uint64_t>>)> done);
  // fast: within lookup_timeout (a broadcast's `online`) rather than query_timeout.
  void totals(std::function<void(std::optional<presence_totals>)> done, bool fast = false);
  // Lookups answered nullopt at their timeout (for /metrics).
  std::uint64_t lookups_timed_out() const;
  // Connections on live nodes whose token groups contain every one of `pairs` ("kind/id"; an
  // audience's pairs), as of the nodes' last writes.
  void group_connections(std::vector<std::string> pairs,
                         std::function<void(std::optional<std::uint64_t>)> done);
  // The group-set key of a token's groups: its pairs, sorted, joined by ",".
  static std::string group_set_key(const std::vector<std::string>& sorted_pairs);

 private:
  struct core;
  std::shared_ptr<core> core_;
};

}  // namespace herald::cm
