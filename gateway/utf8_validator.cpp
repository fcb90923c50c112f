#include "gateway/utf8_validator.hpp"

namespace herald::gateway {

bool utf8_validator::feed(std::string_view bytes) {
  for (const char ch : bytes) {
    const auto b = static_cast<std::uint8_t>(ch);
    if (need_ > 0) {
      if (b < lo_ || b > hi_) return false;
      --need_;
      lo_ = 0x80;
      hi_ = 0xBF;
      continue;
    }
    if (b < 0x80) continue;
    // The first continuation byte's range rules out overlongs, surrogates and > U+10FFFF.
    if (b >= 0xC2 && b <= 0xDF) {
      need_ = 1;
    } else if (b == 0xE0) {
      need_ = 2, lo_ = 0xA0;
    } else if (b >= 0xE1 && b <= 0xEC) {
      need_ = 2;
    } else if (b == 0xED) {
      need_ = 2, hi_ = 0x9F;
    } else if (b >= 0xEE && b <= 0xEF) {
      need_ = 2;
    } else if (b == 0xF0) {
      need_ = 3, lo_ = 0x90;
    } else if (b >= 0xF1 && b <= 0xF3) {
      need_ = 3;
    } else if (b == 0xF4) {
      need_ = 3, hi_ = 0x8F;
    } else {
      return false;  // a continuation byte with no lead, 0xC0/0xC1, or 0xF5..0xFF
    }
  }
  return true;
}

}  // namespace herald::gateway
