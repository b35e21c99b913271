//! `[control]`, `[http]` and services' `acl`: values and every error at its position.

use super::tests::support::*;
use super::*;
use crate::acl::{Caller, Decision, Policy, Right};

#[test]
fn control_keys_are_read() {
    let c = ok(r#"
[control]
socket = "/run/s.sock"
socket_group = "ops"
socket_mode = "0660"
acl = [
  "deny group:guests all",
  "allow authenticated read",
  "allow group:ops control",
]
"#);
    assert_eq!(c.control.socket_group.as_deref(), Some("ops"));
    assert_eq!(c.control.socket_mode, 0o660);
    let acl = c.control.acl.unwrap();
    let texts: Vec<String> = acl.entries.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        texts,
        [
            "deny group:guests read,control,admin,write",
            "allow authenticated read",
            "allow group:ops control"
        ]
    );
}

#[test]
fn no_control_table_means_mode_0600_and_the_default_acl() {
    let c = ok("");
    assert_eq!(c.control.socket_mode, 0o600);
    assert_eq!(c.control.acl, None);
    let policy = Policy::new(&c, 1000);
    let user = |uid| Caller {
        uid: Some(uid),
        ..Caller::default()
    };
    assert_eq!(
        policy.check(&user(0), Right::Admin, None),
        Decision::Allowed
    );
    assert_eq!(
        policy.check(&user(1000), Right::Admin, None),
        Decision::Allowed
    );
    assert_eq!(
        policy.check(&user(1001), Right::Read, None),
        Decision::NotGranted
    );
    assert_eq!(
        policy.check(&Caller::anonymous(), Right::Read, None),
        Decision::NotGranted
    );
}

#[test]
fn an_acl_error_points_at_the_word() {
    let (line, col, msg, help) = problem(
        r#"[control]
acl = ["allow authenticated read", "allow grup:ops control"]
"#,
    );
    assert_eq!((line, col), (2, 43));
    assert_eq!(msg, "unknown principal kind `grup:`");
    assert!(help.unwrap().contains("group:NAME"));
    let (line, col, msg, _) = problem("[control]\nacl = [\"allow group:ops cntrol\"]\n");
    assert_eq!((line, col, msg.as_str()), (2, 25, "unknown right `cntrol`"));
}

#[test]
fn every_bad_entry_is_reported() {
    let ps = problems(
        r#"[control]
acl = ["permit everyone read", "allow uid:x read", 7]
"#,
    );
    let at: Vec<(usize, usize)> = ps.iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(at, [(2, 9), (2, 39), (2, 52)], "{ps:#?}");
    assert!(ps[2].2.contains("`acl[2]` must be a string"), "{ps:#?}");
}

#[test]
fn bad_socket_modes() {
    let cases = [
        ("\"rw\"", "must be 3 or 4 octal digits"),
        ("\"0660x\"", "must be 3 or 4 octal digits"),
        ("\"4660\"", "beyond the permissions"),
        ("\"0060\"", "does not let steward's own user"),
        ("\"0770\"", "execute bits"),
        ("660", "must be a string"),
    ];
    for (value, expected) in cases {
        let (line, col, msg, _) = problem(&format!("[control]\nsocket_mode = {value}\n"));
        assert_eq!((line, col), (2, 15), "{value}");
        assert!(msg.contains(expected), "{value}: {msg}");
    }
    assert_eq!(
        ok("[control]\nsocket_mode = \"600\"\n").control.socket_mode,
        0o600
    );
}

#[test]
fn a_service_acl_is_about_control() {
    let s = service(
        r#"[service.web]
command = ["/bin/true"]
acl = ["allow group:web-ops control", "deny user:intern all"]
"#,
    );
    assert_eq!(s.acl.unwrap().entries.len(), 2);
    let (line, col, msg, help) = problem(
        r#"[service.web]
command = ["/bin/true"]
acl = ["allow group:web-ops admin"]
"#,
    );
    assert_eq!((line, col), (3, 8));
    assert_eq!(
        msg,
        "a service's `acl` is about `control` only, not `admin`"
    );
    assert!(help.unwrap().contains("[control] acl"));
}

