//! A real `steward up` in a temp dir, the fixture child as its services, and waits on
//! conditions with deadlines (never bare sleeps).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use steward_proto::{InstanceStatus, ServiceStatus};
use tempfile::TempDir;

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn steward_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_steward"))
}

/// The fixture binary, built on first use if `cargo test -p steward` did not build it.
pub fn fixture() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = steward_bin().with_file_name("steward-fixture");
        if !path.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "steward-fixture"])
                .status()
                .expect("run cargo to build the fixture");
            assert!(status.success(), "building steward-fixture failed");
        }
        path
    })
}

pub struct Daemon {
    pub dir: TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    env: Vec<(String, PathBuf)>,
    child: Option<Child>,
}

impl Daemon {
    /// Writes a config with `services` (TOML; `{fixture}` and `{dir}` are replaced) and
    /// starts `steward up` on it, returning once the API answers.
    pub fn start(services: &str) -> Daemon {
        let d = Daemon::prepare(services);
        d.spawn()
    }

    /// The temp dir and config, without starting anything.
    pub fn prepare(services: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("steward-e2e-")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("steward.sock");
        let config = dir.path().join("steward.toml");
        std::fs::write(&config, config_text(dir.path(), "", services)).unwrap();
        Daemon {
            dir,
            socket,
            config,
            env: Vec::new(),
            child: None,
        }
    }

    /// Sets `key` in steward's environment when it is spawned.
    pub fn with_env(mut self, key: &str, value: PathBuf) -> Daemon {
        self.env.push((key.to_string(), value));
        self
    }

    pub fn spawn(self) -> Daemon {
        self.spawn_up(&[])
    }

    /// `steward up -c CONFIG` with more `flags`.
    pub fn spawn_up(self, flags: &[&str]) -> Daemon {
        let config = self.config.clone();
        let mut args = vec!["up".as_ref(), "-c".as_ref(), config.as_os_str()];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        self.spawn_with(&args)
    }

    /// `steward up` without a config file, so the built-in demo, on this daemon's socket.
    pub fn spawn_demo(self) -> Daemon {
        let socket = self.socket.clone();
        self.spawn_with(&["up".as_ref(), "--socket".as_ref(), socket.as_os_str()])
    }

    fn spawn_with(mut self, args: &[&std::ffi::OsStr]) -> Daemon {
        let log = std::fs::File::create(self.path("steward.log")).unwrap();
        let child = Command::new(steward_bin())
            .args(args)
            .env("STEWARD_LOG", "debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start steward up");
        self.child = Some(child);
        let log = self.path("steward.log");
        let child = self.child.as_mut().unwrap();
        poll(
            "steward to listen",
            || {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("steward up exited early ({status}):\n{}", read(&log));
                }
                UnixStream::connect(&self.socket).ok()
            },
            || read(&log),
        );
        self
    }

    /// Writes a new config in place (truncate, then write), as `echo >` or a config
    /// manager writing the file itself would.
    pub fn write_config(&self, services: &str) {
        self.write_config_with("", services);
    }

    /// [`Daemon::write_config`], with `supervisor` (lines) added to `[supervisor]`.
    pub fn write_config_with(&self, supervisor: &str, services: &str) {
        let text = config_text(self.dir.path(), supervisor, services);
        std::fs::write(&self.config, text).unwrap();
    }

    /// [`Daemon::write_config`], with `control` (lines) added to `[control]`.
    pub fn write_config_control(&self, control: &str, services: &str) {
        let text = config_text_with(self.dir.path(), "", control, services);
        std::fs::write(&self.config, text).unwrap();
    }

    /// Writes a new config to a temp file and renames it over the old one, as editors
    /// and atomic config managers do.
    pub fn replace_config(&self, services: &str) {
        let tmp = self.path(".steward.toml.tmp");
        std::fs::write(&tmp, config_text(self.dir.path(), "", services)).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log(&self) -> String {
        read(&self.path("steward.log"))
    }

    /// Runs the CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(steward_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs the CLI and insists it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "steward {args:?} failed: {}\n--- daemon log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn status(&self) -> Vec<ServiceStatus> {
        serde_json::from_str(&self.ok(&["status", "--json"])).unwrap()
    }

    pub fn instance(&self, service: &str, index: u32) -> InstanceStatus {
        self.status()
            .into_iter()
            .find(|s| s.name == service)
            .and_then(|s| s.instances.into_iter().find(|i| i.instance == index))
            .unwrap_or_else(|| panic!("no {service}:{index}"))
    }

    /// Polls status until `f` returns `Some`, failing the test after `DEADLINE`.
    pub fn wait_for<T>(&self, what: &str, mut f: impl FnMut(&[ServiceStatus]) -> Option<T>) -> T {
        poll(
            what,
            || f(&self.status()),
            || {
                format!(
                    "status: {:#?}\n--- daemon log ---\n{}",
                    self.status(),
                    self.log()
                )
            },
        )
    }

    pub fn wait_instance(
        &self,
        service: &str,
        index: u32,
        what: &str,
        mut f: impl FnMut(&InstanceStatus) -> bool,
    ) -> InstanceStatus {
        self.wait_for(what, |all| {
            let i = all
                .iter()
                .find(|s| s.name == service)?
                .instances
                .iter()
                .find(|i| i.instance == index)?;
            f(i).then(|| i.clone())
        })
    }

    /// Sends `sig` to steward and waits for it to exit.
    pub fn signal_and_wait(&mut self, sig: nix::sys::signal::Signal) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        nix::sys::signal::kill(pid, sig).unwrap();
        self.wait_exit()
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let log = self.path("steward.log");
        let child = self.child.as_mut().expect("running");
        let status = poll(
            "steward to exit",
            || child.try_wait().unwrap(),
            || read(&log),
        );
        self.child = None;
        status
    }

    /// A raw HTTP/1.1 request to the API: (status code, body).
    pub fn http(&self, method: &str, path: &str) -> (u16, String) {
        self.http_with(method, path, None)
    }

    /// [`Daemon::http`] with a JSON body.
    pub fn http_with(&self, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        let body = json.unwrap_or("");
        let kind = if json.is_some() {
            "Content-Type: application/json\r\n"
        } else {
            ""
        };
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: steward\r\nConnection: close\r\n{kind}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        split_answer(&text)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn expand(text: &str, dir: &Path) -> String {
    text.replace("{fixture}", &fixture().display().to_string())
        .replace("{dir}", &dir.display().to_string())
}

/// CPU time (user + system, in clock ticks) `pid` has used so far.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Waits until none of `pids` is alive.
pub fn wait_gone(pids: &[u32], what: &str) {
    let left = || {
        pids.iter()
            .copied()
            .filter(|&p| alive(p))
            .collect::<Vec<_>>()
    };
    poll(
        what,
        || left().is_empty().then_some(()),
        || format!("still alive: {:?}", left()),
    );
}

/// Lines of a fixture `--record` file.
pub struct Record {
    pub starts: Vec<(u32, u128)>,
    pub grandchildren: Vec<u32>,
    pub exits: Vec<(u32, i32)>,
}

pub fn record(path: &Path) -> Record {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut r = Record {
        starts: Vec::new(),
        grandchildren: Vec::new(),
        exits: Vec::new(),
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["start", pid, _inst, ns] => r.starts.push((pid.parse().unwrap(), ns.parse().unwrap())),
            ["grandchild", pid] => r.grandchildren.push(pid.parse().unwrap()),
            ["exit", pid, code] => r.exits.push((pid.parse().unwrap(), code.parse().unwrap())),
            _ => {}
        }
    }
    r
}

