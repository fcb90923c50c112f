#include "persistence/sql_schema.hpp"

namespace herald::persistence {
namespace {

// Version 1 on SQLite. Ids are assigned by Herald (id_sequence), never by AUTOINCREMENT.
std::vector<std::string> sqlite_v1() {
  return {
      R"(CREATE TABLE IF NOT EXISTS notifications (
           id INTEGER PRIMARY KEY,
           kind INTEGER NOT NULL,
           user_id INTEGER NULL,
           audience TEXT NULL,
           title TEXT NOT NULL,
           content TEXT NOT NULL,
           sender TEXT NULL,
           data TEXT NULL,
           created_at_ms INTEGER NOT NULL,
           expires_at_ms INTEGER NULL,
           retention INTEGER NOT NULL,
           desktop INTEGER NOT NULL,
           is_read INTEGER NOT NULL DEFAULT 0,
           deleted INTEGER NOT NULL DEFAULT 0,
           retracted INTEGER NOT NULL DEFAULT 0))",
      "CREATE INDEX IF NOT EXISTS ix_notifications_user ON notifications (user_id, id)",
      "CREATE INDEX IF NOT EXISTS ix_notifications_user_unread ON notifications "
      "(user_id, is_read, deleted, retracted, expires_at_ms)",
      "CREATE INDEX IF NOT EXISTS ix_notifications_shared ON notifications (kind, retracted, id)",
      "CREATE INDEX IF NOT EXISTS ix_notifications_expiry ON notifications (expires_at_ms)",
      R"(CREATE TABLE IF NOT EXISTS user_state (
           user_id INTEGER NOT NULL,
           notification_id INTEGER NOT NULL
             REFERENCES notifications (id) ON DELETE CASCADE,
           is_read INTEGER NOT NULL DEFAULT 0,
           deleted INTEGER NOT NULL DEFAULT 0,
           PRIMARY KEY (user_id, notification_id)) WITHOUT ROWID)",
      "CREATE INDEX IF NOT EXISTS ix_user_state_item ON user_state (notification_id)",
      R"(CREATE TABLE IF NOT EXISTS unread_counters (
           user_id INTEGER PRIMARY KEY,
           personal_unread INTEGER NOT NULL))",
      R"(CREATE TABLE IF NOT EXISTS idempotency (
           idem_key BLOB PRIMARY KEY,
           answer TEXT NOT NULL,
           created_at_ms INTEGER NOT NULL,
           expires_at_ms INTEGER NULL))",
      "CREATE INDEX IF NOT EXISTS ix_idempotency_expiry ON idempotency (expires_at_ms)",
      R"(CREATE TABLE IF NOT EXISTS id_sequence (
           name TEXT PRIMARY KEY,
           next_id INTEGER NOT NULL))",
      "INSERT OR IGNORE INTO id_sequence (name, next_id) VALUES ('notifications', 1)",
  };
}

