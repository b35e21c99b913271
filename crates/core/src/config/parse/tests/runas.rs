//! `umask`, `pass_env`, `limits` and `no_new_privileges`.

use super::*;
use crate::env::DEFAULT_PASS_ENV;
use crate::rlimit::{Bound, Limit, Resource};

const BASE: &str = "[service.a]\ncommand = [\"a\"]\n";

fn process_of(lines: &str) -> ProcessSpec {
    service(&format!("{BASE}{lines}\n")).process
}

/// (line, column, message) of every problem of `lines` after [`BASE`].
fn at(lines: &str) -> Vec<(usize, usize, String)> {
    problems(&format!("{BASE}{lines}\n"))
        .into_iter()
        .map(|(l, c, m, _)| (l, c, m))
        .collect()
}

fn want(items: &[(usize, usize, &str)]) -> Vec<(usize, usize, String)> {
    items
        .iter()
        .map(|(l, c, m)| (*l, *c, m.to_string()))
        .collect()
}

#[test]
fn defaults_inherit_and_pass_the_usual_variables() {
    let p = process_of("");
    assert_eq!(p.umask, None);
    assert_eq!(p.pass_env, strings(DEFAULT_PASS_ENV));
    assert_eq!(
        p.pass_env,
        strings(&["PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM"])
    );
    assert!(p.limits.is_empty());
    assert!(!p.no_new_privileges);
}

#[test]
fn good_values() {
    let p = process_of(
        r#"umask = "0027"
pass_env = ["PATH", "LC_*", "MY_APP_*", "*"]
no_new_privileges = true
limits = { nofile = 4096, nproc = [512, 1024], core = 0, memlock = "64M", stack = "8MiB", as = "infinity", cpu = [60, "infinity"], fsize = 1048576, rttime = 100000 }"#,
    );
    assert_eq!(p.umask, Some(0o027));
    assert_eq!(p.pass_env, strings(&["PATH", "LC_*", "MY_APP_*", "*"]));
    assert!(p.no_new_privileges);
    let finite = |n| Limit::both(Bound::Finite(n));
    let limits: Vec<(Resource, Limit)> = p.limits.into_iter().collect();
    assert_eq!(
        limits,
        [
            (Resource::As, Limit::both(Bound::Infinity)),
            (Resource::Core, finite(0)),
            (
                Resource::Cpu,
                Limit {
                    soft: Bound::Finite(60),
                    hard: Bound::Infinity
                }
            ),
            (Resource::Fsize, finite(1 << 20)),
            (Resource::Memlock, finite(64 << 20)),
            (Resource::Nofile, finite(4096)),
            (
                Resource::Nproc,
                Limit {
                    soft: Bound::Finite(512),
                    hard: Bound::Finite(1024)
                }
            ),
            (Resource::Rttime, finite(100_000)),
            (Resource::Stack, finite(8 << 20)),
        ]
    );

    // Three digits; a table of its own; an empty allow-list.
    let p = process_of("umask = \"022\"\npass_env = []\n[service.a.limits]\nnofile = 10\n");
    assert_eq!(p.umask, Some(0o022));
    assert!(p.pass_env.is_empty());
    assert_eq!(p.limits[&Resource::Nofile], finite(10));
    assert_eq!(process_of("umask = \"0000\"").umask, Some(0));
    assert_eq!(process_of("umask = \"0777\"").umask, Some(0o777));
}

#[test]
fn umask_is_a_string_of_octal_digits() {
    let integer = "`umask` must be a string of 3 or 4 octal digits, found an integer";
    for (line, help) in [
        ("umask = 27", "quote it: `umask = \"0027\"`"),
        ("umask = 0o027", "quote it: `umask = \"0027\"`"),
        (
            "umask = 99",
            "write it as a string of octal digits, e.g. `umask = \"0027\"`",
        ),
    ] {
        let (l, c, m, h) = problem(&format!("{BASE}{line}\n"));
        assert_eq!((l, c, m.as_str()), (3, 9, integer), "{line}");
        assert_eq!(h.as_deref(), Some(help), "{line}");
    }
    let bad = |s: &str| format!("`umask` must be 3 or 4 octal digits, found \"{s}\"");
    for s in ["0028", "27", "00027", "u=rwx", ""] {
        assert_eq!(
            at(&format!("umask = \"{s}\"")),
            want(&[(3, 9, &bad(s))]),
            "{s}"
        );
    }
    assert_eq!(
        at("umask = \"1027\""),
        want(&[(
            3,
            9,
            "`umask` masks only permission bits, \"0000\" to \"0777\", found \"1027\""
        )])
    );
    assert_eq!(
        at("umask = true"),
        want(&[(
            3,
            9,
            "`umask` must be a string of 3 or 4 octal digits, found a boolean"
        )])
    );
}

