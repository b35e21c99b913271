//! `[service.NAME.log]`: capture, stderr, max_size, keep, timestamps.

use super::*;
use crate::config::{LogSpec, StderrMode};

const BASE: &str = "[service.a]\ncommand = [\"a\"]\n";

fn log_of(lines: &str) -> LogSpec {
    service(&format!("{BASE}{lines}\n")).log
}

#[test]
fn defaults_capture_merged_with_rotation() {
    let l = log_of("");
    assert!(l.capture);
    assert_eq!(l.stderr, StderrMode::Merge);
    assert_eq!(l.max_size, 10 << 20);
    assert_eq!(l.keep, 5);
    assert!(!l.timestamps);
}

#[test]
fn table_and_inline_forms() {
    let l = log_of(
        "[service.a.log]\ncapture = true\nstderr = \"separate\"\nmax_size = \"1MiB\"\nkeep = 2\ntimestamps = true",
    );
    assert_eq!(
        l,
        LogSpec {
            capture: true,
            stderr: StderrMode::Separate,
            max_size: 1 << 20,
            keep: 2,
            timestamps: true,
        }
    );
    assert!(!log_of("log = { capture = false }").capture);
    assert_eq!(log_of("log = { max_size = 8192 }").max_size, 8192);
    assert_eq!(log_of("log = { max_size = \"64KB\" }").max_size, 64_000);
}

#[test]
fn every_problem_at_once_with_its_place() {
    let src = format!(
        "{BASE}log = {{ capture = \"yes\", stderr = \"merged\", max_size = \"10 MeB\", keep = 0, timestamp = true }}\n"
    );
    let ps = problems(&src);
    let got: Vec<(usize, usize, &str)> = ps.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (
                3,
                19,
                "`log.capture` must be a boolean (`true` or `false`), found a string"
            ),
            (
                3,
                35,
                "`log.stderr` must be \"merge\" or \"separate\", found \"merged\""
            ),
            (
                3,
                60,
                "invalid size for `log.max_size`: unknown unit `MeB`; use one of B, KB, KiB, MB, \
                 MiB, GB, GiB, TB, TiB (K, M, G and T are KiB, MiB, GiB and TiB)"
            ),
            (3, 73, "`log.keep` must be between 1 and 1000, found 0"),
            (3, 76, "unknown key `timestamp` in `log`"),
        ]
    );
    assert_eq!(ps[1].3.as_deref(), Some("did you mean \"merge\"?"));
    assert_eq!(ps[4].3.as_deref(), Some("did you mean `timestamps`?"));
}

#[test]
fn max_size_has_a_floor_and_no_sign() {
    let (line, col, msg, _) = problem(&format!("{BASE}log = {{ max_size = \"1KiB\" }}\n"));
    assert_eq!((line, col), (3, 20));
    assert_eq!(msg, "`log.max_size` must be at least 4KiB, found 1KiB");
    let (_, _, msg, _) = problem(&format!("{BASE}log = {{ max_size = -5 }}\n"));
    assert_eq!(msg, "`log.max_size` cannot be negative");
    let (_, _, msg, help) = problem(&format!("{BASE}log = true\n"));
    assert_eq!(msg, "`log` must be a table, found a boolean");
    assert_eq!(help.as_deref(), Some("write `log = { capture = true }`"));
}
