// The schema (versioned migrations) and the few statements whose SQL differs between SQLite and
// MySQL. Pure data; thread-safe.
#pragma once
#include <string>
#include <vector>

namespace herald::persistence {

struct sql_dialect {
  const char* name;
  // Appended to a SELECT that must lock the rows it reads (MySQL); empty where the whole
  // write transaction already holds the database's write lock (SQLite).
  const char* for_update;
  // The live shared items' table reference: SQLite's planner, without statistics on how few
  // rows are broadcast/group, would otherwise scan the whole table.
  const char* shared_items_from;
  // The table reference of a user's personal page (newest first by id) and of a user's unread
  // index range (aliased g). MySQL names the index: its optimizer otherwise estimates every
  // candidate index by diving into it on each execution, which cost more than the query itself.
  const char* personal_page_from;
  const char* unread_range_from;
  // Wraps a UNION ALL branch that has its own ORDER BY and LIMIT.
  const char* limited_branch_open;
  const char* limited_branch_close;
  // Completes "INSERT INTO unread_counters (user_id, personal_unread) VALUES ..." so that an
  // existing row is incremented by the new value.
  const char* counter_upsert_tail;
  // Per-user state of a shared item: "read" and "delete" as one upsert each (user_id, id bound),
  // changing a row only when the item goes from unseen (neither read nor deleted) to read, or
  // from unread to deleted: a read of a deleted item and a delete of a read one change nothing
  // (the caller deletes a read item with a plain UPDATE, see sql_store::set_shared_state).
  const char* shared_read_upsert;
  const char* shared_delete_upsert;
  // Deletes up to N expired idempotency keys (expires_at_ms <= ?, LIMIT ?).
  const char* purge_keys;
  // Table references of one audience's live items (aliased n, newest or oldest first by id) and
  // of one audience's live count (aliased a, a covering range).
  const char* audience_items_from;
  const char* live_count_from;
  // "INSERT ... INTO audience_pairs (pair, audience) VALUES " that ignores rows already there.
  const char* pair_insert_head;
  // Deletes up to N batch tokens written before a time (created_at_ms <= ?, LIMIT ?).
  const char* purge_batch_tokens;
  // Each migration step: the statements that take schema version i to i + 1.
  std::vector<std::vector<std::string>> steps;
  // Appended to a SELECT that must hold its rows against a writer while other readers may hold
  // them too (MySQL's shared lock); empty on SQLite (the write lock).
  const char* for_share;
  // Complete "INSERT INTO audience_live (audience, live) VALUES ..." and "INSERT INTO
  // shared_seen (user_id, audience, seen) VALUES ..." so that an existing row moves by the value.
  const char* live_upsert_tail;
  const char* seen_upsert_tail;
};

const sql_dialect& sqlite_dialect();
const sql_dialect& mysql_dialect();

// The tables drop_schema() removes, children first.
const std::vector<std::string>& schema_tables();

// Item columns in the order row_to_item() reads them.
inline constexpr const char* item_columns =
    "id, kind, user_id, audience, title, content, sender, data, created_at_ms, expires_at_ms, "
    "retention, desktop, is_read, deleted, retracted";

// Column indexes of item_columns.
enum item_col {
  col_id,
  col_kind,
  col_user_id,
  col_audience,
  col_title,
  col_content,
  col_sender,
  col_data,
  col_created,
  col_expires,
  col_retention,
  col_desktop,
  col_is_read,
  col_deleted,
  col_retracted
};

// Stored encodings of proto's enums.
inline constexpr int kind_personal = 0;
inline constexpr int kind_broadcast = 1;
inline constexpr int kind_group = 2;

}  // namespace herald::persistence
