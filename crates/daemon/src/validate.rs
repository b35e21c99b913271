//! A config checked against this machine: the text first (`steward_core::config`), then
//! every program, user, group, `working_dir` and `env_file` it names, looked up the way a
//! start will look them up (see [`crate::process`]), and the directory and group of each
//! Unix endpoint socket.
//!
//! The machine's problems are kept apart from the text's, because callers weigh them
//! differently: `steward check` and a reload refuse the file, while `steward up` at boot only
//! warns, since with no older config to fall back to, refusing would take every service
//! down (the service then fails at its start, and its recovery policy applies).

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};
use steward_core::config::host::{self, Host, Problem};
use steward_core::config::{self, Config, ProcessSpec};
use steward_core::diagnostic::{Diagnostic, Diagnostics};

use steward_core::rlimit::{Bound, Resource};

use crate::process::{
    find_group, find_user, hard_limit, is_executable, read_env_file, resolve, search_path,
};

/// A config whose text is valid, and what this machine lacks to run it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub config: Config,
    /// Problems with programs, users, groups and paths, sorted by position; empty when the
    /// machine has everything.
    pub host: Vec<Diagnostic>,
}

impl Checked {
    /// The config, or the machine's problems for callers that treat them as errors.
    pub fn strict(self) -> Result<Config, Diagnostics> {
        if self.host.is_empty() {
            Ok(self.config)
        } else {
            Err(Diagnostics(self.host))
        }
    }
}

/// Parses and checks the config text `source` of `file` (see [`config::parse`]), then
/// checks it against this machine. `Err` when the text itself is invalid; the machine's
/// problems are in [`Checked::host`].
pub fn validate(file: &str, source: &str) -> Result<Checked, Diagnostics> {
    let (config, references) = config::parse_with_references(file, source)?;
    let host = host::check(&config, &references, &Machine, file, source);
    Ok(Checked { config, host })
}

/// The machine steward runs on: name service lookups and the file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct Machine;

impl Host for Machine {
    fn uid(&self) -> u32 {
        Uid::current().as_raw()
    }

    fn gid(&self) -> u32 {
        Gid::current().as_raw()
    }

    fn program(&self, process: &ProcessSpec) -> Result<(), Problem> {
        let Some(program) = process.command.first() else {
            return Ok(());
        };
        // An unreadable env_file is reported at `env_file`; search without it.
        let file = process
            .env_file
            .as_deref()
            .and_then(|f| read_env_file(f).ok())
            .unwrap_or_default();
        let own = std::env::var_os("PATH");
        let (search, origin) = search_path(process, &file, own.as_deref());
        let working_dir = process.working_dir.as_deref();
        match resolve(program, Some(&search), working_dir) {
            Ok(path) if program.contains('/') => program_file(program, &path, working_dir),
            Ok(_) => Ok(()),
            Err(_) => Err(not_in_path(program, &search, origin)),
        }
    }

    fn user(&self, name: &str) -> Result<u32, Problem> {
        match find_user(name) {
            Ok(Some(user)) => Ok(user.uid.as_raw()),
            Ok(None) => Err(Problem::new(format!("user `{name}` does not exist"))
                .with_help("create the user, or correct the name")),
            Err(e) => Err(Problem::new(e)),
        }
    }

    fn group(&self, name: &str) -> Result<u32, Problem> {
        match find_group(name) {
            Ok(Some(group)) => Ok(group.gid.as_raw()),
            Ok(None) => Err(Problem::new(format!("group `{name}` does not exist"))
                .with_help("create the group, or correct the name")),
            Err(e) => Err(Problem::new(e)),
        }
    }