#[test]
fn pass_env_entries_are_names_with_an_optional_final_star() {
    let star = "invalid `pass_env` entry \"LC_*_X\": `*` may only end a name, to match every \
                variable that starts with what is before it";
    assert_eq!(
        at(r#"pass_env = ["PATH", "LC_*_X", "A=B", "", 3, "*"]"#),
        want(&[
            (3, 21, star),
            (
                3,
                31,
                "invalid `pass_env` entry \"A=B\": an environment variable name cannot contain `=`"
            ),
            (
                3,
                38,
                "invalid `pass_env` entry \"\": an environment variable name cannot be empty"
            ),
            (3, 42, "`pass_env[4]` must be a string, found an integer"),
        ])
    );
    let (l, c, m, h) = problem(&format!("{BASE}pass_env = \"PATH\"\n"));
    assert_eq!(
        (l, c, m.as_str()),
        (
            3,
            12,
            "`pass_env` must be an array of variable names, found a string"
        )
    );
    assert_eq!(
        h.as_deref(),
        Some("e.g. `pass_env = [\"PATH\", \"LANG\", \"LC_*\"]`")
    );
}

#[test]
fn every_bad_limit_is_reported_at_its_place() {
    let ps = problems(&format!(
        r#"{BASE}[service.a.limits]
nofiles = 10
RLIMIT_CORE = 0
nproc = "many"
memlock = "64 parsecs"
stack = -1
nofile = [1, 2, 3]
core = [10, 5]
cpu = "unlimited"
rss = true
nice = "20"
sigpending = [1, -2]
"#
    ));
    let got: Vec<(usize, usize, &str)> = ps.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
    assert_eq!(
        got,
        [
            (4, 1, "unknown limit `nofiles` in `limits`"),
            (5, 1, "unknown limit `RLIMIT_CORE` in `limits`"),
            (
                6,
                9,
                "`limits.nproc` must be an integer or \"infinity\", found \"many\""
            ),
            (
                7,
                15,
                "invalid size for `limits.memlock`: unknown unit `parsecs`; use one of B, KB, \
                 KiB, MB, MiB, GB, GiB, TB, TiB (K, M, G and T are KiB, MiB, GiB and TiB)"
            ),
            (8, 9, "`limits.stack` cannot be negative"),
            (
                9,
                10,
                "`limits.nofile` as an array is [soft, hard], found 3 values"
            ),
            (
                10,
                8,
                "`limits.core`: the soft limit (10) is above the hard limit (5)"
            ),
            (
                11,
                7,
                "`limits.cpu` must be an integer or \"infinity\", found \"unlimited\""
            ),
            (
                12,
                7,
                "`limits.rss` must be an integer, a size or \"infinity\", found a boolean"
            ),
            (
                13,
                8,
                "`limits.nice` must be an integer or \"infinity\", found \"20\""
            ),
            (14, 18, "`limits.sigpending[1]` cannot be negative"),
        ]
    );
    let known = "the limits are `as`, `core`, `cpu`, `data`, `fsize`, `locks`, `memlock`, \
                 `msgqueue`, `nice`, `nofile`, `nproc`, `rss`, `rtprio`, `rttime`, \
                 `sigpending`, `stack`";
    assert_eq!(
        ps[0].3.as_deref(),
        Some(format!("did you mean `nofile`? {known}").as_str())
    );
    assert_eq!(
        ps[1].3.as_deref(),
        Some(format!("did you mean `core`? {known}").as_str())
    );
    assert_eq!(
        ps[2].3.as_deref(),
        Some("`nproc` is not counted in bytes: give a whole number")
    );
    assert_eq!(ps[7].3.as_deref(), Some("write \"infinity\""));
    assert_eq!(ps[9].3.as_deref(), Some("remove the quotes: `20`"));

    let (l, c, m, h) = problem(&format!("{BASE}limits = {{ zzz = 1 }}\n"));
    assert_eq!(
        (l, c, m.as_str()),
        (3, 12, "unknown limit `zzz` in `limits`")
    );
    assert_eq!(h.as_deref(), Some(known));
    let (l, c, m, _) = problem(&format!("{BASE}limits = 5\n"));
    assert_eq!(
        (l, c, m.as_str()),
        (3, 10, "`limits` must be a table, found an integer")
    );
}

#[test]
fn no_new_privileges_is_a_boolean_and_keys_are_suggested() {
    assert_eq!(
        at("no_new_privileges = \"yes\""),
        want(&[(
            3,
            21,
            "`no_new_privileges` must be a boolean (`true` or `false`), found a string"
        )])
    );
    let (_, _, m, h) = problem(&format!("{BASE}umsak = \"0022\"\n"));
    assert_eq!(m, "unknown key `umsak` in `[service.a]`");
    assert_eq!(h.as_deref(), Some("did you mean `umask`?"));
    let (_, _, _, h) = problem(&format!("{BASE}no_new_privs = true\n"));
    assert_eq!(h.as_deref(), Some("did you mean `no_new_privileges`?"));
}

/// Every example of the section of `docs/configuration.md` parses.
#[test]
fn the_documented_examples_parse() {
    let doc = include_str!("../../../../../../docs/configuration.md");
    let section = doc
        .split("## Running as another user")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the section");
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(blocks.len(), 7);
    let whole = service(blocks[0]).process;
    assert_eq!(whole.umask, Some(0o027));
    assert_eq!(whole.limits.len(), 4);
    assert!(whole.no_new_privileges);
    for block in &blocks[1..] {
        // Keys alone, or a table of their own: both go in a service.
        let text = match block.starts_with('[') {
            true => format!("{BASE}{}", block.replace("[service.web.", "[service.a.")),
            false => format!("{BASE}{block}"),
        };
        service(&text);
    }
}