// Version 1 on MySQL/MariaDB: InnoDB, utf8mb4; keys compare as bytes.
std::vector<std::string> mysql_v1() {
  return {
      R"(CREATE TABLE IF NOT EXISTS notifications (
           id BIGINT NOT NULL PRIMARY KEY,
           kind TINYINT NOT NULL,
           user_id BIGINT NULL,
           audience VARCHAR(800) CHARACTER SET ascii COLLATE ascii_bin NULL,
           title TEXT NOT NULL,
           content MEDIUMTEXT NOT NULL,
           sender TEXT NULL,
           data MEDIUMTEXT NULL,
           created_at_ms BIGINT NOT NULL,
           expires_at_ms BIGINT NULL,
           retention TINYINT NOT NULL,
           desktop TINYINT NOT NULL,
           is_read TINYINT NOT NULL DEFAULT 0,
           deleted TINYINT NOT NULL DEFAULT 0,
           retracted TINYINT NOT NULL DEFAULT 0,
           KEY ix_notifications_user (user_id, id),
           KEY ix_notifications_user_unread (user_id, is_read, deleted, retracted, expires_at_ms),
           KEY ix_notifications_shared (kind, retracted, id),
           KEY ix_notifications_expiry (expires_at_ms)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
      R"(CREATE TABLE IF NOT EXISTS user_state (
           user_id BIGINT NOT NULL,
           notification_id BIGINT NOT NULL,
           is_read TINYINT NOT NULL DEFAULT 0,
           deleted TINYINT NOT NULL DEFAULT 0,
           PRIMARY KEY (user_id, notification_id),
           KEY ix_user_state_item (notification_id),
           CONSTRAINT fk_user_state_item FOREIGN KEY (notification_id)
             REFERENCES notifications (id) ON DELETE CASCADE
         ) ENGINE=InnoDB)",
      R"(CREATE TABLE IF NOT EXISTS unread_counters (
           user_id BIGINT NOT NULL PRIMARY KEY,
           personal_unread BIGINT NOT NULL
         ) ENGINE=InnoDB)",
      R"(CREATE TABLE IF NOT EXISTS idempotency (
           idem_key VARBINARY(255) NOT NULL PRIMARY KEY,
           answer MEDIUMTEXT NOT NULL,
           created_at_ms BIGINT NOT NULL,
           expires_at_ms BIGINT NULL,
           KEY ix_idempotency_expiry (expires_at_ms)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
      R"(CREATE TABLE IF NOT EXISTS id_sequence (
           name VARCHAR(32) CHARACTER SET ascii NOT NULL PRIMARY KEY,
           next_id BIGINT NOT NULL
         ) ENGINE=InnoDB)",
      "INSERT IGNORE INTO id_sequence (name, next_id) VALUES ('notifications', 1)",
  };
}

// Version 2: batch tokens (see sql_store::insert_batch), the same on both backends but for
// the key type.
std::vector<std::string> sqlite_v2() {
  return {
      R"(CREATE TABLE IF NOT EXISTS batch_tokens (
           token TEXT PRIMARY KEY,
           created_at_ms INTEGER NOT NULL))",
      "CREATE INDEX IF NOT EXISTS ix_batch_tokens_created ON batch_tokens (created_at_ms)",
  };
}

std::vector<std::string> mysql_v2() {
  return {
      R"(CREATE TABLE IF NOT EXISTS batch_tokens (
           token CHAR(32) CHARACTER SET ascii NOT NULL PRIMARY KEY,
           created_at_ms BIGINT NOT NULL,
           KEY ix_batch_tokens_created (created_at_ms)
         ) ENGINE=InnoDB)",
  };
}

// Version 3: the pair index (a group pair -> the audiences holding it) and per-audience ranges
// of the live items, so that counts and pages read only the viewer's audiences. The pair
// index of existing group items is built by sql_store::migrate after this step.
std::vector<std::string> sqlite_v3() {
  return {
      R"(CREATE TABLE IF NOT EXISTS audience_pairs (
           pair TEXT NOT NULL,
           audience TEXT NOT NULL,
           PRIMARY KEY (pair, audience)) WITHOUT ROWID)",
      "CREATE INDEX IF NOT EXISTS ix_notifications_audience ON notifications "
      "(kind, audience, retracted, id)",
      "CREATE INDEX IF NOT EXISTS ix_notifications_live ON notifications "
      "(kind, audience, retracted, expires_at_ms)",
  };
}

std::vector<std::string> mysql_v3() {
  return {
      R"(CREATE TABLE IF NOT EXISTS audience_pairs (
           pair VARCHAR(97) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
           audience VARCHAR(800) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
           PRIMARY KEY (pair, audience)
         ) ENGINE=InnoDB)",
      // MySQL has no CREATE INDEX IF NOT EXISTS; MariaDB has.
      "CREATE INDEX IF NOT EXISTS ix_notifications_audience ON notifications "
      "(kind, audience, retracted, id)",
      "CREATE INDEX IF NOT EXISTS ix_notifications_live ON notifications "
      "(kind, audience, retracted, expires_at_ms)",
  };
}

