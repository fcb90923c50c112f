// The bus of a single node: publish() hands the event straight to the handler. Thread-safe.
#pragma once
#include "connection_manager/bus.hpp"

namespace herald::cm {

class local_bus final : public bus {
 public:
  void start(handler on_event) override { on_event_ = std::move(on_event); }
  void publish(const event& e) override {
    if (on_event_) on_event_(e);
  }
  bool healthy() const override { return true; }
  void stop() override {}

 private:
  handler on_event_;
};

}  // namespace herald::cm