#[test]
fn a_service_acl_joins_the_control_acl_for_its_service_only() {
    let c = ok(r#"
[control]
acl = ["allow authenticated read", "allow group:ops control", "deny user:bob control"]

[service.web]
command = ["/bin/true"]
acl = ["allow group:web control", "deny group:ops control"]

[service.db]
command = ["/bin/true"]
"#);
    let policy = Policy::new(&c, 0);
    let member = |group: &str| Caller {
        uid: Some(1000),
        user: Some("someone".into()),
        gids: vec![1000],
        groups: vec![group.into()],
        address: None,
    };
    let bob = Caller {
        uid: Some(1001),
        user: Some("bob".into()),
        gids: vec![],
        groups: vec!["web".into()],
        address: None,
    };
    let allowed = |c: &Caller, s| policy.check(c, Right::Control, Some(s)) == Decision::Allowed;
    // The service's allow grants only there.
    assert!(allowed(&member("web"), "web"));
    assert!(!allowed(&member("web"), "db"));
    // The service's deny beats the control socket's allow, there only.
    assert!(!allowed(&member("ops"), "web"));
    assert!(allowed(&member("ops"), "db"));
    // The control socket's deny beats the service's allow.
    assert!(!allowed(&bob, "web"));
    // A service's entries never grant other rights.
    assert_eq!(
        policy.check(&member("web"), Right::Admin, Some("web")),
        Decision::NotGranted
    );
}

#[test]
fn http_is_read() {
    let c = ok(r#"
[http]
listen = "127.0.0.1:9750"
tokens_file = "/etc/steward/tokens"
tls_cert = "cert.pem"
tls_key = "key.pem"
"#);
    let h = c.http.unwrap();
    assert_eq!(h.listen.to_string(), "127.0.0.1:9750");
    assert_eq!(h.tokens_file.unwrap(), Path::new("/etc/steward/tokens"));
    let tls = h.tls.unwrap();
    assert_eq!(tls.cert, Path::new("/etc/steward/cert.pem"));
    assert_eq!(tls.key, Path::new("/etc/steward/key.pem"));
    assert_eq!(ok("").http, None);
    // A port alone is loopback.
    for port in ["\"9750\"", "\":9750\""] {
        let c = ok(&format!("[http]\nlisten = {port}\n"));
        assert_eq!(c.http.unwrap().listen.to_string(), "127.0.0.1:9750");
    }
}

#[test]
fn http_errors() {
    let (line, col, msg, help) = problem("[http]\nlisten = \"localhost:9750\"\n");
    assert_eq!((line, col), (2, 10));
    assert!(msg.contains("must be an IP address and port"), "{msg}");
    assert!(help.unwrap().contains("not a host name"));

    let (line, col, msg, _) = problem("[http]\ntokens_file = \"t\"\n");
    assert_eq!((line, col, msg.as_str()), (1, 1, "`[http]` needs `listen`"));

    let (line, col, msg, _) = problem("[http]\nlisten = \"[::1]:1\"\ntls_key = \"k.pem\"\n");
    assert_eq!((line, col), (3, 11));
    assert!(msg.contains("needs both"), "{msg}");

    let (_, _, msg, _) = problem("[http]\nlisten = \"127.0.0.1:1\"\nport = 3\n");
    assert!(msg.contains("unknown key `port`"), "{msg}");
}

#[test]
fn a_public_address_needs_tls_and_tokens() {
    let (line, col, msg, help) = problem("[http]\nlisten = \"0.0.0.0:9750\"\n");
    assert_eq!((line, col), (2, 10));
    assert!(msg.contains("not a loopback address"), "{msg}");
    assert!(msg.contains("no TLS or tokens"), "{msg}");
    assert!(help.unwrap().contains("tokens_file"));
    let (_, _, msg, _) = problem("[http]\nlisten = \"10.0.0.1:9750\"\ntokens_file = \"/t\"\n");
    assert!(msg.contains("no TLS"), "{msg}");
    let (_, _, msg, _) =
        problem("[http]\nlisten = \"10.0.0.1:9750\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n");
    assert!(msg.contains("no tokens"), "{msg}");
    ok(
        "[http]\nlisten = \"10.0.0.1:9750\"\ntokens_file = \"/t\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n",
    );
}

#[test]
fn changing_acls_restarts_nothing() {
    let old = ok("[service.a]\ncommand = [\"/bin/true\"]\n");
    let new = ok("[service.a]\ncommand = [\"/bin/true\"]\nacl = [\"allow group:x control\"]\n");
    let keys = crate::reload::changed_keys(&old.services["a"], &new.services["a"]);
    assert_eq!(keys, ["acl"]);
    assert!(!crate::reload::RESTART_KEYS.contains(&"acl"));
}
