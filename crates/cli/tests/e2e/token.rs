//! `steward token new`, and what it prints read back by the daemon's tokens file parser.

use std::os::unix::fs::PermissionsExt;

use steward_daemon::tokens;

use crate::harness::steward;

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn token_new_prints_a_token_and_its_line_for_the_tokens_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    let mut lines = String::from("# tokens for the TCP API\n");
    let mut tokens = Vec::new();
    for args in [
        &["--name", "alice", "--groups", "ops,deploy"][..],
        &["--name", "ci.runner"],
        &["--name", "bob", "--groups", "-"],
    ] {
        let out = steward(&[&["token", "new"][..], args].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        // The token alone on stdout; the comment and the line on stderr.
        let stdout = text(&out.stdout);
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let token = stdout.trim_end().to_string();
        assert!(token.starts_with("stw_") && token.len() == 47, "{token}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("# append to the tokens file (mode 0600):\n"),
            "{stderr}"
        );
        lines.push_str(&stderr);
        tokens.push(token);
    }
    std::fs::write(&file, &lines).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let loaded = tokens::load(&file).unwrap();
    assert_eq!(loaded.len(), 3, "{lines}");
    let alice = loaded.identify(&tokens[0]).unwrap();
    assert_eq!(
        (alice.name.as_str(), alice.groups.clone()),
        ("alice", vec!["ops".to_string(), "deploy".to_string()])
    );
    let ci = loaded.identify(&tokens[1]).unwrap();
    assert_eq!((ci.name.as_str(), ci.groups.len()), ("ci.runner", 0));
    assert_eq!(loaded.identify(&tokens[2]).unwrap().name, "bob");
    assert!(loaded.identify("stw_not-a-token").is_none());
}

#[test]
fn token_new_json_and_refusals() {
    let out = steward(&["token", "new", "--name", "web", "--groups", "ops", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = v["token"].as_str().unwrap();
    let line = v["line"].as_str().unwrap();
    assert!(line.starts_with("web ops sha256:"), "{line}");
    let parsed = tokens::Tokens::parse(line, "tokens").unwrap();
    assert_eq!(parsed.identify(token).unwrap().name, "web");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    for (args, error) in [
        (&["--name", "a b"][..], "steward: --name: `a b` holds ` `"),
        (
            &["--name", "x", "--groups", "ops,,dev"],
            "steward: --groups: an empty group name",
        ),
        (&["--name", &"n".repeat(65)], "steward: --name: `nnnn"),
    ] {
        let out = steward(&[&["token", "new"][..], args].concat());
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "no token for a refused name");
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with(error), "{stderr}");
    }
}