// Version 4: shared-item counters, so that a count reads O(1) rows per audience of the viewer.
// audience_live: per audience ("" = the broadcasts) the stored, unretracted items (expired or
// not, until purged). shared_seen: per user and audience, the user_state rows read or deleted
// of those items. Both move in the transaction that changes what they count; the rows of a
// database of an earlier version are counted by the migration (sql_store::migrate).
std::vector<std::string> sqlite_v4() {
  return {
      R"(CREATE TABLE IF NOT EXISTS audience_live (
           audience TEXT NOT NULL PRIMARY KEY,
           live INTEGER NOT NULL) WITHOUT ROWID)",
      R"(CREATE TABLE IF NOT EXISTS shared_seen (
           user_id INTEGER NOT NULL,
           audience TEXT NOT NULL,
           seen INTEGER NOT NULL,
           PRIMARY KEY (user_id, audience)) WITHOUT ROWID)",
  };
}

// Version 5: the change log of state events (see sql_store_changes.cpp). Seqs come from the
// notifications id sequence; changes_horizon holds the highest seq purged from the log.
// A per-user change has user_id set and audience ''; a retraction or expiry of a shared item is
// one row with user_id 0 and the item's audience ('' for broadcasts). expired_item makes an
// expiry logged once whichever node sees it first.
std::vector<std::string> sqlite_v5() {
  return {
      R"(CREATE TABLE IF NOT EXISTS changes (
           seq INTEGER PRIMARY KEY,
           at_ms INTEGER NOT NULL,
           type INTEGER NOT NULL,
           item_id INTEGER NOT NULL,
           reason INTEGER NOT NULL,
           user_id INTEGER NOT NULL,
           audience TEXT NOT NULL,
           expired_item INTEGER NULL UNIQUE))",
      "CREATE INDEX IF NOT EXISTS ix_changes_scope ON changes (user_id, audience, seq)",
      "CREATE INDEX IF NOT EXISTS ix_changes_at ON changes (at_ms)",
      R"(CREATE TABLE IF NOT EXISTS changes_horizon (
           id INTEGER PRIMARY KEY,
           purged_seq INTEGER NOT NULL))",
      "INSERT OR IGNORE INTO changes_horizon (id, purged_seq) VALUES (1, 0)",
  };
}

std::vector<std::string> mysql_v4() {
  return {
      R"(CREATE TABLE IF NOT EXISTS audience_live (
           audience VARCHAR(800) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
           live BIGINT NOT NULL
         ) ENGINE=InnoDB)",
      R"(CREATE TABLE IF NOT EXISTS shared_seen (
           user_id BIGINT NOT NULL,
           audience VARCHAR(800) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
           seen BIGINT NOT NULL,
           PRIMARY KEY (user_id, audience)
         ) ENGINE=InnoDB)",
  };
}

std::vector<std::string> mysql_v5() {
  return {
      R"(CREATE TABLE IF NOT EXISTS changes (
           seq BIGINT NOT NULL PRIMARY KEY,
           at_ms BIGINT NOT NULL,
           type TINYINT NOT NULL,
           item_id BIGINT NOT NULL,
           reason TINYINT NOT NULL,
           user_id BIGINT NOT NULL,
           audience VARCHAR(800) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
           expired_item BIGINT NULL,
           UNIQUE KEY ux_changes_expired (expired_item),
           KEY ix_changes_scope (user_id, audience, seq),
           KEY ix_changes_at (at_ms)
         ) ENGINE=InnoDB)",
      R"(CREATE TABLE IF NOT EXISTS changes_horizon (
           id INTEGER NOT NULL PRIMARY KEY,
           purged_seq BIGINT NOT NULL
         ) ENGINE=InnoDB)",
      "INSERT IGNORE INTO changes_horizon (id, purged_seq) VALUES (1, 0)",
  };
}

