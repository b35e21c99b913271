use super::*;

const H1: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const H2: &str = "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

fn parse(text: &str) -> Result<Tokens, Diagnostics> {
    Tokens::parse(text, "/etc/steward/tokens")
}

/// Every problem as (line, column, message).
fn problems(text: &str) -> Vec<(usize, usize, String)> {
    match parse(text) {
        Err(d) => {
            d.0.into_iter()
                .map(|d| (d.line, d.column, d.message))
                .collect()
        }
        other => panic!("expected diagnostics, got {other:?}"),
    }
}

/// A new token and its hash, each call a different one (the daemon draws the bytes from
/// the OS; here they count up).
fn generate() -> (String, String) {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let token = token_text(&[NEXT.fetch_add(1, Ordering::Relaxed); 32]);
    let hash = hash(&token);
    (token, hash)
}

#[test]
fn parses_names_groups_comments_and_blank_lines() {
    let text = format!(
        "# who may use the TCP API\n\nalice ops,deploy {H1}\n\t ci\t-   {H2}   # the CI runner\r\n"
    );
    let t = parse(&text).unwrap();
    let ids: Vec<_> = t.identities().cloned().collect();
    assert_eq!(
        ids,
        [
            TokenIdentity {
                name: "alice".into(),
                groups: vec!["ops".into(), "deploy".into()]
            },
            TokenIdentity {
                name: "ci".into(),
                groups: vec![]
            },
        ]
    );
    assert_eq!(t.len(), 2);
    assert!(parse("").unwrap().is_empty());
    assert!(parse("# nothing yet\n\n   \n").unwrap().is_empty());
    // Upper-case hex is the same hash.
    let upper = format!("bob - sha256:{}", H1[7..].to_uppercase());
    assert_eq!(parse(&upper).unwrap().len(), 1);
}

