//! `[service.NAME.endpoint]` and `rolling`: values, defaults, every error at its place, and
//! the addresses two endpoints (or an endpoint and `[http]`) may not share.

use std::net::SocketAddr;

use super::*;
use crate::acl::{Caller, Decision};
use crate::balance::Balance;
use crate::config::{EndpointMode, EndpointSpec};
use crate::endpoint::{ADDRESS_HELP, Address, admit};

const BASE: &str = "[service.a]\ncommand = [\"a\"]\n";

fn endpoint_of(lines: &str) -> EndpointSpec {
    service(&format!("{BASE}{lines}\n")).endpoint.unwrap()
}

/// (line, column, message) of every problem.
fn at(src: &str) -> Vec<(usize, usize, String)> {
    problems(src)
        .into_iter()
        .map(|(l, c, m, _)| (l, c, m))
        .collect()
}

fn tcp(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_full_endpoint_is_read() {
    let e = endpoint_of(
        r#"instances = 3

[service.a.endpoint]
listen = "tcp:0.0.0.0:8000"
mode = "proxy"
balance = "least-connections"
acl = ["allow address:10.0.0.0/8 read,write", "deny address:10.9.0.0/16 all"]
backend = "tcp:127.0.0.1:7101"
drain_timeout = "30s"
connect_timeout = "250ms""#,
    );
    let mut want = EndpointSpec::new(Address::Tcp(tcp("0.0.0.0:8000")));
    want.balance = Balance::LeastConnections;
    want.backend = Some(tcp("127.0.0.1:7101"));
    want.drain_timeout = Duration::from_secs(30);
    want.connect_timeout = Duration::from_millis(250);
    want.acl = e.acl.clone();
    assert_eq!(e, want);
    let texts: Vec<String> = e
        .acl
        .unwrap()
        .entries
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert_eq!(
        texts,
        [
            "allow address:10.0.0.0/8 read,write",
            "deny address:10.9.0.0/16 read,control,admin,write"
        ]
    );

    let e = endpoint_of(
        r#"endpoint = { listen = "unix:/run/a.sock", mode = "socket", socket_mode = "0660", socket_group = "web" }"#,
    );
    assert_eq!(e.mode, EndpointMode::Socket);
    assert_eq!(e.listen, Address::Unix("/run/a.sock".into()));
    assert_eq!(e.socket_mode, Some(0o660));
    assert_eq!(e.socket_group.as_deref(), Some("web"));
}

#[test]
fn defaults() {
    let s = service(BASE);
    assert_eq!(s.endpoint, None);
    assert!(!s.rolling);
    let e = endpoint_of("endpoint = { listen = \"unix:/run/a.sock\" }");
    assert_eq!(e, EndpointSpec::new(Address::Unix("/run/a.sock".into())));
    assert_eq!(e.mode, EndpointMode::Proxy);
    assert_eq!(e.balance, Balance::RoundRobin);
    assert_eq!(e.acl, None);
    assert_eq!(e.backend, None);
    assert_eq!((e.socket_mode, e.socket_group), (None, None));
    assert_eq!(e.drain_timeout, Duration::from_secs(5));
    assert_eq!(e.connect_timeout, Duration::from_secs(1));
    for b in Balance::ALL {
        let e = endpoint_of(&format!(
            "endpoint = {{ listen = \"tcp:[::1]:80\", balance = \"{}\" }}",
            b.as_str()
        ));
        assert_eq!(e.balance, b);
    }
    assert!(service(&format!("{BASE}rolling = true\n")).rolling);
    assert!(!service(&format!("{BASE}rolling = false\n")).rolling);
}

#[test]
fn an_address_acl_admits_by_address() {
    let e = endpoint_of(
        r#"endpoint = { listen = "tcp:10.0.0.1:80", acl = ["allow address:10.0.0.0/8 read,write", "allow address:::1 read"] }"#,
    );
    let from = |ip: &str| Caller {
        address: Some(ip.parse().unwrap()),
        ..Caller::anonymous()
    };
    assert_eq!(admit(e.acl.as_ref(), &from("10.1.2.3")), Decision::Allowed);
    assert_eq!(
        admit(e.acl.as_ref(), &from("::ffff:10.1.2.3")),
        Decision::Allowed
    );
    // `read` alone does not let a caller connect.
    assert_eq!(admit(e.acl.as_ref(), &from("::1")), Decision::NotGranted);
    assert_eq!(
        admit(e.acl.as_ref(), &from("192.168.0.1")),
        Decision::NotGranted
    );
}

#[test]
fn an_acl_error_points_at_the_word_as_in_control() {
    let src = format!(
        "{BASE}endpoint = {{ listen = \"unix:/run/a.sock\", acl = [\"allow address:10.0.0.1/8 write\", \"allow everyone rw\"] }}\n"
    );
    let ps = problems(&src);
    let got: Vec<_> = ps.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                3,
                57,
                "`10.0.0.1/8` has bits set past its prefix; the network is 10.0.0.0/8"
            ),
            (3, 100, "unknown right `rw`"),
        ]
    );
    let (line, col, msg, _) = problem(&format!(
        "{BASE}endpoint = {{ listen = \"unix:/run/a.sock\", acl = \"allow everyone all\" }}\n"
    ));
    assert_eq!((line, col), (3, 49));
    assert_eq!(
        msg,
        "`endpoint.acl` must be an array of entries, found a string"
    );
}

