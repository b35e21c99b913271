use proptest::prelude::*;

use super::*;

fn acl(entries: &[&str]) -> Acl {
    Acl {
        entries: entries.iter().map(|e| parse_entry(e).unwrap()).collect(),
    }
}

fn user(uid: u32, name: &str, groups: &[(u32, &str)]) -> Caller {
    Caller {
        uid: Some(uid),
        user: Some(name.into()),
        gids: groups.iter().map(|g| g.0).collect(),
        groups: groups.iter().map(|g| g.1.to_string()).collect(),
        address: None,
    }
}

/// The pipe's ACL from the SCM seed: guests and anonymous out, authenticated users read
/// and write, administrators everything. The deny entries come last on purpose.
fn seed() -> Acl {
    acl(&[
        "allow authenticated read,write",
        "allow group:admins all",
        "allow group:ops control",
        "deny group:guests all",
        "deny anonymous all",
    ])
}

#[test]
fn a_deny_wins_whatever_its_place() {
    let guest = user(1001, "guest", &[(50, "guests")]);
    for right in Right::ALL {
        assert!(
            matches!(seed().check(&guest, right), Decision::Denied(_)),
            "{right}"
        );
    }
}

#[test]
fn authenticated_users_read_but_cannot_stop() {
    let alice = user(1000, "alice", &[(1000, "alice")]);
    let a = seed();
    assert!(a.allows(&alice, Right::Read));
    assert!(a.allows(&alice, Right::Write));
    assert_eq!(a.check(&alice, Right::Control), Decision::NotGranted);
    assert_eq!(a.check(&alice, Right::Admin), Decision::NotGranted);
}

#[test]
fn control_includes_read_and_admin_includes_both() {
    let ops = user(1002, "bob", &[(60, "ops")]);
    let a = seed();
    assert!(a.allows(&ops, Right::Control));
    assert!(!a.allows(&ops, Right::Admin));
    let admin = user(0, "root", &[(0, "root"), (70, "admins")]);
    for right in Right::ALL {
        assert!(a.allows(&admin, right), "{right}");
    }
    let only_admin = acl(&["allow uid:5 admin"]);
    let five = user(5, "five", &[]);
    assert!(only_admin.allows(&five, Right::Read));
    assert!(only_admin.allows(&five, Right::Control));
    assert!(!only_admin.allows(&five, Right::Write));
}

#[test]
fn a_denied_read_denies_what_includes_reading() {
    let a = acl(&["allow everyone all", "deny gid:60 read"]);
    let ops = user(1002, "bob", &[(60, "ops")]);
    assert!(!a.allows(&ops, Right::Read));
    assert!(!a.allows(&ops, Right::Control));
    assert!(!a.allows(&ops, Right::Admin));
    assert!(a.allows(&ops, Right::Write));
    // Denying control leaves reading alone.
    let a = acl(&["allow everyone all", "deny user:bob control"]);
    assert!(a.allows(&ops, Right::Read));
    assert!(!a.allows(&ops, Right::Control));
    assert!(!a.allows(&ops, Right::Admin));
}

#[test]
fn anonymous_is_the_caller_without_an_identity() {
    let a = acl(&["allow authenticated read", "allow anonymous write"]);
    let nobody = Caller::anonymous();
    assert!(!a.allows(&nobody, Right::Read));
    assert!(a.allows(&nobody, Right::Write));
    assert!(matches!(
        seed().check(&nobody, Right::Read),
        Decision::Denied(_)
    ));
}

#[test]
fn no_entry_means_no_access() {
    let alice = user(1000, "alice", &[]);
    for right in Right::ALL {
        assert_eq!(Acl::default().check(&alice, right), Decision::NotGranted);
    }
}

#[test]
fn entries_read_back_as_written() {
    for text in [
        "allow group:ops control",
        "deny uid:0 read,write",
        "allow authenticated read",
        "deny everyone admin",
        "allow gid:7 read,control,admin,write",
    ] {
        assert_eq!(parse_entry(text).unwrap().to_string(), text);
    }
    // Spaces and commas both separate rights; repeats collapse; `all` is every right.
    let e = parse_entry("  allow   user:alice  read, write,read ").unwrap();
    assert_eq!(e.named, [Right::Read, Right::Write]);
    assert_eq!(parse_entry("deny anonymous all").unwrap().named, Right::ALL);
}

