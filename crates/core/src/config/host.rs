//! Checks of a valid config against the machine it will run on: does the program exist and
//! can it be executed, do the users and groups exist, is `working_dir` a directory, can
//! `env_file` be read (and would a start accept its lines).
//!
//! The core does no I/O, so the machine is behind the [`Host`] trait: the daemon implements
//! it with real lookups, tests with a table. The parser records where each value that needs
//! the machine was written ([`Reference`], from [`super::parse_with_references`]), and
//! [`check`] asks the host about each one and points every problem at that value, so a
//! missing program is reported at `command[0]` and an unknown user at the `user` string.
//!
//! The rule that only root can run a process as another user or group, or raise a hard
//! resource limit above steward's own, is decided here, from the ids and limits the host
//! reports, with the same comparison the spawner makes.
//!
//! A service's endpoint is checked too: the group of a Unix socket exists, and so does the
//! directory the socket goes in.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use super::model::{Config, EndpointSpec, ProcessSpec};
use crate::diagnostic::Diagnostic;
use crate::endpoint::Address;
use crate::rlimit::{Bound, Resource};

/// Whose value a [`Reference`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// `[service.NAME]`.
    Service(String),
    /// The `[[task]]` with this `name`.
    Task(String),
    /// `[control]`.
    Control,
    /// `[http]`.
    Http,
}

impl Owner {
    /// The process spec of this owner in `config`, if it has one.
    fn process<'c>(&self, config: &'c Config) -> Option<&'c ProcessSpec> {
        match self {
            Owner::Service(name) => config.services.get(name).map(|s| &s.process),
            Owner::Task(name) => config
                .tasks
                .iter()
                .find(|t| &t.name == name)
                .map(|t| &t.process),
            Owner::Control | Owner::Http => None,
        }
    }

    /// "a service" or "a task", for messages.
    fn what(&self) -> &'static str {
        match self {
            Owner::Service(_) => "a service",
            Owner::Task(_) => "a task",
            Owner::Control | Owner::Http => "steward",
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Service(name) => write!(f, "service `{name}`"),
            Owner::Task(name) => write!(f, "task `{name}`"),
            Owner::Control => f.write_str("`[control]`"),
            Owner::Http => f.write_str("`[http]`"),
        }
    }
}

/// Which value a [`Reference`] points at: one of a [`ProcessSpec`], or of `[control]` and
/// `[http]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `command[0]`.
    Program,
    User,
    Group,
    /// `supplementary_groups[i]`.
    SupplementaryGroup(usize),
    WorkingDir,
    EnvFile,
    /// `limits.NAME`.
    Limit(Resource),
    /// `[control] socket_group`.
    SocketGroup,
    /// `[http] tokens_file`.
    TokensFile,
    /// `[http] tls_cert`.
    TlsCert,
    /// `[http] tls_key`.
    TlsKey,
    /// A service's `endpoint.socket_group`.
    EndpointSocketGroup,
    /// A service's `endpoint.listen`, when it is a Unix socket: its directory.
    ListenDirectory,
}

/// Where one value that needs the machine to be checked was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub owner: Owner,
    pub field: Field,
    /// Byte range of the value in the source (of the first element, for `command`).
    pub span: Range<usize>,
}

/// What the host found wrong with one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }
}