#[test]
fn listen_errors() {
    let cases = [
        (
            "\"http://x\"",
            "`endpoint.listen` is not an address: `http://x` starts with neither `unix:` nor `tcp:`",
        ),
        (
            "\"unix:run/a.sock\"",
            "`endpoint.listen` is not an address: `run/a.sock` is not an absolute path",
        ),
        (
            "\"tcp:localhost:80\"",
            "`endpoint.listen` is not an address: `localhost:80` is not an IP address and port \
             (like 127.0.0.1:7000 or [::1]:7000)",
        ),
        (
            "\"tcp:127.0.0.1:0\"",
            "`endpoint.listen` cannot use port 0: the kernel would pick a port, and nobody would \
             know which",
        ),
        ("80", "`endpoint.listen` must be a string, found an integer"),
    ];
    for (value, want) in cases {
        let (line, col, msg, help) =
            problem(&format!("{BASE}\n[service.a.endpoint]\nlisten = {value}\n"));
        assert_eq!((line, col, msg.as_str()), (5, 10, want), "{value}");
        assert_eq!(help.as_deref(), Some(ADDRESS_HELP));
    }
}

#[test]
fn listen_is_required() {
    let (line, col, msg, help) =
        problem(&format!("{BASE}\n[service.a.endpoint]\nmode = \"proxy\"\n"));
    assert_eq!(
        (line, col, msg.as_str()),
        (4, 1, "`endpoint` needs `listen`")
    );
    assert!(help.unwrap().contains("listen = \"unix:/run/a.sock\""));
    let (line, col, _, _) = problem(&format!("{BASE}endpoint = {{ balance = \"random\" }}\n"));
    assert_eq!((line, col), (3, 12));
    let (line, col, msg, help) = problem(&format!("{BASE}endpoint = \"unix:/run/a.sock\"\n"));
    assert_eq!(
        (line, col, msg.as_str()),
        (3, 12, "`endpoint` must be a table, found a string")
    );
    assert_eq!(
        help.as_deref(),
        Some("write it as a table: `endpoint = { listen = \"unix:/run/a.sock\" }`")
    );
}