/// The error's message and the text under its range.
fn refused(text: &str) -> (String, String) {
    let e = parse_entry(text).unwrap_err();
    (e.message, text[e.start..e.end].to_string())
}

#[test]
fn bad_entries_point_at_the_word_at_fault() {
    assert_eq!(
        refused("alow group:ops read"),
        (
            "an ACL entry starts with `allow` or `deny`, not `alow`".into(),
            "alow".into()
        )
    );
    assert_eq!(
        refused("allow grp:ops read"),
        ("unknown principal kind `grp:`".into(), "grp:ops".into())
    );
    assert_eq!(
        refused("allow group:ops read,frob"),
        ("unknown right `frob`".into(), "frob".into())
    );
    assert_eq!(
        refused("deny uid:abc read"),
        ("`uid:` takes a number, not `abc`".into(), "uid:abc".into())
    );
    assert_eq!(
        refused("allow group:ops"),
        (
            "`group:ops` needs the rights it is about after it".into(),
            "group:ops".into()
        )
    );
    assert_eq!(
        refused("allow user: read"),
        (
            "`user:` needs a value after the colon".into(),
            "user:".into()
        )
    );
    assert_eq!(refused("   ").0, "an empty ACL entry");
    assert!(parse_entry("allow").unwrap_err().help.is_some());
}

fn principal() -> impl Strategy<Value = Principal> {
    prop_oneof![
        (0u32..4).prop_map(|n| Principal::User(format!("u{n}"))),
        (0u32..4).prop_map(Principal::Uid),
        (0u32..4).prop_map(|n| Principal::Group(format!("g{n}"))),
        (0u32..4).prop_map(Principal::Gid),
        Just(Principal::Authenticated),
        Just(Principal::Anonymous),
        Just(Principal::Everyone),
    ]
}

fn right() -> impl Strategy<Value = Right> {
    prop::sample::select(Right::ALL.to_vec())
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        prop::bool::ANY,
        principal(),
        prop::collection::vec(right(), 1..3),
    )
        .prop_map(|(allow, p, mut rights)| {
            rights.dedup();
            let kind = if allow { Kind::Allow } else { Kind::Deny };
            Entry::new(kind, p, rights)
        })
}

fn caller() -> impl Strategy<Value = Caller> {
    prop_oneof![
        Just(Caller::anonymous()),
        (0u32..4, prop::collection::vec(0u32..4, 0..3)).prop_map(|(u, gs)| Caller {
            uid: Some(u),
            user: Some(format!("u{u}")),
            gids: gs.clone(),
            groups: gs.iter().map(|g| format!("g{g}")).collect(),
            address: None,
        }),
    ]
}

proptest! {
    #[test]
    fn a_matching_deny_always_wins(
        entries in prop::collection::vec(entry(), 0..8),
        c in caller(),
        r in right(),
        at in 0usize..9,
    ) {
        let mut a = Acl { entries };
        let deny = Entry::new(Kind::Deny, Principal::Everyone, vec![r]);
        let at = at.min(a.entries.len());
        a.entries.insert(at, deny);
        prop_assert!(!a.allows(&c, r));
    }

    #[test]
    fn order_does_not_matter(
        entries in prop::collection::vec(entry(), 0..8),
        c in caller(),
        r in right(),
    ) {
        let a = Acl { entries: entries.clone() };
        let mut reversed = entries;
        reversed.reverse();
        let b = Acl { entries: reversed };
        prop_assert_eq!(a.allows(&c, r), b.allows(&c, r));
    }

    #[test]
    fn an_allow_never_takes_access_away(
        entries in prop::collection::vec(entry(), 0..8),
        extra in entry(),
        c in caller(),
        r in right(),
    ) {
        let before = Acl { entries: entries.clone() }.allows(&c, r);
        let mut more = entries;
        more.push(Entry::new(Kind::Allow, extra.principal, extra.named));
        let after = Acl { entries: more }.allows(&c, r);
        prop_assert!(!before || after);
    }

    #[test]
    fn what_is_printed_parses_back(e in entry()) {
        prop_assert_eq!(parse_entry(&e.to_string()).unwrap(), e);
    }

    #[test]
    fn any_text_parses_or_says_where(text in "\\PC{0,40}") {
        if let Err(e) = parse_entry(&text) {
            prop_assert!(e.start <= e.end && e.end <= text.len());
            prop_assert!(text.is_char_boundary(e.start) && text.is_char_boundary(e.end));
        }
    }
}
