//! `steward`: the daemon (`steward up`) and its command-line client (everything else).

mod client;
mod events;
mod logs;
mod status;
mod table;
mod token;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand};
use hyper::Method;
use steward_core::config;
use steward_core::diagnostic::Diagnostics;
use steward_daemon::validate::{self, Checked};
use steward_proto::{ConfigStatus, ReloadReport, ServiceStatus, State};

/// The built-in demo, run by `steward up` without a config file (or `--demo`).
const DEMO: &str = include_str!("../demo.toml");
/// The demo's HTTP API, as `demo.toml` writes it (its endpoint is the reverse client's
/// default address, `steward_reverse::DEFAULT_ADDRESS`).
const DEMO_HTTP: &str = "127.0.0.1:9700";

#[derive(Parser)]
#[command(
    name = "steward",
    version,
    about = "A service control manager for Linux",
    propagate_version = true
)]
struct Cli {
    /// The config file [default: $STEWARD_CONFIG, else /etc/steward/steward.toml as root,
    /// else $XDG_CONFIG_HOME/steward/steward.toml]
    #[arg(short, long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// The daemon's API socket [default: $STEWARD_SOCKET, else the config's
    /// [control] socket, else /run/steward/steward.sock as root or
    /// $XDG_RUNTIME_DIR/steward/steward.sock]
    #[arg(short, long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Talk to the API over TCP instead of the socket: http://HOST:PORT or
    /// https://HOST:PORT (a steward with `[http] listen`) [default: $STEWARD_URL]
    #[arg(long, global = true, value_name = "URL", conflicts_with = "socket")]
    url: Option<String>,