#[test]
fn unknown_keys_and_bad_choices() {
    let src = format!(
        "{BASE}\n[service.a.endpoint]\nlisten = \"unix:/run/a.sock\"\nblance = \"random\"\nmode = \"sockets\"\nbalance = \"fastest\"\n"
    );
    let ps = problems(&src);
    let got: Vec<_> = ps
        .iter()
        .map(|p| (p.0, p.1, p.2.as_str(), p.3.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                6,
                1,
                "unknown key `blance` in `endpoint`",
                Some("did you mean `balance`?")
            ),
            (
                7,
                8,
                "`endpoint.mode` must be \"proxy\" or \"socket\", found \"sockets\"",
                Some("did you mean \"socket\"?")
            ),
            (
                8,
                11,
                "`endpoint.balance` must be \"round-robin\", \"least-connections\" or \"random\", \
                 found \"fastest\"",
                None
            ),
        ]
    );
    // A misspelled `endpoint` is an unknown table with a suggestion.
    let (line, col, msg, help) = problem(&format!(
        "{BASE}\n[service.a.endpiont]\nlisten = \"unix:/run/a.sock\"\n"
    ));
    assert_eq!(
        (line, col, msg.as_str()),
        (4, 12, "unknown table `endpiont` in `[service.a]`")
    );
    assert_eq!(help.as_deref(), Some("did you mean `endpoint`?"));
    let (_, _, msg, help) = problem(&format!("{BASE}rollin = true\n"));
    assert_eq!(msg, "unknown key `rollin` in `[service.a]`");
    assert_eq!(help.as_deref(), Some("did you mean `rolling`?"));
    let (line, col, msg, _) = problem(&format!("{BASE}rolling = \"yes\"\n"));
    assert_eq!(
        (line, col, msg.as_str()),
        (
            3,
            11,
            "`rolling` must be a boolean (`true` or `false`), found a string"
        )
    );
}

#[test]
fn backend_errors() {
    let one = |line: &str| problem(&format!("{BASE}\n[service.a.endpoint]\n{line}\n"));
    let listen = "listen = \"unix:/run/a.sock\"\n";

    let (l, c, msg, help) = one(&format!("{listen}backend = \"unix:/run/b.sock\""));
    assert_eq!((l, c), (6, 11));
    assert!(
        msg.starts_with("`endpoint.backend` must be \"tcp:IP:PORT\", not a Unix socket"),
        "{msg}"
    );
    assert!(help.unwrap().contains("leave `backend` out"));

    let (l, c, msg, _) = one(&format!("{listen}backend = \"127.0.0.1:7000\""));
    assert_eq!((l, c), (6, 11));
    assert_eq!(
        msg,
        "`endpoint.backend` is not an address: `127.0.0.1:7000` starts with neither `unix:` nor `tcp:`"
    );

    let (l, c, msg, _) = one(&format!("{listen}backend = \"tcp:127.0.0.1:0\""));
    assert_eq!((l, c), (6, 11));
    assert!(msg.contains("cannot use port 0"), "{msg}");

    let (l, c, msg, help) = one(&format!(
        "{listen}mode = \"socket\"\nbackend = \"tcp:127.0.0.1:7000\""
    ));
    assert_eq!((l, c), (7, 11));
    assert_eq!(
        msg,
        "`endpoint.backend` is for proxy mode: in socket mode the instances share the \
         endpoint's own socket (fd 3)"
    );
    assert_eq!(
        help.as_deref(),
        Some("remove `backend`, or use mode = \"proxy\"")
    );
}

#[test]
fn the_backend_ports_must_fit_every_instance() {
    let src = |instances: u32, port: u32| {
        format!(
            "[service.a]\ncommand = [\"a\"]\ninstances = {instances}\n\n[service.a.endpoint]\n\
             listen = \"unix:/run/a.sock\"\nbackend = \"tcp:127.0.0.1:{port}\"\n"
        )
    };
    ok(&src(3, 65533));
    ok(&src(0, 65535));
    let (line, col, msg, help) = problem(&src(3, 65534));
    assert_eq!((line, col), (7, 11));
    assert_eq!(
        msg,
        "`endpoint.backend` tcp:127.0.0.1:65534 leaves no port for every instance: instance 2 \
         would listen on port 65536, past 65535"
    );
    assert_eq!(
        help.as_deref(),
        Some(
            "instance i listens on `backend`'s port plus i; with 3 instances the port can be at most 65533"
        )
    );
    // `instances` after the table counts the same (an inline table).
    let (line, col, _, _) = problem(
        "[service.a]\ncommand = [\"a\"]\nendpoint = { listen = \"unix:/run/a.sock\", backend = \"tcp:127.0.0.1:65535\" }\ninstances = 2\n",
    );
    assert_eq!((line, col), (3, 53));
}

