//! The journal's SQLite file: one table of events, indexed by id, service and time.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use super::{Filter, Record, Shared};

pub struct Store {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id       INTEGER PRIMARY KEY,
    at_ms    INTEGER NOT NULL,
    service  TEXT,
    instance INTEGER,
    kind     TEXT NOT NULL,
    json     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_service ON events (service, id);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at_ms);
";

/// The file is not a database, or a damaged one: worth moving aside and starting anew.
pub fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

impl Store {
    pub fn open(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A lock held by someone else (a reader's long query, `sqlite3` at a prompt) costs
        // the journal thread at most this long per attempt, and the services nothing.
        conn.busy_timeout(std::time::Duration::from_millis(200))?;
        // No memory-mapped file of any kind (no WAL, whose index is a shared mapping, and no
        // mmap I/O): a mapped file that becomes unwritable (immutable, a full disk, a
        // truncation by someone else) kills the whole process with SIGBUS, and the journal
        // must never take steward down. A rollback journal reports the same problems as
        // errors. A small page cache keeps RSS low.
        conn.pragma_update(None, "mmap_size", 0)?;
        conn.pragma_update(None, "journal_mode", "TRUNCATE")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -512)?;
        conn.execute_batch(SCHEMA)?;
        // Reading the newest id touches the file: a damaged one fails here, not later.
        let store = Store { conn };
        store.newest_id()?;
        Ok(store)
    }

    pub fn newest_id(&self) -> rusqlite::Result<Option<u64>> {
        self.conn
            .query_row("SELECT max(id) FROM events", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|id| id.map(|i| i as u64))
    }

    pub fn insert<'a>(
        &mut self,
        records: impl Iterator<Item = &'a Shared>,
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO events (id, at_ms, service, instance, kind, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for r in records {
                stmt.execute(params![
                    r.id as i64,
                    r.at_ms,
                    r.service.as_deref(),
                    r.instance,
                    r.kind,
                    &*r.json
                ])?;
            }
        }
        tx.commit()
    }

    /// Removes events older than `oldest_ms`, and all but the newest `keep`.
    pub fn prune(&mut self, oldest_ms: i64, keep: u64) -> rusqlite::Result<usize> {
        let by_age = self
            .conn
            .execute("DELETE FROM events WHERE at_ms < ?1", [oldest_ms])?;
        let by_count = self.conn.execute(
            "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [keep.min(i64::MAX as u64) as i64],
        )?;
        Ok(by_age + by_count)
    }

    /// At most `limit` events matching `filter`, in id order.
    pub fn query(&self, filter: &Filter, limit: usize) -> rusqlite::Result<Vec<Shared>> {
        let mut sql = String::from(
            "SELECT id, at_ms, service, instance, kind, json FROM events WHERE id > ?1 AND at_ms >= ?2",
        );
        if filter.service.is_some() {
            sql.push_str(" AND service = ?3");
        }
        if filter.instance.is_some() {
            sql.push_str(" AND instance = ?4");
        }
        let limit = filter.tail.map_or(limit, |t| t.min(limit));
        // The newest `tail` are found from the end, then put back in order.
        if filter.tail.is_some() {
            sql.push_str(" ORDER BY id DESC LIMIT ?5");
        } else {
            sql.push_str(" ORDER BY id ASC LIMIT ?5");
        }
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let after = filter.after.map_or(0, |a| a.min(i64::MAX as u64) as i64);
        let since = filter.since_ms.unwrap_or(i64::MIN);
        let rows = stmt.query_map(
            params![
                after,
                since,
                filter.service.as_deref(),
                filter.instance,
                limit as i64
            ],
            row_to_record,
        );
        let mut out = rows?.collect::<rusqlite::Result<Vec<_>>>()?;
        if filter.tail.is_some() {
            out.reverse();
        }
        Ok(out)
    }

    /// How many events, and the oldest and newest ids.
    pub fn counts(&self) -> rusqlite::Result<(u64, Option<u64>, Option<u64>)> {
        self.conn
            .query_row("SELECT count(*), min(id), max(id) FROM events", [], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, Option<i64>>(1)?.map(|i| i as u64),
                    r.get::<_, Option<i64>>(2)?.map(|i| i as u64),
                ))
            })
    }
}

fn row_to_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<Shared> {
    let kind: String = row.get(4)?;
    Ok(Arc::new(Record {
        id: row.get::<_, i64>(0)? as u64,
        at_ms: row.get(1)?,
        service: row.get::<_, Option<String>>(2)?.map(String::into_boxed_str),
        instance: row.get(3)?,
        kind: intern(&kind),
        json: row.get::<_, String>(5)?.into_boxed_str(),
    }))
}

/// The kinds are a closed set; anything else (a newer steward's file) reads as "other".
fn intern(kind: &str) -> &'static str {
    steward_proto::EventBody::KINDS
        .into_iter()
        .find(|k| *k == kind)
        .unwrap_or("other")
}