    /// With --url: read the bearer token from this file [default: the token in
    /// $STEWARD_TOKEN]
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// With an https:// --url: trust the certificates in this PEM file (a self-signed
    /// certificate, a private CA) [default: $STEWARD_CA_FILE, else the system's]
    #[arg(long, global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the supervisor in the foreground until SIGTERM or Ctrl-C.
    Up {
        /// Run the built-in demo configuration instead of a config file.
        #[arg(long, conflicts_with = "config")]
        demo: bool,
        /// Also print every captured line to stdout, as `name:instance | line`.
        #[arg(long)]
        echo_logs: bool,
    },
    /// Check a config file and print every problem with its line and column.
    Check,
    /// Show services and their instances, with what their processes use.
    Status {
        /// Only this service.
        name: Option<String>,
        /// Print the API's JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// Also show threads, open fds and processes per instance.
        #[arg(long, conflicts_with = "no_usage")]
        wide: bool,
        /// Leave out resource usage (CPU, memory): no /proc reads, the fastest answer for
        /// scripts that poll many services.
        #[arg(long)]
        no_usage: bool,
        /// Show a new snapshot every interval until Ctrl-C.
        #[arg(short, long)]
        watch: bool,
        /// How often --watch refreshes (e.g. 500ms, 2s; at least 100ms).
        #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = status::parse_interval, requires = "watch")]
        interval: std::time::Duration,
    },
    /// Start services (all instances, or NAME:INSTANCE for one).
    Start(ControlArgs),
    /// Stop services; returns once their processes are gone.
    Stop(ControlArgs),
    /// Stop, then start services.
    Restart(ControlArgs),
    /// Pause services: freeze them, or send their pause signal (`pause` in the config).
    Pause(ControlArgs),
    /// Continue paused services.
    Continue(ControlArgs),
    /// Run N instances of a service from now on: only the added or removed ones start or
    /// stop. The config file is not changed; a reload keeps the count unless the file's
    /// `instances` for the service changes.
    Scale {
        /// The service.
        name: String,
        /// How many instances (0 to 10000).
        instances: u32,
        /// Return once the change is planned, without waiting for the instances.
        #[arg(long)]
        no_wait: bool,
        /// Print the API's JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Read the config file again and apply what changed; an invalid file changes nothing.
    Reload {
        /// Print what would change, without changing it.
        #[arg(long)]
        dry_run: bool,
        /// Return once the plan is made, without waiting for restarts to finish.
        #[arg(long)]
        no_wait: bool,
        /// Print the API's JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Stop every service, dependents first, then steward itself (as SIGTERM does).
    Shutdown {
        /// Return once stopping has begun, without waiting for steward to exit.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the config steward runs: its file, hash, load time and the last reload.
    Config {
        /// Print the API's JSON document (it includes the config's text).
        #[arg(long)]
        json: bool,
    },
    /// Print the API's OpenAPI 3 document (also served at /v1/openapi.json).
    Openapi,
    /// Show what happened: state changes, exits, probes, operators' actions, reloads,
    /// tasks, from the journal (`-f` follows live).
    Events(events::EventsArgs),
    /// Show services' captured output (stdout, and stderr unless it is kept apart).
    Logs(logs::LogsArgs),
    /// Bearer tokens for the TCP API.
    #[command(subcommand)]
    Token(token::TokenCommand),
    #[command(name = "__guard", hide = true)]
    Guard,
    /// The built-in demo's reverse-text service (`examples/reverse`).
    #[command(name = "__reverse", hide = true)]
    Reverse {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// The reverse-text client: `steward reverse-client hello` prints `olleh (instance 1)`.
    /// The same as `reverse-client` of `examples/reverse`, so the demo needs nothing else.
    #[command(name = "reverse-client")]
    ReverseClient {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(clap::Args)]
struct ControlArgs {
    /// NAME or NAME:INSTANCE, one or more.
    #[arg(required = true, value_name = "NAME[:INSTANCE]")]
    targets: Vec<String>,
    /// Return once the request is accepted, without waiting for it to take effect.
    #[arg(long)]
    no_wait: bool,
    /// Print the resulting status as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("steward: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Guard => Ok(ExitCode::from(steward_daemon::guard::guard_main() as u8)),
        Command::Reverse { args } => Ok(steward_reverse::service_main_from(
            std::iter::once("reverse".into()).chain(args.iter().cloned()),
        )),
        Command::ReverseClient { args } => Ok(steward_reverse::client_main(
            std::iter::once("steward reverse-client".into()).chain(args.iter().cloned()),
        )),
        Command::Check => check(&cli),
        Command::Up { demo, echo_logs } => up(&cli, *demo, *echo_logs),
        Command::Status {
            name,
            json,
            wide,
            no_usage,
            watch,
            interval,
        } => status::run(&status::Args {
            target: &target(&cli)?,
            name: name.as_deref(),
            json: *json,
            wide: *wide,
            usage: !*no_usage,
            watch: watch.then_some(*interval),
        }),
        Command::Start(args) => control(&cli, "start", args),
        Command::Stop(args) => control(&cli, "stop", args),
        Command::Restart(args) => control(&cli, "restart", args),
        Command::Pause(args) => control(&cli, "pause", args),
        Command::Continue(args) => control(&cli, "continue", args),
        Command::Reload {
            dry_run,
            no_wait,
            json,
        } => reload(&cli, *dry_run, !*no_wait, *json),
        Command::Config { json } => show_config(&cli, *json),
        Command::Scale {
            name,
            instances,
            no_wait,
            json,
        } => scale(&cli, name, *instances, !*no_wait, *json),
        Command::Shutdown { no_wait } => shutdown(&cli, !*no_wait),
        Command::Openapi => {
            println!("{}", steward_daemon::api::openapi().to_pretty_json()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Events(args) => {
            events::run(&target(&cli)?, args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs(args) => logs::run(&target(&cli)?, args),
        Command::Token(command) => token::run(command),
    }
}

/// Exit codes: 0 applied (or planned), 2 the file is invalid (as `steward check`), 1 any
/// other failure.
fn reload(cli: &Cli, dry_run: bool, wait: bool, json: bool) -> Result<ExitCode> {
    let socket = target(cli)?;
    let path = format!("/v1/reload?dry_run={dry_run}&wait={wait}");
    let rt = client_runtime()?;
    let (status, body) = rt.block_on(client::call(&socket, Method::POST, &path))?;
    let Ok(report) = serde_json::from_slice::<ReloadReport>(&body) else {
        return Err(client::error_of(status, &body));
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_reload(&report);
    }
    Ok(match report.outcome.as_str() {
        "invalid" => ExitCode::from(2),
        "unreadable" => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

fn scale(cli: &Cli, name: &str, instances: u32, wait: bool, json: bool) -> Result<ExitCode> {
    let target = target(cli)?;
    let path = format!("/v1/services/{}/scale?wait={wait}", encode(name));
    let rt = client_runtime()?;
    let body = serde_json::json!({ "instances": instances });
    let (status, body) = rt.block_on(client::call_with(&target, Method::POST, &path, &body))?;
    if !status.is_success() {
        return Err(client::error_of(status, &body));
    }
    let report: ReloadReport = serde_json::from_slice(&body)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.summary.is_empty() {
        println!("scale: {name} already runs {instances} instances");
    } else {
        println!("scale: applied");
        for line in &report.summary {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn shutdown(cli: &Cli, wait: bool) -> Result<ExitCode> {
    let socket = target(cli)?;
    let rt = client_runtime()?;
    rt.block_on(async {
        // The event stream, opened first, ends when steward exits: that is the wait.
        let events = if wait {
            Some(client::stream(&socket, Method::GET, "/v1/events").await?)
        } else {
            None
        };
        let answer: steward_proto::Message =
            client::call_json(&socket, Method::POST, "/v1/shutdown").await?;
        println!("steward: {}", answer.message);
        if let Some(mut events) = events {
            use http_body_util::BodyExt;
            while let Some(Ok(_)) = events.frame().await {}
            println!("steward: stopped");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_reload(report: &ReloadReport) {
    if !report.diagnostics.is_empty() {
        for d in &report.diagnostics {
            eprintln!("{}\n", d.rendered);
        }
    }
    if let Some(e) = &report.error {
        eprintln!("steward: {e}");
        return;
    }
    let what = match report.outcome.as_str() {
        "dry-run" => "would change (dry run, nothing applied)",
        "unchanged" => "nothing to change",
        _ => "applied",
    };
    println!("reload: {what}");
    for line in &report.summary {
        println!("  {line}");
    }
}

fn show_config(cli: &Cli, json: bool) -> Result<ExitCode> {
    let socket = target(cli)?;
    let rt = client_runtime()?;
    let c: ConfigStatus = rt.block_on(client::call_json(&socket, Method::GET, "/v1/config"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(ExitCode::SUCCESS);
    }
    let file = c.path.as_deref().unwrap_or("<built-in demo>");
    println!("file:      {file}");
    println!("sha256:    {}", c.sha256);
    println!("loaded:    {}", c.loaded_at);
    println!("services:  {} ({} instances)", c.services, c.instances);
    let watching = if c.watching { "yes" } else { "no" };
    println!("watching:  {watching}");
    match &c.last_reload {
        None => println!("last reload: none"),
        Some(r) => {
            println!("last reload: {} at {} ({})", r.outcome, r.at, r.trigger);
            if let Some(e) = &r.error {
                println!("  {e}");
            }
            for d in &r.diagnostics {
                println!("  {}:{}:{}: {}", d.file, d.line, d.column, d.message);
            }
            for line in &r.summary {
                println!("  {line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_services(services: &[ServiceStatus], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(services)?);
    } else {
        print!("{}", table::render(services));
    }
    Ok(())
}

fn control(cli: &Cli, action: &str, args: &ControlArgs) -> Result<ExitCode> {
    let socket = target(cli)?;
    let targets = args
        .targets
        .iter()
        .map(|t| parse_target(t))
        .collect::<Result<Vec<_>>>()?;
    let rt = client_runtime()?;
    let mut results = Vec::new();
    for (name, instance) in targets {
        let mut path = format!(
            "/v1/services/{}/{action}?wait={}",
            encode(&name),
            !args.no_wait
        );
        if let Some(i) = instance {
            path.push_str(&format!("&instance={i}"));
        }
        let mut status: ServiceStatus =
            rt.block_on(client::call_json(&socket, Method::POST, &path))?;
        // Show what was asked about: the one instance, when one was named.
        status
            .instances
            .retain(|i| instance.is_none_or(|n| i.instance == n));
        results.push(status);
    }
    print_services(&results, args.json)?;
    if args.no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    // Like systemctl: the command fails when the instances did not end where it asked.
    let wanted = match action {
        "stop" => State::Stopped,
        "pause" => State::Paused,
        _ => State::Running,
    };
    let missed: Vec<_> = results
        .iter()
        .flat_map(|s| &s.instances)
        .filter(|i| i.state != wanted)
        .collect();
    for i in &missed {
        eprintln!(
            "steward: {}:{} is {}, not {}: {}",
            i.name,
            i.instance,
            i.state.as_str(),
            wanted.as_str(),
            i.reason
        );
    }
    Ok(if missed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `web` or `web:2`.
fn parse_target(text: &str) -> Result<(String, Option<u32>)> {
    match text.rsplit_once(':') {
        None => Ok((text.to_string(), None)),
        Some((name, idx)) => {
            let i = idx
                .parse()
                .map_err(|_| anyhow!("{text:?}: the instance after ':' must be a number"))?;
            Ok((name.to_string(), Some(i)))
        }
    }
}

/// Percent-encodes a path segment or query value: all but URL-safe characters. Service
/// names are `[A-Za-z0-9_.-]`, so any other name stays a well-formed URL and the daemon
/// answers "no service named ..."; a time such as `2026-05-20T10:00:00+02:00` keeps its
/// `:` and `+`.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn client_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?)
}

/// The config file: `-c`, else `$STEWARD_CONFIG`, else `./steward.toml`, else the default
/// location, if it exists.
fn config_path(cli: &Cli) -> Option<PathBuf> {
    if let Some(p) = &cli.config {
        return Some(p.clone());
    }
    if let Some(p) = std::env::var_os("STEWARD_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let here = PathBuf::from("steward.toml");
    if here.is_file() {
        return Some(here);
    }
    let default = if nix::unistd::Uid::current().is_root() {
        PathBuf::from("/etc/steward/steward.toml")
    } else {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        base.join("steward/steward.toml")
    };
    default.exists().then_some(default)
}

/// `--socket`, else `$STEWARD_SOCKET`, else the config's `[control] socket`, else the
/// default: the same order for the daemon and its clients, so both find the same socket.
/// `from_config` is the daemon's checked value; clients read the file leniently (`None`
/// here), because a broken config must not stop them talking to a daemon that still runs
/// the previous one.
/// Whether `e` is a write to a closed pipe (`steward logs | head`): the reader is done,
/// which is no failure.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Where the API is: `--url` (or `STEWARD_URL`) over TCP with its token, else the socket.
fn target(cli: &Cli) -> Result<client::Target> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let url = match (&cli.url, &cli.socket) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(_)) => None,
        (None, None) => env("STEWARD_URL"),
    };
    let Some(url) = url else {
        return Ok(client::Target::Unix(socket_path(cli, None)));
    };
    let token = match &cli.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?;
            let token = text.trim().to_string();
            if token.is_empty() {
                anyhow::bail!("the token file {} is empty", path.display());
            }
            Some(token)
        }
        None => env("STEWARD_TOKEN"),
    };
    let ca = cli
        .ca_file
        .clone()
        .or_else(|| env("STEWARD_CA_FILE").map(PathBuf::from));
    client::Target::url(&url, token, ca.as_deref())
}

fn socket_path(cli: &Cli, from_config: Option<PathBuf>) -> PathBuf {
    if let Some(s) = &cli.socket {
        return s.clone();
    }
    if let Some(s) = std::env::var_os("STEWARD_SOCKET").filter(|s| !s.is_empty()) {
        return PathBuf::from(s);
    }
    from_config
        .or_else(|| config_path(cli).and_then(|p| socket_from_config(&p)))
        .unwrap_or_else(steward_daemon::paths::default_socket)
}

fn socket_from_config(path: &Path) -> Option<PathBuf> {
    use toml::de::{DeTable, DeValue};
    let text = std::fs::read_to_string(path).ok()?;
    // Recovering from syntax errors: a client must find the daemon most of all when the
    // file is broken, to ask why its reload was refused.
    let (doc, _) = DeTable::parse_recoverable(&text);
    let DeValue::Table(control) = doc.get_ref().get("control")?.get_ref() else {
        return None;
    };
    let DeValue::String(socket) = control.get("socket")?.get_ref() else {
        return None;
    };
    let socket = PathBuf::from(socket.as_ref());
    Some(match path.parent() {
        Some(dir) if socket.is_relative() => dir.join(socket),
        _ => socket,
    })
}

/// Reads a config file and checks it, in its text and against this machine (programs,
/// users, groups, `working_dir`, `env_file`): an error when it cannot be read, the
/// diagnostics when the text is not valid. The machine's problems are in
/// [`Checked::host`], for the caller to weigh.
fn read_checked(path: &Path) -> Result<Result<Checked, Diagnostics>> {
    let text = read_text(path)?;
    Ok(validate::validate(&path.display().to_string(), &text))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn check(cli: &Cli) -> Result<ExitCode> {
    let path = config_path(cli).context("no config file: pass -c FILE or set STEWARD_CONFIG")?;
    // What the machine lacks is an error here too: the file would not run as it is.
    match read_checked(&path)?.and_then(Checked::strict) {
        Ok(c) => {
            let instances: u32 = c.services.values().map(|s| s.instances).sum();
            println!(
                "{}: ok ({} services, {instances} instances)",
                path.display(),
                c.services.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            eprintln!("{diags}");
            Ok(ExitCode::from(2))
        }
    }
}

fn up(cli: &Cli, demo: bool, echo_logs: bool) -> Result<ExitCode> {
    init_logging();
    let found = if demo { None } else { config_path(cli) };
    let demo = found.is_none();
    let (config, config_path, source) = if demo {
        let source = demo_config()?;
        let config = config::parse("<built-in demo>", &source)
            .map_err(|d| anyhow!("the built-in demo is invalid: {d}"))?;
        (config, None, source)
    } else {
        let path = found.expect("not the demo");
        let source = read_text(&path)?;
        let checked =
            validate::validate(&path.display().to_string(), &source).map_err(|d| anyhow!("{d}"))?;
        // At boot there is no older config to fall back to: refusing the file would take
        // every service down, so what the machine lacks only fails the services concerned
        // (at their start, by the failure table). A reload refuses such a file.
        for d in &checked.host {
            tracing::warn!("{}", d.as_warning());
        }
        (checked.config, Some(path), source)
    };
    let socket = socket_path(cli, config.control.socket.clone());
    if demo {
        print_demo_help(&config, &socket);
    }
    // One thread: the loop must be the only waiter of children (see steward_daemon::run).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let state_dir = config
        .supervisor
        .state_dir
        .clone()
        .unwrap_or_else(steward_daemon::paths::default_state_dir);
    let code = rt.block_on(steward_daemon::run(steward_daemon::Options {
        config,
        config_path,
        source,
        socket,
        state_dir,
        // The demo is for watching: its output is shown, not only kept.
        echo_logs: echo_logs || demo,
    }))?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// The demo's text with steward's own path and the user's uid filled in.
fn demo_config() -> Result<String> {
    let me = std::env::current_exe().context("cannot find steward's own binary")?;
    let quoted = toml::Value::String(me.display().to_string()).to_string();
    let uid = nix::unistd::getuid().to_string();
    let mut text = DEMO
        .replace("\"@STEWARD@\"", &quoted)
        .replace("@UID@", &uid);
    // Two demos on one machine (or a test beside a running demo) need other addresses.
    for (var, default) in [
        ("STEWARD_DEMO_HTTP", DEMO_HTTP),
        ("STEWARD_DEMO_ENDPOINT", steward_reverse::DEFAULT_ADDRESS),
    ] {
        if let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            let quoted = |v: &str| toml::Value::String(v.into()).to_string();
            text = text.replace(&quoted(default), &quoted(&value));
        }
    }
    Ok(text)
}

fn print_demo_help(config: &config::Config, socket: &Path) {
    let front = config
        .services
        .get("reverse")
        .and_then(|s| s.endpoint.as_ref())
        .map_or_else(
            || steward_reverse::DEFAULT_ADDRESS.into(),
            |e| e.listen.to_string(),
        );
    let http = config
        .http
        .as_ref()
        .map_or_else(|| DEMO_HTTP.into(), |h| h.listen.to_string());
    // The client's default is the demo's usual address; say it when it moved.
    let address = if front == steward_reverse::DEFAULT_ADDRESS {
        String::new()
    } else {
        format!(" --address {front}")
    };
    let me = std::env::current_exe().unwrap_or_else(|_| "steward".into());
    let here = std::env::current_dir().unwrap_or_default();
    let me = me.strip_prefix(&here).unwrap_or(&me).display().to_string();
    eprintln!(
        "steward: no config file (-c FILE, $STEWARD_CONFIG, ./steward.toml, or the default \
         location): running the built-in demo.
  reverse: 3 instances of the reverse-text service behind one endpoint, {front}
           (round-robin, loopback callers only); flaky: crashes every 4 s, to show recovery.
  Their output follows, behind `name:instance |`. Try, in another shell:
    {me} status                  every instance, and the endpoint's figures
    {me} reverse-client{address} hello
                                 olleh (instance N)
    {me} reverse-client{address} --count 30
                                 how 30 connections spread over the instances
    {me} stop reverse:1          then --count again: no request fails
    {me} scale reverse 5         two more instances, the others untouched
    {me} events -f               every state change, live
    curl http://{http}/v1/services
                                 the same over the HTTP API (loopback)
  Ctrl-C stops every service, then steward. (API socket: {})",
        socket.display()
    );
}

fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("STEWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("web").unwrap(), ("web".into(), None));
        assert_eq!(parse_target("web:2").unwrap(), ("web".into(), Some(2)));
        assert!(parse_target("web:x").is_err());
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
