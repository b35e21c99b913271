//! The API over TCP: bearer tokens from the tokens file, anonymous callers, TLS, and the
//! CLI's `--url`, `--token-file` and `STEWARD_TOKEN`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use steward_proto::State;

use crate::harness::*;

/// A new token for `name` in `groups`: (token, its tokens-file line).
fn new_token(name: &str, groups: &str) -> (String, String) {
    let out = steward(&["token", "new", "--name", name, "--groups", groups, "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["token"].as_str().unwrap().to_string(),
        v["line"].as_str().unwrap().trim_end().to_string(),
    )
}

fn write_private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The address steward says it listens on for TCP.
fn tcp_address(d: &Daemon) -> String {
    poll(
        "the TCP listener",
        || {
            let log = d.log();
            let at = log.find("API listening on http")?;
            let rest = &log[at..];
            let url = rest.split_whitespace().nth(3)?;
            Some(url.split("://").nth(1)?.to_string())
        },
        || d.log(),
    )
}

/// A raw request over TCP: (status, body).
fn request(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: steward\r\n{auth}Connection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    split_answer(&text)
}

/// The CLI over TCP.
fn cli_url(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(steward_bin())
        .arg("--url")
        .arg(url)
        .args(args)
        .env_remove("STEWARD_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

const SERVICE: &str = r#"
[service.svc]
command = ["{fixture}"]
"#;

fn config(tokens: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[http]
listen = "127.0.0.1:0"
tokens_file = "{}"
{extra}
{SERVICE}"#,
        tokens.display()
    )
}

const ACL: &str = r#"acl = [
  "allow anonymous read",
  "deny anonymous control",
  "allow group:viewers read",
  "allow group:ops control",
  "allow uid:0 admin",
]"#;

#[test]
fn tokens_decide_who_a_tcp_caller_is() {
    let d = Daemon::prepare("");
    let tokens = d.path("tokens");
    let (viewer, viewer_line) = new_token("vera", "viewers");
    let (operator, operator_line) = new_token("otto", "ops");
    write_private(&tokens, &format!("{viewer_line}\n{operator_line}\n"));
    std::fs::write(&d.config, "").unwrap();
    d.write_config_control(ACL, &config(&tokens, ""));
    let d = d.spawn();
    let pid = d
        .wait_instance("svc", 0, "running", |i| i.state == State::Running)
        .pid
        .unwrap();
    let addr = tcp_address(&d);

    // No token: anonymous, which the ACL lets read but not control.
    assert_eq!(request(&addr, "GET", "/v1/services", None).0, 200);
    let (code, body) = request(&addr, "POST", "/v1/services/svc/stop", None);
    assert_eq!(code, 401, "{body}");
    assert!(
        body.contains("`control` right") && body.contains("Bearer"),
        "{body}"
    );
    // A caller without identity is never shown the ACL.
    assert!(!body.contains("deny anonymous"), "{body}");

    // An invalid token is refused, even for what anonymous could do.
    let (code, body) = request(&addr, "GET", "/v1/services", Some("stw_not-a-token"));
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("not valid"), "{body}");

    // A reader: reads, may not stop (403, naming the right).
    assert_eq!(request(&addr, "GET", "/v1/services", Some(&viewer)).0, 200);
    let (code, body) = request(&addr, "POST", "/v1/services/svc/stop", Some(&viewer));
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("token vera") && body.contains("lacks the `control` right"),
        "{body}"
    );
    assert_eq!(d.instance("svc", 0).pid, Some(pid));
    // Not admin either.
    assert_eq!(request(&addr, "GET", "/v1/config", Some(&operator)).0, 403);

    // The CLI over TCP: the token from the environment, then from a file.
    let url = format!("http://{addr}");
    let out = cli_url(&url, &["stop", "svc"], &[("STEWARD_TOKEN", &viewer)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lacks the `control` right"));
    let token_file = d.path("otto.token");
    write_private(&token_file, &format!("{operator}\n"));
    let out = cli_url(
        &url,
        &["--token-file", token_file.to_str().unwrap(), "stop", "svc"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.wait_instance("svc", 0, "stopped", |i| i.state == State::Stopped);
    wait_gone(&[pid], "the stopped service");

    // The audit trail names the tokens and where they came from.
    let events = d.ok(&["events", "--json"]);
    assert!(
        events.lines().any(|l| l.contains("\"kind\":\"access\"")
            && l.contains("token vera from 127.0.0.1:")
            && l.contains("\"status\":403")),
        "{events}"
    );
    assert!(
        events.lines().any(|l| l.contains("\"kind\":\"access\"")
            && l.contains("a caller from 127.0.0.1:")
            && l.contains("\"status\":401")),
        "{events}"
    );
    assert!(
        events.lines().any(|l| l.contains("\"kind\":\"control\"") && l.contains("token otto from 127.0.0.1:")),
        "{events}"
    );
}

#[test]
fn a_new_token_works_once_written_without_a_reload() {
    let d = Daemon::prepare("");
    let tokens = d.path("tokens");
    let (first, first_line) = new_token("first", "viewers");
    write_private(&tokens, &format!("{first_line}\n"));
    d.write_config_control(ACL, &config(&tokens, ""));
    let d = d.spawn();
    let addr = tcp_address(&d);
    let (second, second_line) = new_token("second", "ops");
    assert_eq!(request(&addr, "GET", "/v1/tasks", Some(&second)).0, 401);
    // Appended in place, as `>>` does.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&tokens)
        .unwrap();
    writeln!(f, "{second_line}").unwrap();
    drop(f);
    poll(
        "the new token accepted",
        || (request(&addr, "GET", "/v1/tasks", Some(&second)).0 == 200).then_some(()),
        || d.log(),
    );
    assert_eq!(request(&addr, "GET", "/v1/tasks", Some(&first)).0, 200);
    // A broken rewrite keeps the tokens read before.
    std::fs::write(&tokens, "garbage line\n").unwrap();
    poll(
        "the refusal logged",
        || {
            d.log()
                .contains("the tokens read before stay valid")
                .then_some(())
        },
        || d.log(),
    );
    assert_eq!(request(&addr, "GET", "/v1/tasks", Some(&second)).0, 200);
}

#[test]
fn a_tokens_file_open_to_others_is_refused_at_its_line_and_column() {
    let d = Daemon::prepare("");
    let tokens = d.path("tokens");
    let (_, line) = new_token("t", "-");
    std::fs::write(&tokens, format!("{line}\n")).unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
    d.write_config_control("", &config(&tokens, ""));
    let out = d.cli(&["check", "-c", d.config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("open to other users (mode 0644)") && err.contains("chmod 600"),
        "{err}"
    );
    // The caret is under the tokens_file value: line and column of the config.
    let line_no = std::fs::read_to_string(&d.config)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("tokens_file"))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("steward.toml:{line_no}:15")), "{err}");
    // And `up` refuses to start on it.
    let out = Command::new(steward_bin())
        .args(["up", "-c", d.config.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

#[test]
fn https_with_a_certificate_and_a_token() {
    let d = Daemon::prepare("");
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(d.path("cert.pem"), cert.cert.pem()).unwrap();
    write_private(&d.path("key.pem"), &cert.signing_key.serialize_pem());
    let tokens = d.path("tokens");
    let (operator, line) = new_token("otto", "ops");
    write_private(&tokens, &format!("{line}\n"));
    let tls = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        d.path("cert.pem").display(),
        d.path("key.pem").display()
    );
    d.write_config_control(ACL, &config(&tokens, &tls));
    let d = d.spawn();
    let addr = poll(
        "the TLS listener",
        || {
            let log = d.log();
            let at = log.find("API listening on https://")?;
            let url = log[at..].split_whitespace().nth(3)?;
            Some(url.trim_start_matches("https://").to_string())
        },
        || d.log(),
    );
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let ca = d.path("cert.pem");
    let out = cli_url(
        &url,
        &["--ca-file", ca.to_str().unwrap(), "status", "--json"],
        &[("STEWARD_TOKEN", &operator)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"svc\""));
    // Without trusting the certificate, the CLI refuses the server.
    let out = cli_url(&url, &["status"], &[("STEWARD_TOKEN", &operator)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TLS") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    // Plain HTTP to the TLS port gets nothing served.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let _ = s.write_all(b"GET /v1/services HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    assert!(!buf.contains("\"svc\""), "{buf}");
}

#[test]
fn an_open_event_stream_ends_when_its_token_is_deleted() {
    let d = Daemon::prepare("");
    let tokens = d.path("tokens");
    let (viewer, viewer_line) = new_token("vera", "viewers");
    let (_, other_line) = new_token("otto", "ops");
    write_private(&tokens, &format!("{viewer_line}\n{other_line}\n"));
    d.write_config_control(ACL, &config(&tokens, ""));
    let d = d.spawn();
    let addr = tcp_address(&d);
    // A raw stream, so the test sees exactly when the daemon ends it.
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /v1/events HTTP/1.1\r\nHost: steward\r\nAuthorization: Bearer {viewer}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "the stream was not opened");
    // vera's line goes; the stream must end without anything else happening.
    write_private(&tokens, &format!("{other_line}\n"));
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the stream ends before the deadline");
    let events = d.ok(&["events", "--json"]);
    assert!(
        events.lines().any(|l| l.contains("\"kind\":\"access\"")
            && l.contains("token vera from")
            && l.contains("stream ended: its token is no longer in the tokens file")),
        "{events}"
    );
}

#[test]
fn a_reload_adds_moves_and_removes_the_tcp_listener() {
    let d = Daemon::prepare("");
    let acl = r#"acl = ["allow anonymous read", "allow uid:0 admin"]"#;
    d.write_config_control(acl, SERVICE);
    let d = d.spawn();
    d.wait_instance("svc", 0, "running", |i| i.state == State::Running);
    let pid = d.instance("svc", 0).pid;
    assert!(!d.log().contains("API listening on http"));

    // Added: served at once.
    d.write_config_control(acl, &format!("[http]\nlisten = \"127.0.0.1:0\"\n{SERVICE}"));
    let report = d.ok(&["reload"]);
    assert!(!report.contains("when steward restarts"), "{report}");
    let first = tcp_address(&d);
    assert_eq!(request(&first, "GET", "/v1/services", None).0, 200);

    // TLS added on the same address: the same port, now https.
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(d.path("cert.pem"), cert.cert.pem()).unwrap();
    write_private(&d.path("key.pem"), &cert.signing_key.serialize_pem());
    let port: u16 = first.rsplit(':').next().unwrap().parse().unwrap();
    let http = format!(
        "[http]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        d.path("cert.pem").display(),
        d.path("key.pem").display()
    );
    d.write_config_control(acl, &format!("{http}{SERVICE}"));
    d.ok(&["reload"]);
    let url = format!("https://127.0.0.1:{port}");
    let ca = d.path("cert.pem");
    let out = poll(
        "https on the same port",
        || {
            let out = cli_url(&url, &["--ca-file", ca.to_str().unwrap(), "status"], &[]);
            out.status.success().then_some(out)
        },
        || d.log(),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("svc"));

    // Removed: nobody listens there any more.
    d.write_config_control(acl, SERVICE);
    d.ok(&["reload"]);
    poll(
        "the listener gone",
        || {
            TcpStream::connect(format!("127.0.0.1:{port}"))
                .is_err()
                .then_some(())
        },
        || d.log(),
    );
    // None of it touched the service.
    assert_eq!(d.instance("svc", 0).pid, pid);
}