#[test]
fn socket_mode_and_group_are_for_a_unix_listen() {
    let src = format!(
        "{BASE}\n[service.a.endpoint]\nlisten = \"tcp:127.0.0.1:80\"\nsocket_mode = \"0660\"\nsocket_group = \"web\"\n"
    );
    let ps = problems(&src);
    let got: Vec<_> = ps
        .iter()
        .map(|p| (p.0, p.1, p.2.as_str(), p.3.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                6,
                15,
                "`endpoint.socket_mode` is only for a Unix socket, and `listen` is \
                 tcp:127.0.0.1:80: a TCP port has no file mode or group",
                Some("remove `socket_mode`, or listen on a Unix socket (\"unix:/run/a.sock\")")
            ),
            (
                7,
                16,
                "`endpoint.socket_group` is only for a Unix socket, and `listen` is \
                 tcp:127.0.0.1:80: a TCP port has no file mode or group",
                Some("remove `socket_group`, or listen on a Unix socket (\"unix:/run/a.sock\")")
            ),
        ]
    );
    // The same octal reader and rules as `[control] socket_mode`.
    for (value, expected) in [
        (
            "\"rw\"",
            "`endpoint.socket_mode` must be 3 or 4 octal digits",
        ),
        ("\"4660\"", "beyond the permissions"),
        ("\"0060\"", "does not let steward's own user"),
        ("\"0770\"", "execute bits"),
        (
            "660",
            "`endpoint.socket_mode` must be a string of 3 or 4 octal digits",
        ),
    ] {
        let (line, col, msg, _) = problem(&format!(
            "{BASE}\n[service.a.endpoint]\nlisten = \"unix:/run/a.sock\"\nsocket_mode = {value}\n"
        ));
        assert_eq!((line, col), (6, 15), "{value}");
        assert!(msg.contains(expected), "{value}: {msg}");
    }
    let (line, col, msg, _) = problem(&format!(
        "{BASE}\n[service.a.endpoint]\nlisten = \"unix:/run/a.sock\"\nsocket_group = \"\"\n"
    ));
    assert_eq!(
        (line, col, msg.as_str()),
        (6, 16, "`endpoint.socket_group` cannot be empty")
    );
}

#[test]
fn socket_mode_refuses_what_only_a_proxy_can_do() {
    let src = format!(
        "{BASE}\n[service.a.endpoint]\nlisten = \"unix:/run/a.sock\"\nmode = \"socket\"\nacl = [\"allow everyone read,write\"]\ndrain_timeout = \"10s\"\nconnect_timeout = \"2s\"\n"
    );
    let ps = problems(&src);
    let got: Vec<_> = ps
        .iter()
        .map(|p| (p.0, p.1, p.2.as_str(), p.3.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                7,
                7,
                "`endpoint.acl` cannot be checked in socket mode: the instances accept \
                 connections themselves, so steward cannot check who connects",
                Some("use mode = \"proxy\", or socket_mode/socket_group for a unix socket")
            ),
            (
                8,
                17,
                "`endpoint.drain_timeout` is for proxy mode: in socket mode the connections go \
                 straight to the instances, and steward does not see them",
                Some("remove `drain_timeout`, or use mode = \"proxy\"")
            ),
            (
                9,
                19,
                "`endpoint.connect_timeout` is for proxy mode: in socket mode the connections \
                 go straight to the instances, and steward does not see them",
                Some("remove `connect_timeout`, or use mode = \"proxy\"")
            ),
        ]
    );
}