/// The machine, as far as a config check needs it.
pub trait Host {
    /// steward's own uid.
    fn uid(&self) -> u32;
    /// steward's own gid.
    fn gid(&self) -> u32;
    /// Whether `process.command[0]` can be executed, found the way the spawner finds it
    /// (with `process`'s `PATH` and `working_dir`). The problem says whether it was not
    /// found, is not executable, or is a directory.
    fn program(&self, process: &ProcessSpec) -> Result<(), Problem>;
    /// The uid of user `name`.
    fn user(&self, name: &str) -> Result<u32, Problem>;
    /// The gid of group `name`.
    fn group(&self, name: &str) -> Result<u32, Problem>;
    /// Whether the `working_dir` `path` exists and is a directory.
    fn working_dir(&self, path: &Path) -> Result<(), Problem>;
    /// Whether the `env_file` `path` exists and can be read as a start reads it.
    fn env_file(&self, path: &Path) -> Result<(), Problem>;
    /// steward's own hard limit of `resource`.
    fn hard_limit(&self, resource: Resource) -> Bound;
    /// Whether the tokens file can be read, is private enough and holds valid lines.
    fn tokens_file(&self, _path: &Path) -> Result<(), Problem> {
        Ok(())
    }
    /// Whether `cert` holds a PEM certificate chain.
    fn tls_cert(&self, _cert: &Path) -> Result<(), Problem> {
        Ok(())
    }
    /// Whether `key` holds a PEM private key that matches `cert`.
    fn tls_key(&self, _cert: &Path, _key: &Path) -> Result<(), Problem> {
        Ok(())
    }
    /// Whether `dir`, where a Unix endpoint's socket goes, exists and is a directory.
    fn socket_dir(&self, _dir: &Path) -> Result<(), Problem> {
        Ok(())
    }
}

/// Asks `host` about every reference and returns the problems, sorted by position, each
/// pointing at its value in `source`. A reference whose owner or value is not in `config`
/// is skipped.
pub fn check(
    config: &Config,
    references: &[Reference],
    host: &dyn Host,
    file: &str,
    source: &str,
) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = references
        .iter()
        .filter_map(|r| {
            let problem = match (&r.owner, r.field) {
                (Owner::Control | Owner::Http, _) => access_problem(r, config, host)?,
                (Owner::Service(name), Field::EndpointSocketGroup | Field::ListenDirectory) => {
                    let endpoint = config.services.get(name)?.endpoint.as_ref()?;
                    endpoint_problem(r, endpoint, host)?
                }
                _ => problem(r, r.owner.process(config)?, host)?,
            };
            Some(Diagnostic::new(
                file,
                source,
                r.span.clone(),
                problem.message,
                problem.help,
            ))
        })
        .collect();
    out.sort_by_key(|d| (d.span.start, d.span.end));
    out
}

/// The host's verdict on one reference; `None` when the value is fine (or not there).
fn problem(r: &Reference, process: &ProcessSpec, host: &dyn Host) -> Option<Problem> {
    let verdict = match r.field {
        Field::Program => {
            process.command.first()?;
            host.program(process)
        }
        Field::User => {
            let name = process.user.as_deref()?;
            host.user(name).and_then(|uid| {
                let own = host.uid();
                if own == 0 || uid == own {
                    return Ok(());
                }
                Err(Problem::new(format!(
                    "steward runs as uid {own}, not root: it cannot run {} as user `{name}` \
                     (uid {uid})",
                    r.owner.what()
                ))
                .with_help(format!(
                    "start steward as root, or remove `user` to run {} as uid {own}",
                    r.owner
                )))
            })
        }
        Field::Group => {
            let name = process.group.as_deref()?;
            host.group(name).and_then(|gid| {
                let (own_uid, own) = (host.uid(), host.gid());
                if own_uid == 0 || gid == own {
                    return Ok(());
                }
                Err(Problem::new(format!(
                    "steward runs as uid {own_uid} (gid {own}), not root: it cannot run {} \
                     with group `{name}` (gid {gid})",
                    r.owner.what()
                ))
                .with_help(format!(
                    "start steward as root, or remove `group` to run {} with gid {own}",
                    r.owner
                )))
            })
        }
        Field::SupplementaryGroup(i) => {
            let name = process.supplementary_groups.as_ref()?.get(i)?;
            host.group(name).and_then(|gid| {
                // setgroups(2) needs root: the spawner would leave steward's own groups.
                let own = host.uid();
                if own == 0 || i > 0 {
                    return Ok(());
                }
                Err(Problem::new(format!(
                    "steward runs as uid {own}, not root: it cannot give {} supplementary \
                     groups (`{name}` is gid {gid})",
                    r.owner.what()
                ))
                .with_help(format!(
                    "start steward as root, or remove `supplementary_groups` from {}",
                    r.owner
                )))
            })
        }
        Field::WorkingDir => host.working_dir(process.working_dir.as_deref()?),
        Field::EnvFile => host.env_file(process.env_file.as_deref()?),
        Field::Limit(resource) => {
            let wanted = process.limits.get(&resource)?.hard;
            let (own_uid, own) = (host.uid(), host.hard_limit(resource));
            if own_uid == 0 || wanted <= own {
                return None;
            }
            Err(Problem::new(format!(
                "steward runs as uid {own_uid}, not root: it cannot give {} a hard limit \
                 `{resource}` of {wanted}, above its own ({own})",
                r.owner.what()
            ))
            .with_help(format!(
                "start steward as root, or set `limits.{resource}` to at most {own}"
            )))
        }
        Field::SocketGroup
        | Field::TokensFile
        | Field::TlsCert
        | Field::TlsKey
        | Field::EndpointSocketGroup
        | Field::ListenDirectory => return None,
    };
    verdict.err()
}

