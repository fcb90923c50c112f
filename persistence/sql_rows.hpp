// What every file of the SQL store shares about its statements and rows: an id as a parameter,
// a list of placeholders, the SELECT of item_columns, and the decoding of those rows (the
// columns of item_columns, in that order: sql_schema.hpp): the stored kind and the item itself.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "persistence/sql_store.hpp"
#include "proto/notification.hpp"

namespace herald::persistence {

// An id as a statement parameter (ids are below 2^53, so the signed value is the same).
inline sql_param id_param(std::uint64_t v) { return static_cast<std::int64_t>(v); }

// "?, ?, ?" with n marks.
std::string placeholders(std::size_t n);

// "SELECT <item_columns> FROM notifications".
extern const std::string select_items;

// The stored kind code (kind_personal, kind_broadcast, kind_group) as an item kind.
proto::item_kind kind_of(std::int64_t stored);

// The item of a row. `read` is the viewer's state of it, which the row alone does not hold.
proto::notification row_to_item(const sql_row& r, bool read);

}  // namespace herald::persistence