#[test]
fn timeouts() {
    let e = endpoint_of(
        "endpoint = { listen = \"unix:/run/a.sock\", drain_timeout = \"0s\", connect_timeout = \"1ms\" }",
    );
    assert_eq!(e.drain_timeout, Duration::ZERO);
    assert_eq!(e.connect_timeout, Duration::from_millis(1));
    let src = format!(
        "{BASE}\n[service.a.endpoint]\nlisten = \"unix:/run/a.sock\"\nconnect_timeout = \"0s\"\ndrain_timeout = \"5\"\n"
    );
    assert_eq!(
        at(&src),
        [
            (
                6,
                19,
                "`endpoint.connect_timeout` must be longer than zero".to_string()
            ),
            (
                7,
                19,
                "invalid duration for `endpoint.drain_timeout`: `5` has no unit; write e.g. \"5s\" \
                 or \"5ms\""
                    .to_string()
            ),
        ]
    );
}

#[test]
fn a_public_tcp_proxy_needs_an_acl() {
    let src =
        |rest: &str| format!("{BASE}\n[service.a.endpoint]\nlisten = \"tcp:0.0.0.0:8000\"\n{rest}");
    let (line, col, msg, help) = problem(&src(""));
    assert_eq!((line, col), (5, 10));
    assert_eq!(
        msg,
        "`endpoint.listen` tcp:0.0.0.0:8000 is not a loopback address, and the endpoint has no \
         `acl`: anyone on the network could connect to the service"
    );
    assert_eq!(
        help.as_deref(),
        Some(
            "say who may connect, e.g. `acl = [\"allow address:10.0.0.0/8 read,write\"]`, or \
             listen on 127.0.0.1 or [::1]"
        )
    );
    ok(&src("acl = [\"allow address:10.0.0.0/8 read,write\"]\n"));
    // An explicit `everyone` is a choice, not an oversight.
    ok(&src("acl = [\"allow everyone read,write\"]\n"));
    // Loopback needs none; socket mode cannot have one.
    ok(&format!(
        "{BASE}endpoint = {{ listen = \"tcp:[::1]:8000\" }}\n"
    ));
    ok(&src("mode = \"socket\"\n"));
    // A bad `acl` is reported once, not also as missing.
    let (line, col, msg, _) = problem(&src("acl = [\"allow nobody write\"]\n"));
    assert_eq!((line, col), (6, 15));
    assert!(msg.contains("nobody"), "{msg}");
}

#[test]
fn socket_mode_takes_fd_3_from_ready() {
    let src = |ready: &str, mode: &str| {
        format!(
            "[service.a]\ncommand = [\"a\"]\nready = \"fd:{ready}\"\nendpoint = {{ listen = \"unix:/run/a.sock\", mode = \"{mode}\" }}\n"
        )
    };
    let (line, col, msg, help) = problem(&src("3", "socket"));
    assert_eq!((line, col), (3, 13));
    assert_eq!(
        msg,
        "`ready` cannot use file descriptor 3 here: with an endpoint in socket mode, fd 3 is \
         the listening socket (LISTEN_FDS=1)"
    );
    assert_eq!(help.as_deref(), Some("use \"fd:4\" or later"));
    assert_eq!(service(&src("4", "socket")).ready_fd, Some(4));
    assert_eq!(service(&src("3", "proxy")).ready_fd, Some(3));
}

#[test]
fn two_endpoints_cannot_listen_on_one_address() {
    let src = r#"[service.a]
command = ["a"]
endpoint = { listen = "unix:/run/x.sock" }

[service.b]
command = ["b"]
endpoint = { listen = "unix:/run/x.sock" }

[service.c]
command = ["c"]
endpoint = { listen = "tcp:127.0.0.1:8000" }

[service.d]
command = ["d"]
endpoint = { listen = "tcp:0.0.0.0:8000", acl = ["allow everyone read,write"] }
"#;
    let ps = problems(src);
    let got: Vec<_> = ps
        .iter()
        .map(|p| (p.0, p.1, p.2.as_str(), p.3.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                7,
                23,
                "`endpoint.listen` unix:/run/x.sock is taken: the path is already service \
                 `a`'s `endpoint.listen` (unix:/run/x.sock)",
                Some("every endpoint needs an address of its own")
            ),
            (
                15,
                23,
                "`endpoint.listen` tcp:0.0.0.0:8000 is taken: port 8000 is already service \
                 `c`'s `endpoint.listen` (tcp:127.0.0.1:8000)",
                Some("every endpoint needs an address of its own")
            ),
        ]
    );
    // Other addresses of one family, or other ports, are free.
    ok(r#"[service.a]
command = ["a"]
endpoint = { listen = "tcp:127.0.0.1:8000" }

[service.b]
command = ["b"]
endpoint = { listen = "tcp:127.0.0.2:8000" }

[service.c]
command = ["c"]
endpoint = { listen = "tcp:127.0.0.1:8001" }
"#);
}