/// The host's verdict on a value of a service's endpoint.
fn endpoint_problem(r: &Reference, endpoint: &EndpointSpec, host: &dyn Host) -> Option<Problem> {
    let verdict = match r.field {
        Field::EndpointSocketGroup => host.group(endpoint.socket_group.as_deref()?).map(drop),
        Field::ListenDirectory => match &endpoint.listen {
            Address::Unix(path) => host.socket_dir(path.parent()?),
            Address::Tcp(_) => return None,
        },
        _ => return None,
    };
    verdict.err()
}

/// The host's verdict on a value of `[control]` or `[http]`.
fn access_problem(r: &Reference, config: &Config, host: &dyn Host) -> Option<Problem> {
    let http = config.http.as_ref();
    let tls = http.and_then(|h| h.tls.as_ref());
    let verdict = match r.field {
        Field::SocketGroup => host
            .group(config.control.socket_group.as_deref()?)
            .map(drop),
        Field::TokensFile => host.tokens_file(http?.tokens_file.as_deref()?),
        Field::TlsCert => host.tls_cert(&tls?.cert),
        Field::TlsKey => host.tls_key(&tls?.cert, &tls?.key),
        _ => return None,
    };
    verdict.err()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::config::parse_with_references;

    /// A machine described by tables.
    struct Fake {
        uid: u32,
        gid: u32,
        /// Programs that can be executed, by `command[0]`.
        programs: Vec<&'static str>,
        users: BTreeMap<&'static str, u32>,
        groups: BTreeMap<&'static str, u32>,
        directories: Vec<PathBuf>,
        files: Vec<PathBuf>,
    }

    impl Fake {
        fn new() -> Fake {
            Fake {
                uid: 0,
                gid: 0,
                programs: vec!["server", "/bin/true"],
                users: [("root", 0), ("web", 100)].into(),
                groups: [("root", 0), ("web", 100), ("ssl-cert", 101)].into(),
                directories: vec!["/srv".into()],
                files: vec!["/etc/steward/web.env".into()],
            }
        }
    }

    impl Host for Fake {
        fn uid(&self) -> u32 {
            self.uid
        }

        fn gid(&self) -> u32 {
            self.gid
        }

        fn program(&self, process: &ProcessSpec) -> Result<(), Problem> {
            let program = process.command[0].as_str();
            if self.programs.contains(&program) {
                Ok(())
            } else {
                Err(Problem::new(format!("command not found: `{program}`"))
                    .with_help("give the full path"))
            }
        }

        fn user(&self, name: &str) -> Result<u32, Problem> {
            self.users
                .get(name)
                .copied()
                .ok_or_else(|| Problem::new(format!("user `{name}` does not exist")))
        }

        fn group(&self, name: &str) -> Result<u32, Problem> {
            self.groups
                .get(name)
                .copied()
                .ok_or_else(|| Problem::new(format!("group `{name}` does not exist")))
        }

        fn working_dir(&self, path: &Path) -> Result<(), Problem> {
            match self.directories.iter().any(|d| d == path) {
                true => Ok(()),
                false => Err(Problem::new(format!(
                    "{} is not a directory",
                    path.display()
                ))),
            }
        }

        fn env_file(&self, path: &Path) -> Result<(), Problem> {
            match self.files.iter().any(|f| f == path) {
                true => Ok(()),
                false => Err(Problem::new(format!("cannot read {}", path.display()))),
            }
        }

        fn hard_limit(&self, resource: Resource) -> Bound {
            match resource {
                Resource::Nofile => Bound::Finite(4096),
                _ => Bound::Infinity,
            }
        }

        fn socket_dir(&self, dir: &Path) -> Result<(), Problem> {
            match self.directories.iter().any(|d| d == dir) {
                true => Ok(()),
                false => Err(Problem::new(format!("no directory {}", dir.display()))),
            }
        }
    }

    const FILE: &str = "/etc/steward/steward.toml";

    /// (line, column, message, help) of every problem `host` finds in `src`.
    fn problems(src: &str, host: &Fake) -> Vec<(usize, usize, String, Option<String>)> {
        let (config, references) = match parse_with_references(FILE, src) {
            Ok(parsed) => parsed,
            Err(d) => panic!("{d}"),
        };
        check(&config, &references, host, FILE, src)
            .into_iter()
            .map(|d| (d.line, d.column, d.message, d.help))
            .collect()
    }

    fn messages(src: &str, host: &Fake) -> Vec<(usize, usize, String)> {
        problems(src, host)
            .into_iter()
            .map(|(l, c, m, _)| (l, c, m))
            .collect()
    }

    #[test]
    fn a_config_the_machine_has_everything_for_has_no_problem() {
        let src = r#"
[[task]]
name = "prepare"
command = ["/bin/true"]
user = "root"

[service.web]
command = ["server", "--port", "80"]
user = "web"
group = "web"
supplementary_groups = ["ssl-cert"]
working_dir = "/srv"
env_file = "web.env"
"#;
        assert_eq!(problems(src, &Fake::new()), []);
    }

    #[test]
    fn each_problem_points_at_its_value() {
        let src = r#"
[[task]]
name = "prepare"
command = ["prepare", "--all"]
working_dir = "/nowhere"

[service.web]
command = [ "web-server", "--port", "80"]
user = "nobody"
group = "wheel"
supplementary_groups = ["ssl-cert", "audio"]
working_dir = "/srv"
env_file = "secrets.env"
"#;
        let got = messages(src, &Fake::new());
        let want = [
            (4, 12, "command not found: `prepare`"),
            (5, 15, "/nowhere is not a directory"),
            (8, 13, "command not found: `web-server`"),
            (9, 8, "user `nobody` does not exist"),
            (10, 9, "group `wheel` does not exist"),
            (11, 37, "group `audio` does not exist"),
            (13, 12, "cannot read /etc/steward/secrets.env"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(l, c, m)| (*l, *c, m.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn the_hosts_help_is_kept() {
        let src = "[service.a]\ncommand = [\"missing\"]\n";
        let got = problems(src, &Fake::new());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].3.as_deref(), Some("give the full path"));
    }

    #[test]
    fn only_root_runs_a_process_as_another_user_or_group() {
        let src = r#"
[service.a]
command = ["server"]
user = "root"
group = "root"

[service.b]
command = ["server"]
user = "web"
supplementary_groups = ["root"]

[[task]]
name = "t"
command = ["server"]
user = "web"
"#;
        let host = Fake {
            uid: 100,
            gid: 100,
            ..Fake::new()
        };
        let got = problems(src, &host);
        let lines: Vec<_> = got.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(lines, [(4, 8), (5, 9), (10, 25)], "{got:#?}");
        assert_eq!(
            got[2].2,
            "steward runs as uid 100, not root: it cannot give a service supplementary groups \
             (`root` is gid 0)"
        );
        assert_eq!(
            got[0].2,
            "steward runs as uid 100, not root: it cannot run a service as user `root` (uid 0)"
        );
        assert_eq!(
            got[0].3.as_deref(),
            Some("start steward as root, or remove `user` to run service `a` as uid 100")
        );
        assert_eq!(
            got[1].2,
            "steward runs as uid 100 (gid 100), not root: it cannot run a service with group \
             `root` (gid 0)"
        );

        // The same file as another non-root user: now `web` is someone else too.
        let host = Fake {
            uid: 1000,
            gid: 1000,
            ..Fake::new()
        };
        let got = messages(src, &host);
        assert_eq!(got.len(), 5, "{got:#?}");
        assert_eq!(
            got[4].2,
            "steward runs as uid 1000, not root: it cannot run a task as user `web` (uid 100)"
        );

        // As root, anyone.
        assert_eq!(problems(src, &Fake::new()), []);
    }

    #[test]
    fn only_root_raises_a_hard_limit_above_its_own() {
        let src = r#"
[service.a]
command = ["server"]
limits = { nofile = 4096, core = "infinity", nproc = [10, 20] }

[service.b]
command = ["server"]
limits = { nofile = [1024, 8192] }

[[task]]
name = "t"
command = ["server"]
limits = { nofile = "infinity" }
"#;
        let host = Fake {
            uid: 100,
            gid: 100,
            ..Fake::new()
        };
        let got = problems(src, &host);
        let at: Vec<_> = got.iter().map(|p| (p.0, p.1, p.2.as_str())).collect();
        assert_eq!(
            at,
            [
                (
                    8,
                    21,
                    "steward runs as uid 100, not root: it cannot give a service a hard limit \
                     `nofile` of 8192, above its own (4096)"
                ),
                (
                    13,
                    21,
                    "steward runs as uid 100, not root: it cannot give a task a hard limit \
                     `nofile` of infinity, above its own (4096)"
                ),
            ]
        );
        assert_eq!(
            got[0].3.as_deref(),
            Some("start steward as root, or set `limits.nofile` to at most 4096")
        );
        // Root may raise any hard limit.
        assert_eq!(problems(src, &Fake::new()), []);
    }

    #[test]
    fn a_missing_user_is_reported_once_even_without_root() {
        let src = "[service.a]\ncommand = [\"server\"]\nuser = \"ghost\"\n";
        let host = Fake {
            uid: 1000,
            gid: 1000,
            ..Fake::new()
        };
        assert_eq!(
            messages(src, &host),
            [(3, 8, "user `ghost` does not exist".to_string())]
        );
    }

    #[test]
    fn an_endpoints_socket_directory_and_group_are_checked() {
        let src = r#"
[service.a]
command = ["server"]
endpoint = { listen = "unix:/srv/a.sock", socket_group = "web" }

[service.b]
command = ["server"]
endpoint = { listen = "unix:/run/b.sock", socket_group = "nogroup" }

[service.c]
command = ["server"]
endpoint = { listen = "tcp:127.0.0.1:7000" }
"#;
        assert_eq!(
            messages(src, &Fake::new()),
            [
                (8, 23, "no directory /run".to_string()),
                (8, 58, "group `nogroup` does not exist".to_string()),
            ]
        );
    }

    #[test]
    fn references_to_what_is_not_in_the_config_are_skipped() {
        let src = "[service.a]\ncommand = [\"missing\"]\n";
        let (mut config, references) = parse_with_references(FILE, src).unwrap();
        config.services.clear();
        assert_eq!(check(&config, &references, &Fake::new(), FILE, src), []);
    }
}