    fn working_dir(&self, path: &Path) -> Result<(), Problem> {
        let shown = path.display();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Problem::new(format!(
                "working_dir {shown} is not a directory"
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Problem::new(format!("working_dir {shown} does not exist"))
                    .with_help(relative_help(path)))
            }
            Err(e) => Err(Problem::new(format!(
                "cannot access working_dir {shown}: {e}"
            ))),
        }
    }

    fn env_file(&self, path: &Path) -> Result<(), Problem> {
        let shown = path.display();
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(Problem::new(format!(
                    "env_file {shown} is a directory, not a file"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Problem::new(format!("env_file {shown} does not exist"))
                    .with_help(relative_help(path)));
            }
            _ => {}
        }
        if let Err(e) = std::fs::read_to_string(path) {
            return Err(Problem::new(format!("cannot read env_file {shown}: {e}")));
        }
        // A start reads it this way: a line it refuses fails every start.
        read_env_file(path).map(drop).map_err(|e| {
            Problem::new(format!("env_file {e}"))
                .with_help("each line is KEY=VALUE, `export KEY=VALUE`, blank or a # comment")
        })
    }

    fn tokens_file(&self, path: &Path) -> Result<(), Problem> {
        use crate::tokens::TokensError;
        match crate::tokens::load(path) {
            Ok(_) => Ok(()),
            // Its own lines' problems, each at its own line and column.
            Err(TokensError::Invalid(diags)) => Err(Problem::new(format!(
                "the tokens file has problems:\n{diags}"
            ))),
            Err(e) => Err(Problem::new(e.to_string())),
        }
    }

    fn tls_cert(&self, cert: &Path) -> Result<(), Problem> {
        std::fs::File::open(cert)
            .map(drop)
            .map_err(|e| Problem::new(format!("cannot read tls_cert {}: {e}", cert.display())))
    }

    fn tls_key(&self, cert: &Path, key: &Path) -> Result<(), Problem> {
        let files = steward_core::config::TlsSpec {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        };
        crate::tls::Tls::load(files).map(drop).map_err(Problem::new)
    }

    fn hard_limit(&self, resource: Resource) -> Bound {
        hard_limit(resource)
    }

    fn socket_dir(&self, dir: &Path) -> Result<(), Problem> {
        let shown = dir.display();
        // steward makes the socket, not the directories above it: a missing one is a
        // typo more often than something to create.
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Problem::new(format!(
                "the endpoint's socket cannot go in {shown}: it is not a directory"
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Problem::new(format!(
                "the endpoint's socket cannot go in {shown}: the directory does not exist"
            ))
            .with_help("create the directory, or correct the path")),
            Err(e) => Err(Problem::new(format!("cannot access {shown}: {e}"))),
        }
    }
}

/// A program given by path (it has a `/`), at `path` once joined onto `working_dir`.
fn program_file(program: &str, path: &Path, working_dir: Option<&Path>) -> Result<(), Problem> {
    let named = if path == Path::new(program) {
        format!("`{program}`")
    } else {
        format!("`{program}` ({})", path.display())
    };
    let relative_help = || match working_dir {
        Some(dir) if Path::new(program).is_relative() => Some(format!(
            "a relative program path is taken from `working_dir` ({})",
            dir.display()
        )),
        None if Path::new(program).is_relative() => Some(
            "a relative program path is taken from steward's working directory; give the full \
             path, or set `working_dir`"
                .to_string(),
        ),
        _ => None,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(
            Problem::new(format!("{named} is a directory, not a program"))
                .with_help("`command[0]` is the program to run; name the executable inside it"),
        ),
        Ok(_) if is_executable(path) => Ok(()),
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = m.permissions().mode() & 0o7777;
            Err(
                Problem::new(format!("{named} is not executable")).with_help(format!(
                    "steward cannot execute it (mode {mode:04o}); make it executable, e.g. \
                 `chmod +x {}`",
                    path.display()
                )),
            )
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            let problem = Problem::new(format!("command not found: {named} does not exist"));
            Err(match relative_help() {
                Some(help) => problem.with_help(help),
                None => problem,
            })
        }
        Err(e) => Err(Problem::new(format!("cannot execute {named}: {e}"))),
    }
}

/// `program` (no `/`) is in no directory of `search`. Says what is there instead when a
/// file of that name is found but cannot be run, since a start skips it.
fn not_in_path(program: &str, search: &OsStr, origin: String) -> Problem {
    let message = format!("command not found: `{program}` is in no directory of PATH");
    let candidates: Vec<PathBuf> = std::env::split_paths(search)
        .map(|dir| dir.join(program))
        .collect();
    if let Some(dir) = candidates.iter().find(|c| c.is_dir()) {
        return Problem::new(message).with_help(format!(
            "{} is a directory, not a program; PATH is {} ({origin})",
            dir.display(),
            search.to_string_lossy()
        ));
    }
    if let Some(file) = candidates.iter().find(|c| c.exists()) {
        return Problem::new(message).with_help(format!(
            "{} is not executable (try `chmod +x {}`); PATH is {} ({origin})",
            file.display(),
            file.display(),
            search.to_string_lossy()
        ));
    }
    Problem::new(message).with_help(format!(
        "PATH is {} ({origin}); give the full path, or set `env.PATH`",
        search.to_string_lossy()
    ))
}