/// Waits until the record file at `path` satisfies `f`.
pub fn wait_record(path: &Path, what: &str, f: impl Fn(&Record) -> bool) -> Record {
    poll(what, || Some(record(path)).filter(&f), || read(path))
}

/// Calls `f` until it returns `Some`; after [`DEADLINE`] fails the test with `what` and
/// `detail()`, which is only computed then.
pub fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>, detail: impl FnOnce() -> String) -> T {
    let started = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        if started.elapsed() >= DEADLINE {
            panic!("timed out waiting for {what}\n{}", detail());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A config file for a daemon in `dir`: its socket and state dir (and `supervisor`, more
/// lines for that table), then `services` with `{fixture}` and `{dir}` replaced.
fn config_text(dir: &Path, supervisor: &str, services: &str) -> String {
    config_text_with(dir, supervisor, "", services)
}

fn config_text_with(dir: &Path, supervisor: &str, control: &str, services: &str) -> String {
    let body = expand(services, dir);
    let control = match control {
        "" => String::new(),
        c => format!("{}\n", c.trim_end()),
    };
    format!(
        "[supervisor]\n{supervisor}state_dir = \"{}\"\n\n[control]\n{control}socket = \"{}\"\n\n{body}",
        dir.join("state").display(),
        dir.join("steward.sock").display()
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A loopback TCP port free now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Splits a raw HTTP/1.1 answer into its status code and body.
pub fn split_answer(text: &str) -> (u16, String) {
    let code = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Runs the steward binary with `args`, without a daemon of the harness.
pub fn steward(args: &[&str]) -> Output {
    Command::new(steward_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The children of `ppid` as (pid, state letter, command line), read from /proc.
fn children(ppid: u32) -> Vec<(u32, String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(ppid) {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            out.push((
                pid,
                f[0].to_string(),
                String::from_utf8_lossy(&cmdline).into_owned(),
            ));
        }
    }
    out
}

/// The zombie children of `ppid`.
pub fn zombie_children(ppid: u32) -> Vec<u32> {
    children(ppid)
        .into_iter()
        .filter(|(_, state, _)| state == "Z")
        .map(|c| c.0)
        .collect()
}

/// The children of `ppid` whose command line contains `needle`.
pub fn children_matching(ppid: u32, needle: &str) -> Vec<u32> {
    children(ppid)
        .into_iter()
        .filter(|(_, _, cmd)| cmd.contains(needle))
        .map(|c| c.0)
        .collect()
}
