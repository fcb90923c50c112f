// A message body from a queue (AMQP or a Redis stream) taken to its verdict through the same
// validation (proto) and the same store-and-push path as POST /v1/notify and /v1/notify/batch.
// Thread-safe (pure apart from process_notify).
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>

namespace herald::gateway {

class server;

enum class queue_verdict {
  done,         // stored (or pushed) and answered: ack
  refused,      // the body is refused as HTTP refuses it (400/413): reject, never retry
  unavailable,  // the store did not take it (503): keep it and try again later
};

struct queue_outcome {
  queue_verdict verdict = queue_verdict::done;
  std::string answer;  // the HTTP answer JSON, or its error envelope
};

struct queue_body {
  std::string body;
  // The idempotency key of a body that has none (an AMQP message_id, a stream entry's id);
  // a batch's entries get `key:INDEX`. Empty: none.
  std::string fallback_key;
  const char* fallback_field = "message_id";  // named when the key is unusable
};

// `done` runs once, on `ex`.
void ingest_queue_body(server& srv, queue_body in, boost::asio::any_io_executor ex,
                       std::function<void(queue_outcome)> done);

}  // namespace herald::gateway