/// For a path that does not exist: how relative paths are read, when it may matter.
fn relative_help(path: &Path) -> String {
    match path.is_absolute() {
        true => "create it, or correct the path".to_string(),
        false => "a relative path is taken from the config file's directory; create it, or \
                  correct the path"
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A fresh directory under the system's temp dir, removed when dropped.
    struct TempDir(tempfile::TempDir);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let prefix = format!("steward-validate-{tag}-");
            TempDir(tempfile::Builder::new().prefix(&prefix).tempdir().unwrap())
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.path().join(name)
        }

        /// A file named `name` with `text` and permission `mode`.
        fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
            let path = self.path(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        }

        /// The config `text`, with `{dir}` replaced, as the file `steward.toml` in here.
        fn config(&self, text: &str) -> (String, String) {
            let file = self.path("steward.toml").display().to_string();
            (
                file,
                text.replace("{dir}", &self.0.path().display().to_string()),
            )
        }
    }

    /// (line, column, message, help) of every problem this machine has with `text`.
    fn problems(dir: &TempDir, text: &str) -> Vec<(usize, usize, String, Option<String>)> {
        let (file, source) = dir.config(text);
        let checked = match validate(&file, &source) {
            Ok(c) => c,
            Err(d) => panic!("{d}"),
        };
        checked
            .host
            .into_iter()
            .map(|d| (d.line, d.column, d.message, d.help))
            .collect()
    }

    fn single(dir: &TempDir, text: &str) -> (usize, usize, String, Option<String>) {
        let mut got = problems(dir, text);
        assert_eq!(got.len(), 1, "{got:#?}");
        got.remove(0)
    }

    #[test]
    fn a_machine_with_everything_has_no_problem() {
        let dir = TempDir::new("ok");
        dir.file("tool", "#!/bin/sh\n", 0o755);
        dir.file("web.env", "A=1\n", 0o644);
        let got = problems(
            &dir,
            r#"
[[task]]
name = "prepare"
command = ["sh", "-c", "true"]
user = "root"
group = "root"
supplementary_groups = ["root"]

[service.abs]
command = ["{dir}/tool"]
working_dir = "{dir}"
env_file = "web.env"

[service.relative]
command = ["./tool", "--flag"]
working_dir = "{dir}"

[service.searched]
command = ["tool"]
env = { PATH = "/nonexistent:{dir}" }
"#,
        );
        // Run as root in CI containers; as anyone else, `root` is someone else.
        if Uid::current().is_root() {
            assert_eq!(got, []);
        } else {
            let messages: Vec<_> = got.iter().map(|p| p.2.as_str()).collect();
            assert!(messages.iter().all(|m| m.contains("not root")), "{got:#?}");
        }
    }

    #[test]
    fn a_missing_program_is_not_found() {
        let dir = TempDir::new("missing");
        let (line, column, message, _) =
            single(&dir, "[service.a]\ncommand = [\"{dir}/missing\", \"x\"]\n");
        assert_eq!((line, column), (2, 12));
        let want = format!(
            "command not found: `{}` does not exist",
            dir.path("missing").display()
        );
        assert_eq!(message, want);
    }

    #[test]
    fn a_relative_program_is_taken_from_working_dir() {
        let dir = TempDir::new("relative");
        let (line, column, message, help) = single(
            &dir,
            "[service.a]\nworking_dir = \"{dir}\"\ncommand = [ \"bin/server\"]\n",
        );
        assert_eq!((line, column), (3, 13));
        let want = format!(
            "command not found: `bin/server` ({}) does not exist",
            dir.path("bin/server").display()
        );
        assert_eq!(message, want);
        assert!(help.unwrap().contains("taken from `working_dir`"));
    }

    #[test]
    fn a_program_not_in_path_is_not_found() {
        let dir = TempDir::new("path");
        let (line, column, message, help) = single(
            &dir,
            "[service.a]\ncommand = [\"no-such-program-steward\"]\nenv = { PATH = \"{dir}\" }\n",
        );
        assert_eq!((line, column), (2, 12));
        assert_eq!(
            message,
            "command not found: `no-such-program-steward` is in no directory of PATH"
        );
        let help = help.unwrap();
        assert!(
            help.contains(&format!("PATH is {}", dir.0.path().display())),
            "{help}"
        );
        assert!(help.contains("from `env.PATH`"), "{help}");
    }

    #[test]
    fn path_comes_from_env_file_when_env_has_none() {
        let dir = TempDir::new("envfile-path");
        std::fs::create_dir(dir.path("bin")).unwrap();
        dir.file("bin/tool", "#!/bin/sh\n", 0o755);
        dir.file(
            "found.env",
            "PATH={dir}/bin\n"
                .replace("{dir}", &dir.0.path().display().to_string())
                .as_str(),
            0o644,
        );
        dir.file("other.env", "A=1\n", 0o644);
        let got = problems(
            &dir,
            r#"
[service.found]
command = ["tool"]
env_file = "found.env"

[service.overridden]
command = ["tool"]
env_file = "found.env"
env = { PATH = "/nonexistent" }
"#,
        );
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!((got[0].0, got[0].1), (7, 12));
    }

    #[test]
    fn a_file_without_the_execute_bit_is_not_executable() {
        let dir = TempDir::new("noexec");
        let path = dir.file("script", "#!/bin/sh\n", 0o644);
        let (line, column, message, help) =
            single(&dir, "[service.a]\ncommand = [\"{dir}/script\"]\n");
        assert_eq!((line, column), (2, 12));
        assert_eq!(message, format!("`{}` is not executable", path.display()));
        assert!(help.unwrap().contains("mode 0644"));

        // Found in PATH only as a file that cannot run: not found, and the help says why.
        let (_, _, message, help) = single(
            &dir,
            "[service.a]\ncommand = [\"script\"]\nenv = { PATH = \"{dir}\" }\n",
        );
        assert!(message.starts_with("command not found"), "{message}");
        let help = help.unwrap();
        assert!(
            help.starts_with(&format!("{} is not executable", path.display())),
            "{help}"
        );
    }

    #[test]
    fn a_directory_is_not_a_program() {
        let dir = TempDir::new("dir");
        let (line, column, message, _) = single(&dir, "[service.a]\ncommand = [\"{dir}\"]\n");
        assert_eq!((line, column), (2, 12));
        assert_eq!(
            message,
            format!("`{}` is a directory, not a program", dir.0.path().display())
        );
    }

    #[test]
    fn missing_users_and_groups_are_named() {
        let dir = TempDir::new("ids");
        let got = problems(
            &dir,
            r#"[[task]]
name = "t"
command = ["true"]
user = "no-such-user-steward"
group = "no-such-group-steward"
supplementary_groups = ["root", "no-such-group-steward-2"]
"#,
        );
        let got: Vec<_> = got.into_iter().map(|p| (p.0, p.1, p.2)).collect();
        let want = [
            (4, 8, "user `no-such-user-steward` does not exist"),
            (5, 9, "group `no-such-group-steward` does not exist"),
            (6, 33, "group `no-such-group-steward-2` does not exist"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(l, c, m)| (*l, *c, m.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn only_root_runs_a_service_as_another_user() {
        let dir = TempDir::new("root");
        let got = problems(&dir, "[service.a]\ncommand = [\"true\"]\nuser = \"root\"\n");
        if Uid::current().is_root() {
            assert_eq!(got, []);
        } else {
            assert_eq!(got.len(), 1, "{got:#?}");
            let want = format!(
                "steward runs as uid {}, not root: it cannot run a service as user `root` (uid 0)",
                Uid::current()
            );
            assert_eq!(
                (got[0].0, got[0].1, got[0].2.as_str()),
                (3, 8, want.as_str())
            );
        }
    }

    #[test]
    fn a_hard_limit_above_stewards_own_needs_root() {
        let dir = TempDir::new("limits");
        let Bound::Finite(own) = hard_limit(Resource::Nofile) else {
            return;
        };
        let text = format!(
            "[service.a]\ncommand = [\"true\"]\nlimits = {{ nofile = {}, core = 0 }}\n",
            own + 1
        );
        let got = problems(&dir, &text);
        if Uid::current().is_root() {
            assert_eq!(got, []);
        } else {
            let want = format!(
                "steward runs as uid {}, not root: it cannot give a service a hard limit \
                 `nofile` of {}, above its own ({own})",
                Uid::current(),
                own + 1
            );
            assert_eq!(got.len(), 1, "{got:#?}");
            assert_eq!(
                (got[0].0, got[0].1, got[0].2.as_str()),
                (3, 21, want.as_str())
            );
        }
    }

    #[test]
    fn without_path_in_pass_env_the_default_path_is_searched() {
        let dir = TempDir::new("passenv");
        let (_, _, message, help) = single(
            &dir,
            "[service.a]\ncommand = [\"no-such-program-steward\"]\npass_env = [\"LANG\"]\n",
        );
        assert!(message.starts_with("command not found"), "{message}");
        let help = help.unwrap();
        assert!(
            help.contains(
                "PATH is /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                 (the default, as `pass_env` leaves out PATH)"
            ),
            "{help}"
        );
        // `sh` is in the default PATH.
        let got = problems(&dir, "[service.a]\ncommand = [\"sh\"]\npass_env = []\n");
        assert_eq!(got, []);
    }

    #[test]
    fn a_missing_working_dir_and_env_file_are_reported() {
        let dir = TempDir::new("paths");
        dir.file("plain", "", 0o644);
        dir.file("bad.env", "A=1\nnonsense\n", 0o644);
        let got = problems(
            &dir,
            r#"
[service.a]
command = ["true"]
working_dir = "nowhere"
env_file = "missing.env"

[service.b]
command = ["true"]
working_dir = "plain"
env_file = "{dir}"

[service.c]
command = ["true"]
env_file = "bad.env"
"#,
        );
        let got: Vec<_> = got.into_iter().map(|p| (p.0, p.1, p.2)).collect();
        let at = |name: &str| dir.path(name).display().to_string();
        let want = [
            (
                4,
                15,
                format!("working_dir {} does not exist", at("nowhere")),
            ),
            (
                5,
                12,
                format!("env_file {} does not exist", at("missing.env")),
            ),
            (
                9,
                15,
                format!("working_dir {} is not a directory", at("plain")),
            ),
            (
                10,
                12,
                format!(
                    "env_file {} is a directory, not a file",
                    dir.0.path().display()
                ),
            ),
            (
                14,
                12,
                format!("env_file {}:2: expected KEY=VALUE", at("bad.env")),
            ),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_unix_endpoints_directory_and_group_must_exist() {
        let dir = TempDir::new("endpoint");
        dir.file("plain", "", 0o644);
        let got = problems(
            &dir,
            r#"[service.a]
command = ["true"]
endpoint = { listen = "unix:{dir}/a.sock", socket_group = "root" }

[service.b]
command = ["true"]
endpoint = { listen = "unix:{dir}/nowhere/b.sock" }

[service.c]
command = ["true"]
endpoint = { listen = "unix:{dir}/plain/c.sock", socket_group = "no-such-group-steward" }

[service.d]
command = ["true"]
endpoint = { listen = "tcp:127.0.0.1:7000" }
"#,
        );
        let got: Vec<_> = got.into_iter().map(|p| (p.0, p.1, p.2, p.3)).collect();
        let at = |name: &str| dir.path(name).display().to_string();
        assert_eq!(got.len(), 3, "{got:#?}");
        assert_eq!(
            (got[0].0, got[0].1, got[0].2.as_str()),
            (
                7,
                23,
                format!(
                    "the endpoint's socket cannot go in {}: the directory does not exist",
                    at("nowhere")
                )
                .as_str()
            )
        );
        assert_eq!(
            got[0].3.as_deref(),
            Some("create the directory, or correct the path")
        );
        assert_eq!(
            (got[1].0, got[1].1, got[1].2.as_str()),
            (
                11,
                23,
                format!(
                    "the endpoint's socket cannot go in {}: it is not a directory",
                    at("plain")
                )
                .as_str()
            )
        );
        let group_col = 25 + at("plain/c.sock").len() + 22;
        assert_eq!(
            (got[2].0, got[2].1, got[2].2.as_str()),
            (
                11,
                group_col,
                "group `no-such-group-steward` does not exist"
            )
        );
    }

    #[test]
    fn an_invalid_text_is_an_error_and_strict_refuses_host_problems() {
        let dir = TempDir::new("strict");
        let (file, source) = dir.config("[service.a]\ncommand = \"true\"\n");
        assert!(validate(&file, &source).is_err());

        let (file, source) = dir.config("[service.a]\ncommand = [\"{dir}/missing\"]\n");
        let checked = validate(&file, &source).unwrap();
        assert_eq!(checked.config.services.len(), 1);
        let diags = checked.strict().unwrap_err();
        assert!(
            diags
                .to_string()
                .contains(":2:12: error: command not found")
        );

        let (file, source) = dir.config("[service.a]\ncommand = [\"true\"]\n");
        assert!(validate(&file, &source).unwrap().strict().is_ok());
    }
}
