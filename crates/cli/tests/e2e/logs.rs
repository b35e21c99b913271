//! Captured output: every byte in the files, rotation, `steward logs` (last lines, since,
//! follow), stderr merged or apart, `up --echo-logs`, reloads, and capture turned off.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use steward_proto::{ConfigStatus, State};

use crate::harness::*;

/// Bytes `from..to` of the fixture's flood pattern: lines of the line number as 15 digits
/// and a newline.
fn pattern(from: u64, to: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity((to - from) as usize);
    let mut line = from / 16;
    let mut skip = (from % 16) as usize;
    while (out.len() as u64) < to - from {
        let text = format!("{line:015}\n");
        let want = ((to - from) as usize - out.len()).min(16 - skip);
        out.extend_from_slice(&text.as_bytes()[skip..skip + want]);
        skip = 0;
        line += 1;
    }
    out
}

/// Checks that `path` holds exactly bytes `from..from + len` of the pattern, a chunk at a
/// time (100 MB need not sit in memory twice).
fn assert_pattern_file(path: &Path, from: u64, len: u64) {
    let mut f = std::fs::File::open(path).unwrap();
    assert_eq!(f.metadata().unwrap().len(), len, "{}", path.display());
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let n = f.read(&mut buf).unwrap();
        assert!(n > 0, "{} ended at {at}", path.display());
        if buf[..n] != pattern(from + at, from + at + n as u64)[..] {
            let i = (0..n)
                .find(|&i| buf[i] != pattern(from + at + i as u64, from + at + i as u64 + 1)[0])
                .unwrap();
            panic!("{} differs at byte {}", path.display(), at + i as u64);
        }
        at += n as u64;
    }
}

fn log_file(d: &Daemon, service: &str, name: &str) -> std::path::PathBuf {
    d.path(&format!("state/logs/{service}/{name}"))
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn config_status(d: &Daemon) -> ConfigStatus {
    serde_json::from_str(&d.ok(&["config", "--json"])).unwrap()
}

#[test]
fn a_100_mb_flood_is_captured_byte_exact_while_a_crash_loop_keeps_restarting() {
    const TOTAL: u64 = 100_000_000;
    let d = Daemon::start(&format!(
        r#"
[service.flood]
command = ["{{fixture}}", "--record", "{{dir}}/flood.rec", "--flood", "{TOTAL}"]
log = {{ max_size = "1GiB" }}

[service.crashy]
command = ["{{fixture}}", "--record", "{{dir}}/crashy.rec", "--exit-after", "0ms", "--exit-code", "1"]
restart = "always"
backoff = {{ max = "0s" }}
"#
    ));
    let file = log_file(&d, "flood", "0.log");
    poll(
        "the flood to be captured",
        || (size(&file) >= TOTAL).then_some(()),
        || format!("{} bytes so far\n{}", size(&file), d.log()),
    );
    assert_pattern_file(&file, 0, TOTAL);
    // The crash loop's starts (their own clock) between the flooder's start and the last
    // write of its log: it kept restarting all along.
    let from = record(&d.path("flood.rec")).starts[0].1;
    let to = std::fs::metadata(&file)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let starts = record(&d.path("crashy.rec")).starts;
    let during: Vec<u128> = starts
        .iter()
        .map(|s| s.1)
        .filter(|t| (from..=to).contains(t))
        .collect();
    assert!(
        during.len() >= 3,
        "crashy started {} times during the {} ms flood ({} in all)",
        during.len(),
        (to - from) / 1_000_000,
        starts.len()
    );
    // And it still does, with the flooder now idle.
    let before = d.instance("crashy", 0).restarts;
    d.wait_instance("crashy", 0, "more restarts", |i| i.restarts > before + 2);
}

#[test]
fn rotation_keeps_exactly_keep_files_and_every_byte_in_them() {
    let d = Daemon::start(
        r#"
[service.fits]
command = ["{fixture}", "--flood", "13288"]
log = { max_size = "4KiB", keep = 3 }

[service.over]
command = ["{fixture}", "--flood", "41060"]
log = { max_size = "4KiB", keep = 3 }
"#,
    );
    for (service, total) in [("fits", 13288u64), ("over", 41060)] {
        let current = log_file(&d, service, "0.log");
        let last = total % 4096;
        poll(
            "the flood in its files",
            || {
                (size(&current) == last && size(&current.with_extension("log.3")) == 4096)
                    .then_some(())
            },
            || d.log(),
        );
        let mut names: Vec<String> = std::fs::read_dir(d.path(&format!("state/logs/{service}")))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["0.log", "0.log.1", "0.log.2", "0.log.3"],
            "{service}"
        );
        // Oldest first, the files hold the last 3 x 4096 + `last` bytes, cut at 4096.
        let kept = 3 * 4096 + last;
        for (n, name) in ["0.log.3", "0.log.2", "0.log.1"].iter().enumerate() {
            let from = total - kept + n as u64 * 4096;
            assert_pattern_file(&log_file(&d, service, name), from, 4096);
        }
        assert_pattern_file(&current, total - last, last);
    }
}