// Version 6: receipts (a user's first delivery and read of an item, written only when that
// user acts), per-item stats counters (distinct users delivered, read, deleted), the webhook
// outbox (events written in the transaction that raises them, claimed by one node with a
// lease) and the webhook presence state (one row per user seen, for user.online/offline).
std::vector<std::string> sqlite_v6() {
  return {
      R"(CREATE TABLE IF NOT EXISTS receipts (
           user_id INTEGER NOT NULL,
           notification_id INTEGER NOT NULL
             REFERENCES notifications (id) ON DELETE CASCADE,
           delivered_at_ms INTEGER NULL,
           read_at_ms INTEGER NULL,
           PRIMARY KEY (user_id, notification_id)) WITHOUT ROWID)",
      "CREATE INDEX IF NOT EXISTS ix_receipts_item ON receipts (notification_id)",
      R"(CREATE TABLE IF NOT EXISTS notification_stats (
           notification_id INTEGER PRIMARY KEY
             REFERENCES notifications (id) ON DELETE CASCADE,
           delivered INTEGER NOT NULL DEFAULT 0,
           read_count INTEGER NOT NULL DEFAULT 0,
           deleted INTEGER NOT NULL DEFAULT 0))",
      R"(CREATE TABLE IF NOT EXISTS webhook_outbox (
           seq INTEGER PRIMARY KEY AUTOINCREMENT,
           event_id TEXT NOT NULL,
           body TEXT NOT NULL,
           created_at_ms INTEGER NOT NULL,
           next_attempt_ms INTEGER NOT NULL,
           attempts INTEGER NOT NULL DEFAULT 0,
           lease_owner TEXT NULL,
           lease_until_ms INTEGER NOT NULL DEFAULT 0))",
      "CREATE INDEX IF NOT EXISTS ix_webhook_outbox_due ON webhook_outbox (next_attempt_ms)",
      R"(CREATE TABLE IF NOT EXISTS webhook_presence (
           user_id INTEGER PRIMARY KEY,
           online INTEGER NOT NULL,
           last_open_ms INTEGER NOT NULL DEFAULT 0,
           last_close_ms INTEGER NOT NULL DEFAULT 0))",
  };
}

std::vector<std::string> mysql_v6() {
  return {
      R"(CREATE TABLE IF NOT EXISTS receipts (
           user_id BIGINT NOT NULL,
           notification_id BIGINT NOT NULL,
           delivered_at_ms BIGINT NULL,
           read_at_ms BIGINT NULL,
           PRIMARY KEY (user_id, notification_id),
           KEY ix_receipts_item (notification_id),
           CONSTRAINT fk_receipts_item FOREIGN KEY (notification_id)
             REFERENCES notifications (id) ON DELETE CASCADE
         ) ENGINE=InnoDB)",
      R"(CREATE TABLE IF NOT EXISTS notification_stats (
           notification_id BIGINT NOT NULL PRIMARY KEY,
           delivered BIGINT NOT NULL DEFAULT 0,
           read_count BIGINT NOT NULL DEFAULT 0,
           deleted BIGINT NOT NULL DEFAULT 0,
           CONSTRAINT fk_notification_stats_item FOREIGN KEY (notification_id)
             REFERENCES notifications (id) ON DELETE CASCADE
         ) ENGINE=InnoDB)",
      R"(CREATE TABLE IF NOT EXISTS webhook_outbox (
           seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
           event_id CHAR(32) CHARACTER SET ascii NOT NULL,
           body TEXT NOT NULL,
           created_at_ms BIGINT NOT NULL,
           next_attempt_ms BIGINT NOT NULL,
           attempts INT NOT NULL DEFAULT 0,
           lease_owner VARCHAR(255) NULL,
           lease_until_ms BIGINT NOT NULL DEFAULT 0,
           KEY ix_webhook_outbox_due (next_attempt_ms)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
      R"(CREATE TABLE IF NOT EXISTS webhook_presence (
           user_id BIGINT NOT NULL PRIMARY KEY,
           online TINYINT NOT NULL,
           last_open_ms BIGINT NOT NULL DEFAULT 0,
           last_close_ms BIGINT NOT NULL DEFAULT 0
         ) ENGINE=InnoDB)",
  };
}

}  // namespace

