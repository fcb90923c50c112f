// Decoding the rows the SQL store reads from its notifications table (the columns of
// item_columns, in that order: sql_schema.hpp): the stored kind and the item itself.
#pragma once
#include <cstdint>

#include "persistence/sql_store.hpp"
#include "proto/notification.hpp"

namespace herald::persistence {

// The stored kind code (kind_personal, kind_broadcast, kind_group) as an item kind.
proto::item_kind kind_of(std::int64_t stored);

// The item of a row. `read` is the viewer's state of it, which the row alone does not hold.
proto::notification row_to_item(const sql_row& r, bool read);

}  // namespace herald::persistence
