//! A child's environment. steward's own environment may hold what is meant for steward
//! alone (tokens, its manager's variables), so a child gets only the variables `pass_env`
//! allows, as systemd does; then its account's `HOME`, `USER` and `LOGNAME`, then
//! `env_file`, then `env`, then steward's own variables for it. A later source wins.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use steward_core::config::ProcessSpec;
use steward_core::env::passes;

use super::spawn::DEFAULT_PATH;

/// steward's own protocol variables, as an outer systemd may have set them for steward:
/// never passed on, whatever `pass_env` says, or a service would talk to steward's manager.
const PROTOCOL_ENV: [&str; 6] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

/// The account variables, set for the user the process runs as.
const ACCOUNT_ENV: [&str; 3] = ["HOME", "USER", "LOGNAME"];

/// Who the process runs as, for `HOME`, `USER` and `LOGNAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    pub home: OsString,
}

/// The sources of a child's environment, in the order they apply.
pub struct Sources<'a> {
    /// steward's own environment.
    pub own: Vec<(OsString, OsString)>,
    pub process: &'a ProcessSpec,
    /// The variables of `env_file`, as read at this start.
    pub file: &'a [(String, String)],
    /// `None` when the account is unknown (no passwd entry): steward's own `HOME`, `USER`
    /// and `LOGNAME` are kept then, as the best guess of who the process is.
    pub account: Option<&'a Account>,
    /// steward's variables for this process (`STEWARD_SERVICE`...), which the config
    /// cannot override.
    pub extra: &'a [(&'a str, String)],
}

/// The environment, sorted by name.
pub fn build(s: Sources<'_>) -> Vec<(OsString, OsString)> {
    let keep_account = s.account.is_none();
    let mut env: BTreeMap<OsString, OsString> = s
        .own
        .into_iter()
        .filter(|(k, _)| {
            let name = k.as_bytes();
            !PROTOCOL_ENV.iter().any(|p| name == p.as_bytes())
                && (passes(&s.process.pass_env, name)
                    || (keep_account && ACCOUNT_ENV.iter().any(|a| name == a.as_bytes())))
        })
        .collect();
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    if let Some(account) = s.account {
        env.insert("HOME".into(), account.home.clone());
        env.insert("USER".into(), account.user.clone().into());
        env.insert("LOGNAME".into(), account.user.clone().into());
    }
    for (k, v) in s.file {
        env.insert(k.into(), v.into());
    }
    for (k, v) in &s.process.env {
        env.insert(k.into(), v.into());
    }
    for (k, v) in s.extra {
        env.insert(k.into(), v.into());
    }
    env.into_iter().collect()
}

