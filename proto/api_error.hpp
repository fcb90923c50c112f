// The contract's error shape: {"error":{"code","message"[,"field"]}}. Pure values; thread-safe.
#pragma once
#include <string>

namespace herald::proto {

struct api_error {
  int status = 400;     // HTTP status
  std::string code;     // invalid_argument, unauthenticated, forbidden, not_found, ...
  std::string message;  // human-readable reason
  std::string field;    // set for invalid_argument: the offending field ("body", "title", ...)
};

api_error invalid_argument(std::string field, std::string message);
api_error unauthenticated(std::string message);
api_error forbidden(std::string message);
api_error not_found(std::string message = "not found");
api_error method_not_allowed(std::string message = "method not allowed");
api_error too_large(std::string message = "request body is too large");
api_error unavailable(std::string message);
api_error internal_error(std::string message = "internal error");  // 500 "internal"

// Compact JSON body for an error answer.
std::string encode_error(const api_error& e);

}  // namespace herald::proto
