// The HTTP edge: Beast's request parser fed the bytes in pieces (as reads deliver them), then
// what Herald does with a head: the target split and decoded, the bearer token, and the body
// plan (route limit, answer without the body) on both listeners.
#include <boost/beast/http.hpp>
#include <cstdint>
#include <limits>
#include <string_view>

#include "gateway/request_limits.hpp"

namespace http = boost::beast::http;
using namespace herald::gateway;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte picks the read size and the listener settings.
  const std::size_t step = 1 + data[0] % 64;
  const bool dev = data[0] & 0x40;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  config cfg;
  cfg.api_keys = {"fuzz-api-key-0123456789"};
  cfg.dev = dev;
  cfg.max_body_bytes = 4096;
  cfg.max_batch_bytes = 65536;

  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::beast::error_code ec;
  // As a socket read does: each round delivers up to `step` more bytes; the parser consumes
  // what it can of the unconsumed ones.
  std::size_t at = 0, avail = 0;
  bool planned = false;
  while (!parser.is_done()) {
    avail = std::min(bytes.size(), avail + step);
    const std::size_t used = parser.put(boost::asio::buffer(bytes.data() + at, avail - at), ec);
    at += used;
    if (ec == http::error::need_more) {
      ec = {};
      if (avail == bytes.size()) {
        parser.put_eof(ec);
        break;
      }
      continue;
    }
    if (ec) break;
    if (parser.is_header_done() && !planned) {
      planned = true;
      const auto& head = parser.get();
      const target t = parse_target(head.target());
      (void)t.param("token");
      (void)bearer_token(head);
      for (bool internal : {false, true}) {
        const body_plan plan = plan_body(cfg, internal, head, t);
        if (plan.limit != cfg.max_body_bytes && plan.limit != cfg.max_batch_bytes) __builtin_trap();
        // The batch limit only for an authenticated batch on the internal listener.
        if (plan.limit == cfg.max_batch_bytes && !(internal && api_key_ok(cfg, head)))
          __builtin_trap();
        // An unknown public API route never reads a body.
        if (!internal && t.path.rfind("/v1/", 0) == 0 && !public_api_route(cfg, t) &&
            !plan.answer_without_body) {
          __builtin_trap();
        }
      }
      // As the session does: a Content-Length past the limit is answered 413 before any of
      // the body is read (the parser would otherwise size its buffer from the header).
      if (auto len = parser.content_length(); len && *len > cfg.max_batch_bytes) return 0;
      parser.body_limit(cfg.max_batch_bytes);
    }
    if (used == 0 && avail == bytes.size()) break;
  }
  if (parser.is_done()) (void)parser.get().body().size();
  return 0;
}
