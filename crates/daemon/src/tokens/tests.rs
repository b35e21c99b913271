use std::os::unix::fs::PermissionsExt;

use super::*;

const H1: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn parse(text: &str) -> Result<Tokens, Diagnostics> {
    Tokens::parse(text, "/etc/steward/tokens")
}

#[test]
fn generate_line_parse_identify_round_trip() {
    let (token, hash) = generate();
    assert!(token.starts_with("stw_"), "{token}");
    assert_eq!(token.len(), 4 + 43);
    assert!(
        token[4..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
    assert_eq!(hash, super::hash(&token));
    assert_ne!(generate().0, token);
    let id = TokenIdentity {
        name: "alice".into(),
        groups: vec!["ops".into(), "deploy".into()],
    };
    let line = id.line(&hash);
    assert_eq!(line, format!("alice ops,deploy {hash}"));
    let none = TokenIdentity {
        name: "ci".into(),
        groups: vec![],
    };
    let (t2, h2) = generate();
    let t = parse(&format!("{line}\n{}\n", none.line(&h2))).unwrap();
    assert_eq!(t.identify(&token), Some(&id));
    assert_eq!(t.identify(&t2), Some(&none));
}

fn file_with_mode(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    (dir, path)
}

#[test]
fn load_refuses_a_file_others_may_read_or_write() {
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660] {
        let (_dir, path) = file_with_mode(&format!("alice ops {H1}\n"), mode);
        let err = load(&path).unwrap_err();
        assert!(matches!(err, TokensError::Mode { mode: m, .. } if m == mode));
        let text = err.to_string();
        assert!(text.contains(&format!("mode {mode:04o}")), "{text}");
        assert!(
            text.contains(&format!("chmod 600 {}", path.display())),
            "{text}"
        );
    }
}

#[test]
fn load_accepts_a_file_only_its_owner_may_read() {
    for mode in [0o600, 0o400] {
        let (_dir, path) = file_with_mode(&format!("alice ops {H1}\n"), mode);
        let t = load(&path).unwrap();
        assert_eq!(t.len(), 1);
    }
}

#[test]
fn load_refuses_a_file_of_another_user() {
    if !nix::unistd::geteuid().is_root() {
        return; // only root can give a file away
    }
    let (_dir, path) = file_with_mode(&format!("alice ops {H1}\n"), 0o600);
    std::os::unix::fs::chown(&path, Some(4321), None).unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, TokensError::Owner { owner: 4321, .. }),
        "{err}"
    );
}

#[test]
fn load_names_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = load(&missing).unwrap_err().to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, TokensError::NotAFile { .. }), "{err}");
    let (_d, path) = file_with_mode("", 0o600);
    std::fs::write(&path, b"# ok\nalice \xff\n").unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, TokensError::NotUtf8 { line: 2, .. }), "{err}");
}

#[test]
fn load_reports_the_diagnostics_with_the_path() {
    let (_dir, path) = file_with_mode("alice\n", 0o600);
    let err = load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:1:1: error:", path.display())),
        "{err}"
    );
}