const sql_dialect& sqlite_dialect() {
  static const sql_dialect d{
      "sqlite",
      "",
      "notifications n INDEXED BY ix_notifications_shared",
      "notifications",
      "notifications g",
      "SELECT * FROM (",
      ")",
      " ON CONFLICT (user_id) DO UPDATE SET personal_unread = personal_unread + "
      "excluded.personal_unread",
      "INSERT INTO user_state (user_id, notification_id, is_read, deleted) VALUES (?, ?, 1, 0) "
      "ON CONFLICT (user_id, notification_id) DO UPDATE SET is_read = 1 WHERE is_read = 0 "
      "AND deleted = 0",
      "INSERT INTO user_state (user_id, notification_id, is_read, deleted) VALUES (?, ?, 0, 1) "
      "ON CONFLICT (user_id, notification_id) DO UPDATE SET deleted = 1 WHERE deleted = 0 "
      "AND is_read = 0",
      "DELETE FROM idempotency WHERE idem_key IN (SELECT idem_key FROM idempotency "
      "WHERE expires_at_ms <= ? LIMIT ?)",
      "notifications n INDEXED BY ix_notifications_audience",
      "notifications a INDEXED BY ix_notifications_live",
      "INSERT OR IGNORE INTO audience_pairs (pair, audience) VALUES ",
      "DELETE FROM batch_tokens WHERE token IN (SELECT token FROM batch_tokens "
      "WHERE created_at_ms <= ? LIMIT ?)",
      {sqlite_v1(), sqlite_v2(), sqlite_v3(), sqlite_v4(), sqlite_v5(), sqlite_v6()},
      "",
      " ON CONFLICT (audience) DO UPDATE SET live = live + excluded.live",
      " ON CONFLICT (user_id, audience) DO UPDATE SET seen = seen + excluded.seen",
  };
  return d;
}

const sql_dialect& mysql_dialect() {
  static const sql_dialect d{
      "mysql",
      " FOR UPDATE",
      "notifications n FORCE INDEX (ix_notifications_shared)",
      "notifications FORCE INDEX (ix_notifications_user)",
      "notifications g FORCE INDEX (ix_notifications_user_unread)",
      "(",
      ")",
      " ON DUPLICATE KEY UPDATE personal_unread = personal_unread + VALUES(personal_unread)",
      // 0 rows affected when the flag was already set (the client does not ask for found rows).
      "INSERT INTO user_state (user_id, notification_id, is_read, deleted) VALUES (?, ?, 1, 0) "
      "ON DUPLICATE KEY UPDATE is_read = IF(deleted = 0, 1, is_read)",
      "INSERT INTO user_state (user_id, notification_id, is_read, deleted) VALUES (?, ?, 0, 1) "
      "ON DUPLICATE KEY UPDATE deleted = IF(is_read = 0, 1, deleted)",
      "DELETE FROM idempotency WHERE expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?",
      "notifications n FORCE INDEX (ix_notifications_audience)",
      "notifications a FORCE INDEX (ix_notifications_live)",
      "INSERT IGNORE INTO audience_pairs (pair, audience) VALUES ",
      "DELETE FROM batch_tokens WHERE created_at_ms <= ? ORDER BY created_at_ms LIMIT ?",
      {mysql_v1(), mysql_v2(), mysql_v3(), mysql_v4(), mysql_v5(), mysql_v6()},
      " LOCK IN SHARE MODE",
      " ON DUPLICATE KEY UPDATE live = live + VALUES(live)",
      " ON DUPLICATE KEY UPDATE seen = seen + VALUES(seen)",
  };
  return d;
}

const std::vector<std::string>& schema_tables() {
  static const std::vector<std::string> t{
      "receipts",        "notification_stats", "webhook_outbox", "webhook_presence",
      "changes",         "changes_horizon",    "shared_seen",    "audience_live",
      "audience_pairs",  "batch_tokens",       "user_state",     "idempotency",
      "unread_counters", "id_sequence",        "notifications",  "herald_schema_version"};
  return t;
}

}  // namespace herald::persistence