#[test]
fn logs_follow_goes_on_across_rotations() {
    let d = Daemon::start(
        r#"
[service.f]
command = ["sh", "-c", "echo first; while [ ! -e {dir}/go ]; do sleep 0.02; done; exec {fixture} --flood 40000"]
log = { max_size = "4KiB", keep = 20 }
"#,
    );
    let mut child = Command::new(steward_bin())
        .args(["--socket", d.socket.to_str().unwrap(), "logs", "f", "-f"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let mut take = |want: usize, what: &str| {
        poll(
            what,
            || {
                while let Ok(chunk) = rx.try_recv() {
                    got.extend(chunk);
                }
                (got.len() >= want).then_some(())
            },
            || d.log(),
        );
    };
    // The follower is reading: everything from here on comes through it.
    take(6, "the first line");
    std::fs::write(d.path("go"), "").unwrap();
    take(6 + 40000, "the flood, followed");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(&got[..6], b"first\n");
    assert_eq!(got.len(), 6 + 40000);
    assert!(
        got[6..] == pattern(0, 40000)[..],
        "the followed bytes differ"
    );
    assert!(
        log_file(&d, "f", "0.log.9").exists(),
        "the flood was rotated about 10 times"
    );
}

#[test]
fn last_lines_and_since() {
    let d = Daemon::start(
        r#"
[service.t]
command = ["sh", "-c", "echo one; echo two; sleep 0.3; echo three; exec sleep 100"]
log = { timestamps = true }

[service.plain]
command = ["{fixture}", "--print", "a", "--print", "b", "--print", "c"]
"#,
    );
    let file = log_file(&d, "t", "0.log");
    poll(
        "three lines",
        || (read(&file).lines().count() == 3).then_some(()),
        || d.log(),
    );
    let text = read(&file);
    let stamps: Vec<&str> = text.lines().map(|l| &l[..24]).collect();
    for (line, word) in text.lines().zip(["one", "two", "three"]) {
        assert_eq!(&line[24..], &format!(" {word}"));
        assert!(is_stamp(&line[..24]), "{line}");
    }
    assert_eq!(
        d.ok(&["logs", "t", "-n", "2"]),
        text.lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    assert_eq!(d.ok(&["logs", "t", "-n", "all"]), text);
    assert_eq!(d.ok(&["logs", "t", "--since", "1h"]), text);
    // The third line was written at least 300 ms after the second.
    let third = d.ok(&["logs", "t", "--since", stamps[2]]);
    assert_eq!(third, format!("{}\n", text.lines().nth(2).unwrap()));
    assert_eq!(d.ok(&["logs", "t", "--since", "2099-01-01T00:00:00Z"]), "");
    poll(
        "plain's lines",
        || (d.ok(&["logs", "plain"]) == "a\nb\nc\n").then_some(()),
        || d.log(),
    );
    assert_eq!(d.ok(&["logs", "plain", "-n", "1"]), "c\n");

    // Problems are named.
    let out = d.cli(&["logs", "plain", "--since", "10m"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`log.timestamps = false`"));
    for (path, code, says) in [
        ("/v1/services/t/logs?lines=lots", 400, "`lines` must be"),
        (
            "/v1/services/t/logs?since=yesterday",
            400,
            "`since` must be",
        ),
        (
            "/v1/services/t/logs?stream=err",
            400,
            "`stream` cannot be \\\"err\\\"",
        ),
        ("/v1/services/t/logs?instance=3", 404, "has no instance 3"),
        ("/v1/services/nope/logs", 404, "no service named nope"),
    ] {
        let (got, body) = d.http("GET", path);
        assert_eq!(got, code, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
}

/// `2026-05-20T10:11:12.345Z`: RFC 3339, UTC, milliseconds.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    b.len() == 24
        && digits.iter().all(|&i| b[i].is_ascii_digit())
        && (b[4], b[7], b[10], b[13], b[16], b[19], b[23])
            == (b'-', b'-', b'T', b':', b':', b'.', b'Z')
}

#[test]
fn stderr_merged_keeps_the_order_and_separate_has_its_own_file() {
    let cmd =
        r#"["{fixture}", "--print", "o1", "--eprint", "e1", "--print", "o2", "--eprint", "e2"]"#;
    let d = Daemon::start(&format!(
        "[service.m]\ncommand = {cmd}\n\n[service.s]\ncommand = {cmd}\nlog = {{ stderr = \"separate\" }}\n"
    ));
    let (m, s_out, s_err) = (
        log_file(&d, "m", "0.log"),
        log_file(&d, "s", "0.log"),
        log_file(&d, "s", "0.err.log"),
    );
    poll(
        "the output",
        || (size(&m) == 12 && size(&s_out) == 6 && size(&s_err) == 6).then_some(()),
        || d.log(),
    );
    assert_eq!(read(&m), "o1\ne1\no2\ne2\n");
    assert_eq!(
        (read(&s_out).as_str(), read(&s_err).as_str()),
        ("o1\no2\n", "e1\ne2\n")
    );
    assert_eq!(d.ok(&["logs", "s", "--stderr"]), "e1\ne2\n");
    assert_eq!(d.ok(&["logs", "s"]), "o1\no2\n");
    let out = d.cli(&["logs", "m", "--stderr"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("merges stderr"));
}

#[test]
fn echo_logs_prefixes_every_line_with_its_instance() {
    let d = Daemon::prepare(
        r#"
[service.e]
command = ["{fixture}", "--print", "hello", "--eprint", "oops"]
instances = 2
"#,
    )
    .spawn_up(&["--echo-logs"]);
    poll(
        "the echoed lines",
        || {
            let log = d.log();
            ["e:0 | hello", "e:1 | hello", "e:0 | oops", "e:1 | oops"]
                .iter()
                .all(|l| log.lines().any(|x| x == *l))
                .then_some(())
        },
        || d.log(),
    );
    // Echoed and captured: the files have them too, unprefixed.
    assert_eq!(read(&log_file(&d, "e", "1.log")), "hello\noops\n");
    // Several instances: `steward logs` prefixes each line the same way.
    let all = d.ok(&["logs", "e"]);
    assert_eq!(all, "e:0 | hello\ne:0 | oops\ne:1 | hello\ne:1 | oops\n");
}

#[test]
fn a_reload_changes_max_size_in_place_and_removal_keeps_the_files() {
    let service = r#"
[service.r]
command = ["sh", "-c", "echo start; while [ ! -e {dir}/go ]; do sleep 0.02; done; exec {fixture} --flood 20000"]
"#;
    let d = Daemon::start(service);
    let current = log_file(&d, "r", "0.log");
    poll(
        "start",
        || (read(&current) == "start\n").then_some(()),
        || d.log(),
    );
    let pid = d
        .wait_instance("r", 0, "running", |i| i.state == State::Running)
        .pid;
    d.write_config(&format!("{service}log = {{ max_size = \"4KiB\" }}\n"));
    d.ok(&["reload"]);
    let last = config_status(&d).last_reload.unwrap();
    assert!(
        last.summary == ["updated r (log.max_size): update 0"] || last.outcome == "unchanged",
        "{last:?}"
    );
    std::fs::write(d.path("go"), "").unwrap();
    // 20,006 bytes at 4 KiB a file: four full rotated files (the default keep is 5).
    poll(
        "the rotations",
        || (size(&current) == 20006 % 4096 && log_file(&d, "r", "0.log.4").exists()).then_some(()),
        || d.log(),
    );
    assert!(!log_file(&d, "r", "0.log.5").exists());
    assert_eq!(size(&log_file(&d, "r", "0.log.1")), 4096);
    assert_eq!(d.instance("r", 0).pid, pid, "not restarted by the reload");

    // Removed by a reload: the files stay.
    d.write_config("");
    d.ok(&["reload"]);
    d.wait_for("r removed", |all| all.is_empty().then_some(()));
    assert_eq!(size(&current), 20006 % 4096);
    assert!(log_file(&d, "r", "0.log.4").exists());
}

#[test]
fn capture_off_leaves_steward_s_own_stdout() {
    let d = Daemon::start(
        r#"
[service.c]
command = ["{fixture}", "--print", "inherited-hello"]
log = { capture = false }
"#,
    );
    poll(
        "the line in steward's own output",
        || d.log().contains("inherited-hello").then_some(()),
        || d.log(),
    );
    assert!(!d.path("state/logs/c").exists());
    let out = d.cli(&["logs", "c"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not captured"), "{err}");
}
