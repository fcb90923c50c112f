// Incremental UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF), fed in pieces so that a fragmented text message fails on its first bad byte.
// Not thread-safe; a value type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald::gateway {

class utf8_validator {
 public:
  // Validates the next piece; false as soon as the bytes so far cannot be UTF-8.
  bool feed(std::string_view bytes);
  // True when the bytes so far end on a character boundary (no sequence left open).
  bool complete() const { return need_ == 0; }
  void reset() {
    need_ = 0;
    lo_ = 0x80;
    hi_ = 0xBF;
  }

 private:
  std::uint8_t need_ = 0;   // continuation bytes still expected
  std::uint8_t lo_ = 0x80;  // allowed range of the next continuation byte
  std::uint8_t hi_ = 0xBF;
};

// Whole-string check.
inline bool valid_utf8(std::string_view s) {
  utf8_validator v;
  return v.feed(s) && v.complete();
}

}  // namespace herald::gateway
