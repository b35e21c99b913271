use std::net::IpAddr;
use std::path::Path;

use super::*;
use crate::acl::{Acl, Caller, Decision, parse_entry};
use crate::config::EndpointSpec;
use crate::machine::{Input, Instance, step};
use crate::time::Instant;

fn acl(entries: &[&str]) -> Acl {
    Acl {
        entries: entries.iter().map(|e| parse_entry(e).unwrap()).collect(),
    }
}

fn from(ip: &str) -> Caller {
    Caller {
        address: Some(ip.parse::<IpAddr>().unwrap()),
        ..Caller::anonymous()
    }
}

#[test]
fn addresses_parse_and_print_back() {
    for text in [
        "unix:/run/reverse.sock",
        "tcp:127.0.0.1:7000",
        "tcp:[::1]:7000",
    ] {
        assert_eq!(Address::parse(text).unwrap().to_string(), text);
    }
    assert!(
        Address::parse("unix:relative.sock")
            .unwrap_err()
            .contains("absolute")
    );
    assert!(
        Address::parse("tcp:localhost:7000")
            .unwrap_err()
            .contains("IP address")
    );
    assert!(
        Address::parse("udp:1.2.3.4:5")
            .unwrap_err()
            .contains("neither")
    );
    let long = format!("unix:/{}", "x".repeat(120));
    assert!(Address::parse(&long).unwrap_err().contains("107 bytes"));
    assert!(Address::parse("tcp:127.0.0.1:1").unwrap().is_loopback());
    assert!(!Address::parse("tcp:0.0.0.0:1").unwrap().is_loopback());
}

#[test]
fn each_instance_has_its_own_address() {
    let mut e = EndpointSpec::new(Address::parse("tcp:127.0.0.1:7000").unwrap());
    let dir = Path::new("/run/steward");
    assert_eq!(
        instance_address(&e, "rev", 2, dir).to_string(),
        "unix:/run/steward/endpoints/rev/2.sock"
    );
    e.backend = Some("127.0.0.1:7101".parse().unwrap());
    assert_eq!(
        instance_address(&e, "rev", 0, dir).to_string(),
        "tcp:127.0.0.1:7101"
    );
    assert_eq!(
        instance_address(&e, "rev", 2, dir).to_string(),
        "tcp:127.0.0.1:7103"
    );
}

#[test]
fn a_connection_needs_read_and_write() {
    let only_read = acl(&["allow everyone read"]);
    assert_eq!(
        admit(Some(&only_read), &from("127.0.0.1")),
        Decision::NotGranted
    );
    let both = acl(&["allow address:127.0.0.0/8 read,write"]);
    assert_eq!(admit(Some(&both), &from("127.0.0.1")), Decision::Allowed);
    assert_eq!(admit(Some(&both), &from("10.0.0.1")), Decision::NotGranted);
    // An IPv4 peer on a dual-stack socket shows as ::ffff:127.0.0.1.
    assert_eq!(
        admit(Some(&both), &from("::ffff:127.0.0.1")),
        Decision::Allowed
    );
    let deny = acl(&["allow everyone all", "deny address:10.1.0.0/16 write"]);
    assert!(matches!(
        admit(Some(&deny), &from("10.1.2.3")),
        Decision::Denied(_)
    ));
    assert_eq!(admit(Some(&deny), &from("10.2.0.1")), Decision::Allowed);
    assert_eq!(admit(None, &Caller::anonymous()), Decision::Allowed);
}

#[test]
fn cidr_parsing_refuses_what_is_not_a_network() {
    assert!(crate::acl::Cidr::parse("10.0.0.0/33").is_err());
    assert!(
        crate::acl::Cidr::parse("10.0.0.1/8")
            .unwrap_err()
            .contains("10.0.0.0/8")
    );
    assert!(
        crate::acl::Cidr::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap())
    );
    assert!(
        crate::acl::Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    assert!(
        !crate::acl::Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("::2".parse().unwrap())
    );
    let e = parse_entry("allow address:192.168.1.0/24 read,write").unwrap();
    assert_eq!(e.to_string(), "allow address:192.168.1.0/24 read,write");
}

#[test]
fn only_a_running_ready_instance_takes_connections() {
    let spec = crate::config::ServiceSpec::with_defaults("s", vec!["x".into()]);
    let t0 = Instant::ORIGIN;
    let mut inst = Instance::new(0, 1, t0);
    assert!(!takes_connections(&inst));
    step(&mut inst, &spec, Input::Start, t0);
    step(&mut inst, &spec, Input::Spawned { pid: 10 }, t0);
    assert!(takes_connections(&inst));
    step(&mut inst, &spec, Input::Pause, t0);
    assert!(!takes_connections(&inst));
    step(&mut inst, &spec, Input::PauseDone, t0);
    assert!(!takes_connections(&inst));
    step(&mut inst, &spec, Input::Continue, t0);
    step(&mut inst, &spec, Input::ContinueDone, t0);
    assert!(takes_connections(&inst));
    step(&mut inst, &spec, Input::Stop, t0);
    assert!(!takes_connections(&inst));
}

#[test]
fn an_instance_socket_path_too_long_for_a_socket_address_is_named() {
    let e = EndpointSpec::new(Address::parse("tcp:127.0.0.1:7000").unwrap());
    let deep = Path::new("/var/lib").join("d".repeat(90));
    let Address::Unix(path) = instance_address(&e, "reverse", 0, &deep) else {
        panic!("a Unix socket by default");
    };
    let why = fits_sockaddr(&path).unwrap_err();
    assert!(why.contains("at most 107 bytes"), "{why}");
    assert!(why.contains("reverse/0.sock"), "{why}");
    let Address::Unix(short) = instance_address(&e, "reverse", 0, Path::new("/var/lib/steward"))
    else {
        panic!("a Unix socket by default");
    };
    assert_eq!(fits_sockaddr(&short), Ok(()));
}