/// A distinct valid hash for each `n`.
fn h(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

#[test]
fn reports_every_bad_line_where_it_is() {
    let text = format!(
        "alice ops {}\n\
         bob\n\
         carol {}\n\
         dave ops\n\
         # fine\n\
         al!ce - {}\n\
         erin ops,,dev {}\n\
         frank ops stw_abc\n\
         gina ops sha256:12zz\n\
         hank ops sha256:abcd\n\
         ivan ops {} extra\n\
         -x - {}\n\
         - ops {}\n\
         jo -ops {}\n\
         ken {}\n",
        h(1),
        h(2),
        h(3),
        h(4),
        h(5),
        h(6),
        h(7),
        h(8),
        &h(9)[7..]
    );
    assert_eq!(
        problems(&text),
        [
            (
                2,
                1,
                "`bob` needs its groups and its token's hash after it".into()
            ),
            (3, 7, "no groups between `carol` and the hash".into()),
            (4, 6, "no hash after the groups `ops`".into()),
            (6, 1, "`al!ce` holds `!`, which a name may not".into()),
            (
                7,
                10,
                "an empty group name (two commas, or a comma at an end)".into()
            ),
            (
                8,
                11,
                "this is a token, not its hash: the file keeps only hashes".into()
            ),
            (9, 10, "`z` is not a hex digit".into()),
            (
                10,
                10,
                "a SHA-256 hash has 64 hex digits, this one 4".into()
            ),
            (
                11,
                82,
                "`extra` after the hash: a line has three words".into()
            ),
            (12, 1, "`-x` starts with `-`".into()),
            (
                13,
                1,
                "`-` is not a name (it means \"no groups\" in the second word)".into()
            ),
            (14, 4, "`-ops` starts with `-`".into()),
            (15, 5, "no groups between `ken` and the hash".into()),
        ]
    );
}

#[test]
fn the_message_shows_the_file_line_and_what_to_write() {
    let Err(e) = parse(&format!("alice ops\nbob ops {}\n", &H1[7..])) else {
        panic!()
    };
    let text = e.to_string();
    assert!(
        text.starts_with("/etc/steward/tokens:1:7: error: no hash after the groups `ops`"),
        "{text}"
    );
    assert!(
        text.contains("/etc/steward/tokens:2:9: error: a hash without its `sha256:` prefix"),
        "{text}"
    );
    assert!(text.contains(&format!("help: write `{H1}`")), "{text}");
    assert!(text.ends_with("2 problems found"), "{text}");
}

#[test]
fn duplicate_names_and_hashes_are_errors() {
    let text = format!("alice ops {H1}\nalice dev {H2}\nbob - {H1}\n");
    assert_eq!(
        problems(&text),
        [
            (2, 1, "`alice` has a token already, on line 1".into()),
            (3, 7, "this hash is on line 1 already".into()),
        ]
    );
    assert_eq!(
        problems(&format!("alice ops,dev,ops {H1}")),
        [(1, 15, "group `ops` is listed twice".into())]
    );
}

#[test]
fn names_are_short_words_of_safe_characters() {
    for good in ["alice", "ci.deploy", "a_b-c", "0", &"x".repeat(64)] {
        assert_eq!(check_name(good), Ok(()), "{good}");
    }
    for bad in ["", "-", "-a", "a b", "a,b", "a:b", "é", &"x".repeat(65)] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
    assert_eq!(
        problems(&format!("{} - {H1}", "y".repeat(65))),
        [(1, 1, format!("`{}` is 65 bytes long", "y".repeat(65)))]
    );
}

#[test]
fn identify_finds_the_right_entry() {
    let (ta, ha) = generate();
    let (tb, hb) = generate();
    let (tc, hc) = generate();
    let text = format!("a ops {ha}\nb - {hb}\nc x,y {hc}\n");
    let t = parse(&text).unwrap();
    assert_eq!(t.identify(&ta).unwrap().name, "a");
    assert_eq!(t.identify(&tb).unwrap().name, "b");
    let c = t.identify(&tc).unwrap();
    assert_eq!(
        (c.name.as_str(), c.groups.clone()),
        ("c", vec!["x".into(), "y".into()])
    );
}

#[test]
fn identify_rejects_near_misses() {
    let (token, hash) = generate();
    let t = parse(&format!("a ops {hash}")).unwrap();
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let near = [
        String::new(),
        token[..token.len() - 1].to_string(),
        format!("{token}A"),
        format!(" {token}"),
        token.to_uppercase(),
        String::from_utf8(flipped).unwrap(),
        hash.clone(),
        hash["sha256:".len()..].to_string(),
    ];
    for n in &near {
        assert_eq!(t.identify(n), None, "{n:?}");
    }
    assert!(Tokens::default().identify(&token).is_none());
}

#[test]
fn base64url_matches_rfc_4648() {
    for (input, out) in [
        ("", ""),
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64url(input.as_bytes()), out);
    }
    assert_eq!(base64url(&[0xfb, 0xff, 0xbf]), "-_-_");
}

#[test]
fn an_identity_is_checked_as_a_line_is() {
    let id = TokenIdentity::new("alice", &["ops", "deploy"]).unwrap();
    assert_eq!(id.groups, ["ops", "deploy"]);
    assert!(TokenIdentity::new("ci", &["-"]).unwrap().groups.is_empty());
    assert!(TokenIdentity::new("ci", &[]).unwrap().groups.is_empty());
    for (name, groups, error) in [
        ("al ice", &["ops"][..], "name: `al ice` holds ` `"),
        ("-a", &[], "name: `-a` starts with `-`"),
        ("a", &["ops", ""], "groups: an empty group name"),
        ("a", &["ops", "ops"], "groups: group `ops` is listed twice"),
        ("a", &["o:ps"], "groups: `o:ps` holds `:`"),
        ("a", &["ops", "-"], "groups: `-` is not a name"),
    ] {
        let err = TokenIdentity::new(name, groups).unwrap_err();
        assert!(err.starts_with(error), "{err}");
    }
    // What `new` accepts, the parser accepts.
    let (_, hash) = generate();
    let line = id.line(&hash);
    assert_eq!(parse(&line).unwrap().identities().next(), Some(&id));
}
