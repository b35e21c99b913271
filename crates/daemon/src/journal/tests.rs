//! The journal against real SQLite files in a temp dir.

use std::sync::Arc;
use std::time::Duration;

use steward_core::config::JournalSpec;
use tokio::sync::mpsc;

use super::{Filter, Health, Journal, Record};

fn record(id: u64, service: &str) -> Arc<Record> {
    Arc::new(Record {
        id,
        at_ms: super::now_ms(),
        service: Some(service.into()),
        instance: Some(0),
        kind: "state",
        json: format!("{{\"id\":{id}}}").into_boxed_str(),
    })
}

fn start(path: &std::path::Path) -> (Journal, u64, mpsc::UnboundedReceiver<Health>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (j, first) = Journal::start(path.to_path_buf(), JournalSpec::default(), tx);
    (j, first, rx)
}

fn ids(found: &super::Found) -> Vec<u64> {
    found.events.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn events_survive_a_restart_and_ids_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let (j, first, _rx) = start(&path);
    assert_eq!(first, 1);
    for id in 1..=5 {
        j.record(record(id, "web"));
    }
    assert_eq!(ids(&j.query(Filter::default()).await), [1, 2, 3, 4, 5]);
    drop(j);
    // The thread ends when the last handle goes; a new one reads the same file.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (j, first) = loop {
        let (j, first, _rx) = start(&path);
        if first == 6 || std::time::Instant::now() > deadline {
            break (j, first);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        first, 6,
        "the next id continues after the newest in the file"
    );
    assert_eq!(ids(&j.query(Filter::default()).await), [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn queries_filter_by_id_service_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _, _rx) = start(&dir.path().join("journal.db"));
    for id in 1..=10 {
        j.record(record(id, if id % 2 == 0 { "web" } else { "db" }));
    }
    let after = |a| Filter {
        after: Some(a),
        ..Filter::default()
    };
    assert_eq!(ids(&j.query(after(7)).await), [8, 9, 10]);
    let web = Filter {
        service: Some("web".into()),
        ..Filter::default()
    };
    assert_eq!(ids(&j.query(web.clone()).await), [2, 4, 6, 8, 10]);
    let tail = Filter {
        tail: Some(2),
        ..web
    };
    assert_eq!(ids(&j.query(tail).await), [8, 10]);
}

#[tokio::test]
async fn retention_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _, _rx) = start(&dir.path().join("journal.db"));
    j.set_retention(JournalSpec {
        max_age: Duration::from_secs(3600),
        max_events: 100,
    });
    for id in 1..=1000 {
        j.record(record(id, "web"));
    }
    let status = j.status().await.unwrap();
    assert!(status.ok, "{status:?}");
    // Pruning runs every tenth of the limit: at most that many over it.
    assert!(status.events <= 110, "{status:?}");
    assert_eq!(status.newest_id, Some(1000));
    assert!(status.oldest_id.unwrap() > 880, "{status:?}");
}

#[tokio::test]
async fn a_corrupt_file_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let (j, first, mut rx) = start(&path);
    assert_eq!(first, 1);
    let health = rx.recv().await.unwrap();
    assert!(health.ok);
    assert!(
        health.problem.as_deref().unwrap().contains("moved it to"),
        "{health:?}"
    );
    j.record(record(1, "web"));
    assert_eq!(ids(&j.query(Filter::default()).await), [1]);
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .count();
    assert_eq!(aside, 1);
}

#[tokio::test]
async fn a_locked_file_is_reported_and_written_once_free() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let (j, _, mut rx) = start(&path);
    j.record(record(1, "web"));
    assert_eq!(ids(&j.query(Filter::default()).await), [1]);

    // Someone else holds the write lock.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    j.record(record(2, "web"));
    let health = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the problem is reported")
        .unwrap();
    assert!(!health.ok);
    assert!(health.problem.unwrap().contains("locked"));
    // Meanwhile readers still get every event: the file's and those waiting in memory.
    assert_eq!(ids(&j.query(Filter::default()).await), [1, 2]);

    other.execute_batch("COMMIT").unwrap();
    drop(other);
    let health = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the recovery is reported")
        .unwrap();
    assert!(health.ok && health.problem.is_none(), "{health:?}");
    let found = j.query(Filter::default()).await;
    assert_eq!(ids(&found), [1, 2]);
    assert!(found.gap.is_none());
}
