#include "persistence/sql_rows.hpp"

namespace herald::persistence {

std::string placeholders(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

const std::string select_items = std::string("SELECT ") + item_columns + " FROM notifications";

proto::item_kind kind_of(std::int64_t stored) {
  if (stored == kind_broadcast) return proto::item_kind::broadcast;
  if (stored == kind_group) return proto::item_kind::group;
  return proto::item_kind::personal;
}

proto::notification row_to_item(const sql_row& r, bool read) {
  proto::notification n;
  n.id = static_cast<std::uint64_t>(r.i64(col_id));
  n.kind = kind_of(r.i64(col_kind));
  n.user_id = static_cast<std::uint64_t>(r.i64(col_user_id));
  n.audience = r.str(col_audience);
  n.title = r.str(col_title);
  n.content = r.str(col_content);
  if (!r.null(col_sender)) n.sender = r.str(col_sender);
  n.data_json = r.str(col_data);
  n.created_at_ms = r.i64(col_created);
  if (!r.null(col_expires)) n.expires_at_ms = r.i64(col_expires);
  n.keep = r.i64(col_retention) == 1 ? proto::retention::important : proto::retention::normal;
  n.desktop = r.i64(col_desktop) != 0;
  n.read = read;
  return n;
}

}  // namespace herald::persistence