#[test]
fn backend_ports_cannot_overlap() {
    let src = r#"[http]
listen = "127.0.0.1:9750"

[service.a]
command = ["a"]
instances = 3
endpoint = { listen = "unix:/run/a.sock", backend = "tcp:127.0.0.1:7000" }

[service.b]
command = ["b"]
instances = 2
endpoint = { listen = "tcp:127.0.0.1:7003", backend = "tcp:127.0.0.1:7002" }

[service.c]
command = ["c"]
instances = 2
endpoint = { listen = "unix:/run/c.sock", backend = "tcp:0.0.0.0:9749" }
"#;
    let ps = problems(src);
    let got: Vec<_> = ps
        .iter()
        .map(|p| (p.0, p.1, p.2.as_str(), p.3.as_deref()))
        .collect();
    let help = Some(
        "instance i listens on `backend`'s port plus i: move `backend` to ports nothing else uses",
    );
    assert_eq!(
        got,
        [
            (
                12,
                55,
                "`endpoint.backend` tcp:127.0.0.1:7002 gives its instances ports 7002 to 7003, \
                 and port 7002 is already service `a`'s `endpoint.backend` (tcp:127.0.0.1:7000)",
                help
            ),
            (
                17,
                53,
                "`endpoint.backend` tcp:0.0.0.0:9749 gives its instances ports 9749 to 9750, \
                 and port 9750 is already `[http] listen` (127.0.0.1:9750)",
                help
            ),
        ]
    );
    // Its own listen counts too, and on another address the ports are free.
    let (line, col, msg, _) = problem(
        "[service.a]\ncommand = [\"a\"]\ninstances = 2\nendpoint = { listen = \"tcp:127.0.0.1:7001\", backend = \"tcp:127.0.0.1:7000\" }\n",
    );
    assert_eq!((line, col), (4, 55));
    assert_eq!(
        msg,
        "`endpoint.backend` tcp:127.0.0.1:7000 gives its instances ports 7000 to 7001, and port \
         7001 is already this service's `endpoint.listen` (tcp:127.0.0.1:7001)"
    );
    ok(
        "[service.a]\ncommand = [\"a\"]\ninstances = 2\nendpoint = { listen = \"tcp:127.0.0.2:7001\", backend = \"tcp:127.0.0.1:7000\" }\n",
    );
}

#[test]
fn http_after_an_endpoint_is_the_one_pointed_at() {
    let src = r#"[service.a]
command = ["a"]
endpoint = { listen = "tcp:[::1]:9750" }

[http]
listen = "[::1]:9750"
"#;
    let (line, col, msg, help) = problem(src);
    assert_eq!((line, col), (6, 10));
    assert_eq!(
        msg,
        "`[http] listen` [::1]:9750 is taken: port 9750 is already service `a`'s \
         `endpoint.listen` (tcp:[::1]:9750)"
    );
    assert_eq!(
        help.as_deref(),
        Some("give `[http]` a port no endpoint uses")
    );
}

#[test]
fn an_invalid_service_claims_nothing() {
    // `b` has another problem; its endpoint is not compared with `a`'s, so that the one
    // problem is not hidden among follow-on ones.
    let src = r#"[service.a]
command = ["a"]
endpoint = { listen = "unix:/run/x.sock" }

[service.b]
command = ["b"]
restart = "sometimes"
endpoint = { listen = "unix:/run/x.sock" }
"#;
    let got = at(src);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!((got[0].0, got[0].1), (7, 11));
}
