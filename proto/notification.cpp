#include "proto/notification.hpp"

#include "proto/json_text.hpp"

namespace herald::proto {
namespace {

struct civil_date {
  std::int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
civil_date civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<std::uint64_t>(z - era * 146097);                    // [0, 146096]
  const std::uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const std::uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
  const std::uint64_t mp = (5 * doy + 2) / 153;                       // [0, 11]
  const auto d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const auto m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  return {y + (m <= 2 ? 1 : 0), m, d};
}

void put2(char* at, unsigned v) {
  at[0] = static_cast<char>('0' + v / 10);
  at[1] = static_cast<char>('0' + v % 10);
}

void append_time(std::string& out, std::int64_t epoch_ms) {
  constexpr std::int64_t ms_per_day = 86'400'000;
  std::int64_t days = epoch_ms / ms_per_day;
  std::int64_t rest = epoch_ms % ms_per_day;
  if (rest < 0) {
    rest += ms_per_day;
    --days;
  }
  const civil_date date = civil_from_days(days);
  const auto ms_of_day = static_cast<unsigned>(rest);
  const unsigned hour = ms_of_day / 3'600'000;
  const unsigned minute = ms_of_day / 60'000 % 60;
  const unsigned second = ms_of_day / 1000 % 60;
  const unsigned millis = ms_of_day % 1000;

  if (date.year >= 0 && date.year <= 9999) {
    const auto y = static_cast<unsigned>(date.year);
    char year[4];
    put2(year, y / 100);
    put2(year + 2, y % 100);
    out.append(year, 4);
  } else {
    append_json_int(out, date.year);  // outside RFC 3339's range; still unambiguous
  }
  char buf[20];  // -MM-DDTHH:MM:SS.mmmZ
  buf[0] = '-';
  put2(buf + 1, date.month);
  buf[3] = '-';
  put2(buf + 4, date.day);
  buf[6] = 'T';
  put2(buf + 7, hour);
  buf[9] = ':';
  put2(buf + 10, minute);
  buf[12] = ':';
  put2(buf + 13, second);
  buf[15] = '.';
  buf[16] = static_cast<char>('0' + millis / 100);
  put2(buf + 17, millis % 100);
  buf[19] = 'Z';
  out.append(buf, sizeof buf);
}

// The time as a JSON string, or null when there is none.
void append_time_or_null(std::string& out, std::optional<std::int64_t> epoch_ms) {
  if (!epoch_ms) {
    out.append("null");
    return;
  }
  out.push_back('"');
  append_time(out, *epoch_ms);
  out.push_back('"');
}

}  // namespace

std::string_view to_string(item_kind k) {
  switch (k) {
    case item_kind::personal:
      return "personal";
    case item_kind::broadcast:
      return "broadcast";
    case item_kind::group:
      return "group";
  }
  return "personal";
}

std::string_view to_string(retention r) {
  return r == retention::important ? "important" : "normal";
}

std::string format_time_ms(std::int64_t epoch_ms) {
  std::string out;
  out.reserve(24);
  append_time(out, epoch_ms);
  return out;
}

void encode_item(const notification& n, std::string& out) {
  out.reserve(out.size() + 200 + n.title.size() + n.content.size() + n.data_json.size());
  out.append(R"({"id":)");
  append_json_uint(out, n.id);
  out.append(R"(,"kind":")").append(to_string(n.kind)).push_back('"');
  if (n.kind == item_kind::group) {
    out.append(R"(,"audience":)");
    append_json_string(out, n.audience);
  }
  out.append(R"(,"title":)");
  append_json_string(out, n.title);
  out.append(R"(,"content":)");
  append_json_string(out, n.content);
  out.append(R"(,"sender":)");
  if (n.sender) {
    append_json_string(out, *n.sender);
  } else {
    out.append("null");
  }
  if (!n.data_json.empty()) {
    out.append(R"(,"data":)").append(n.data_json);  // already compact JSON
  }
  out.append(R"(,"created_at":")");
  append_time(out, n.created_at_ms);
  out.append(R"(","read":)").append(n.read ? "true" : "false");
  out.append(R"(,"retention":")").append(to_string(n.keep));
  out.append(R"(","expires_at":)");
  append_time_or_null(out, n.keep != retention::important ? n.expires_at_ms : std::nullopt);
  out.append(R"(,"desktop":)").append(n.desktop ? "true" : "false");
  if (n.seq != 0) {
    out.append(R"(,"seq":)");
    append_json_uint(out, n.seq);
  }
  out.append(R"(,"read_at":)");
  append_time_or_null(out, n.read_at_ms);
  if (n.own_view) {
    out.append(R"(,"delivered_at":)");
    append_time_or_null(out, n.delivered_at_ms);
  }
  out.push_back('}');
}

void encode_items(std::span<const notification> items, std::string& out) {
  out.push_back('[');
  bool first = true;
  for (const auto& n : items) {
    if (!first) out.push_back(',');
    first = false;
    encode_item(n, out);
  }
  out.push_back(']');
}

std::string encode_item(const notification& n) {
  std::string out;
  encode_item(n, out);
  return out;
}

}  // namespace herald::proto