/// The `PATH` a start gives `process` (and searches its program in), and where it comes
/// from, for messages: `env.PATH`, else `env_file`'s, else steward's own when `pass_env`
/// passes it, else [`DEFAULT_PATH`].
pub fn search_path(
    process: &ProcessSpec,
    file: &[(String, String)],
    own: Option<&OsStr>,
) -> (OsString, String) {
    if let Some(path) = process.env.get("PATH") {
        return (path.into(), "from `env.PATH`".into());
    }
    if let Some((_, path)) = file.iter().rev().find(|(k, _)| k == "PATH") {
        let origin = match &process.env_file {
            Some(f) => format!("from {}", f.display()),
            None => "from `env_file`".into(),
        };
        return (path.into(), origin);
    }
    let (path, origin) = match own {
        Some(path) if passes(&process.pass_env, b"PATH") => (path.into(), "steward's own"),
        Some(_) => (
            DEFAULT_PATH.into(),
            "the default, as `pass_env` leaves out PATH",
        ),
        None => (DEFAULT_PATH.into(), "the default, as steward has none"),
    };
    (path, origin.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    /// steward's environment in these tests.
    fn own() -> Vec<(OsString, OsString)> {
        vars(&[
            ("PATH", "/usr/bin:/bin"),
            ("LANG", "C.UTF-8"),
            ("LC_TIME", "C"),
            ("LC_ALL", "C"),
            ("TERM", "xterm"),
            ("HOME", "/root"),
            ("USER", "root"),
            ("SECRET_TOKEN", "x"),
            ("MY_APP_MODE", "fast"),
            ("NOTIFY_SOCKET", "/run/systemd/notify"),
            ("LISTEN_FDS", "2"),
        ])
    }

    fn web() -> Account {
        Account {
            user: "web".into(),
            home: "/srv/web".into(),
        }
    }

    fn build_with(process: &ProcessSpec, file: &[(String, String)]) -> Vec<(String, String)> {
        let account = web();
        let extra = [("STEWARD_SERVICE", "web".to_string())];
        build(Sources {
            own: own(),
            process,
            file,
            account: Some(&account),
            extra: &extra,
        })
        .into_iter()
        .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
        .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_allow_list_passes_locale_and_path_only() {
        let got = build_with(&ProcessSpec::default(), &[]);
        let want = pairs(&[
            ("HOME", "/srv/web"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("LC_TIME", "C"),
            ("LOGNAME", "web"),
            ("PATH", "/usr/bin:/bin"),
            ("STEWARD_SERVICE", "web"),
            ("TERM", "xterm"),
            ("USER", "web"),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn names_and_prefixes_pass_and_protocol_variables_never_do() {
        let process = ProcessSpec {
            pass_env: vec!["MY_*".into(), "SECRET_TOKEN".into(), "NOTIFY_*".into()],
            ..ProcessSpec::default()
        };
        let got = build_with(&process, &[]);
        let names: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "HOME",
                "LOGNAME",
                "MY_APP_MODE",
                "PATH",
                "SECRET_TOKEN",
                "STEWARD_SERVICE",
                "USER"
            ]
        );
        // PATH was not passed: the default fills in.
        let path = &got.iter().find(|(k, _)| k == "PATH").unwrap().1;
        assert_eq!(path, DEFAULT_PATH);
        // `*` passes everything but the protocol variables.
        let all = ProcessSpec {
            pass_env: vec!["*".into()],
            ..ProcessSpec::default()
        };
        let got = build_with(&all, &[]);
        assert!(got.iter().any(|(k, _)| k == "SECRET_TOKEN"));
        assert!(
            !got.iter()
                .any(|(k, _)| k == "NOTIFY_SOCKET" || k == "LISTEN_FDS")
        );
    }

    #[test]
    fn env_file_then_env_override_and_steward_has_the_last_word() {
        let process = ProcessSpec {
            env: [
                ("HOME", "/custom"),
                ("LANG", "de_DE.UTF-8"),
                ("STEWARD_SERVICE", "spoofed"),
                ("A", "env"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..ProcessSpec::default()
        };
        let file = pairs(&[("A", "file"), ("B", "file"), ("USER", "file-user")]);
        let got = build_with(&process, &file);
        let get = |k: &str| got.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("env"));
        assert_eq!(get("B"), Some("file"));
        assert_eq!(get("HOME"), Some("/custom"));
        assert_eq!(get("USER"), Some("file-user"));
        assert_eq!(get("LOGNAME"), Some("web"));
        assert_eq!(get("LANG"), Some("de_DE.UTF-8"));
        assert_eq!(get("STEWARD_SERVICE"), Some("web"));
    }

    #[test]
    fn without_an_account_stewards_own_home_and_user_are_kept() {
        let process = ProcessSpec::default();
        let got: Vec<(OsString, OsString)> = build(Sources {
            own: own(),
            process: &process,
            file: &[],
            account: None,
            extra: &[],
        });
        let names: Vec<&str> = got.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert!(
            names.contains(&"HOME") && names.contains(&"USER"),
            "{names:?}"
        );
        assert!(!names.contains(&"LOGNAME") && !names.contains(&"SECRET_TOKEN"));
    }

    #[test]
    fn steward_without_path_gives_the_default() {
        let process = ProcessSpec::default();
        let got = build(Sources {
            own: vars(&[("LANG", "C")]),
            process: &process,
            file: &[],
            account: None,
            extra: &[],
        });
        assert!(got.contains(&("PATH".into(), DEFAULT_PATH.into())));
    }

    #[test]
    fn the_search_path_follows_the_same_order() {
        let mut process = ProcessSpec::default();
        let own = Some(OsStr::new("/own"));
        assert_eq!(
            search_path(&process, &[], own),
            ("/own".into(), "steward's own".to_string())
        );
        assert_eq!(search_path(&process, &[], None).0, DEFAULT_PATH);
        let file = pairs(&[("PATH", "/file")]);
        assert_eq!(search_path(&process, &file, own).0, "/file");
        process.env.insert("PATH".into(), "/env".into());
        assert_eq!(search_path(&process, &file, own).0, "/env");
        let narrow = ProcessSpec {
            pass_env: vec!["LANG".into()],
            ..ProcessSpec::default()
        };
        assert_eq!(search_path(&narrow, &[], own).0, DEFAULT_PATH);
    }
}
