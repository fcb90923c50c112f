// One validated notify request taken to its answer the way POST /v1/notify does it: count the
// connections it reaches, store it durably through the batched writer (group commit) when it is
// persisted or keyed, publish, answer. Shared by the HTTP handler and the queue consumers, so a
// notification is stored and pushed the same way whatever brought it. Thread-safe.
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <functional>
#include <string>

#include "proto/notify_request.hpp"

namespace herald::gateway {

class server;

struct notify_result {
  int status = 200;
  std::string body;  // the answer JSON, or an error body
};
using notify_done = std::function<void(notify_result)>;

// `done` runs once, on `ex`: 200 with the answer (a repeated key: the first answer), or 503
// with the error envelope when the store did not take it.
void process_notify(server& srv, proto::notify_request r, boost::asio::any_io_executor ex,
                    notify_done done);

// The answers of a batch of n entries gathered in order: call the returned function once per
// entry (with its index), all on one executor, so no lock is needed. Once every entry has
// answered, `done` gets {"results":[...]} and whether any entry answered 503.
using batch_done = std::function<void(std::string results, bool unavailable)>;
std::function<void(std::size_t, notify_result)> gather_batch(std::size_t n, batch_done done);

}  // namespace herald::gateway
