// The bus carries events to every node's local sessions. One node: local_bus delivers in
// process. Several nodes: redis_bus publishes to Redis and delivers what other nodes publish.
// A node always delivers its own events locally itself, exactly once. publish() is thread-safe.
#pragma once
#include <functional>
#include <string>

#include "connection_manager/event.hpp"

namespace herald::cm {

class bus {
 public:
  using handler = std::function<void(const event&)>;
  virtual ~bus() = default;
  // Starts delivery; `on_event` is called for every event, from any thread.
  virtual void start(handler on_event) = 0;
  virtual void publish(const event& e) = 0;
  // False while the bus cannot reach its peers (Redis down); local delivery still works.
  virtual bool healthy() const = 0;
  virtual void stop() = 0;
};

}  // namespace herald::cm
