//! The `reverse` service.
//!
//! It runs on a current-thread tokio runtime: one thread multiplexes every connection,
//! which suits a service whose work per request (reversing a line) is tiny next to waiting
//! on sockets, and keeps draining simple (every connection is a task on one runtime). The
//! SDK's signal threads feed it through a [`StopToken`] and a pause flag.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use steward_sdk::{Exit, ListenAddress, Listener, Notifier, Service, StopToken, TokioListener};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

use crate::protocol::{answer, read_request};

/// Reverses text sent to it, line by line; a demonstration service for steward.
#[derive(Parser, Debug)]
#[command(name = "reverse", version)]
struct Args {
    /// Where to listen when steward passes no socket (LISTEN_FDS) and no STEWARD_LISTEN:
    /// unix:/path or tcp:IP:PORT.
    #[arg(long, default_value = crate::DEFAULT_ADDRESS)]
    listen: ListenAddress,
    /// Wait this long before each answer (to show and test draining).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay: u64,
    /// On stop, how long open requests get to finish before the service exits anyway.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    drain_timeout: u64,
}

/// What every connection needs.
struct Shared {
    instance: u32,
    delay: Duration,
    served: AtomicU64,
}

/// Runs the service with the process's arguments; see [`service_main_from`].
pub fn service_main() -> ExitCode {
    service_main_from(std::env::args_os())
}

/// Runs the service with `args` (`args[0]` the program name) until SIGTERM or SIGINT.
///
/// Listeners come from the SDK (LISTEN_FDS, else STEWARD_LISTEN), else `--listen`. It
/// reports `READY=1` once listening and `STATUS=` with the count served, pets the watchdog
/// from the runtime (so a stuck event loop is noticed), and on the pause signal stops
/// accepting new connections (open ones are still served; new ones wait in the listen
/// backlog) until the continue signal. On stop it closes its listeners, closes idle
/// connections, lets requests in flight finish for up to `--drain-timeout`, and exits 0.
pub fn service_main_from<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let sdk = Service::from_env();
    match run(&sdk, args) {
        Ok(served) => {
            eprintln!("reverse: stopped after {served} answers");
            sdk.exit(Exit::Clean)
        }
        Err(e) => {
            eprintln!("reverse: {e}");
            sdk.exit(Exit::failed(1, e))
        }
    }
}

fn run(sdk: &Service, args: Args) -> Result<u64, String> {
    let mut listeners = sdk.take_listeners().map_err(|e| e.to_string())?;
    // Only a socket file this process bound is its to remove at exit.
    let mut bound_path: Option<PathBuf> = None;
    if listeners.is_empty() {
        listeners.push(
            args.listen
                .bind()
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?,
        );
        if let ListenAddress::Unix(path) = &args.listen {
            bound_path = Some(path.clone());
        }
    } else if let Ok(Some(ListenAddress::Unix(path))) = sdk.listen_address() {
        bound_path = Some(path);
    }
    let addresses: Vec<String> = listeners
        .iter()
        .map(|l| {
            l.local_address()
                .ok()
                .flatten()
                .map_or_else(|| "an inherited socket".into(), |a| a.to_string())
        })
        .collect();

    let stop = sdk
        .stop_token()
        .map_err(|e| format!("cannot handle stop signals: {e}"))?;
    let (pause_tx, pause_rx) = watch::channel(false);
    let pause_tx = Arc::new(pause_tx);
    let resume_tx = pause_tx.clone();
    sdk.on_pause(
        move || {
            pause_tx.send_replace(true);
        },
        move || {
            resume_tx.send_replace(false);
        },
    )
    .map_err(|e| format!("cannot handle pause signals: {e}"))?;

    let shared = Arc::new(Shared {
        instance: sdk.instance().unwrap_or(0),
        delay: Duration::from_millis(args.delay),
        served: AtomicU64::new(0),
    });
    let drain = Duration::from_millis(args.drain_timeout);
    let notifier = sdk.notifier().clone();
    let watchdog = sdk.watchdog_interval();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let work_stop = stop.clone();
    let work_shared = shared.clone();
    // The drain deadline is the service's own; the SDK's is a backstop in case it hangs.
    let result = sdk.run_with_deadline(&stop, drain + Duration::from_secs(2), move || {
        runtime.block_on(serve(
            listeners,
            addresses,
            work_shared,
            work_stop,
            pause_rx,
            notifier,
            watchdog,
            drain,
        ))
    });
    if let Some(path) = bound_path {
        let _ = std::fs::remove_file(path);
    }
    result.map(|()| shared.served.load(Ordering::Relaxed))
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    listeners: Vec<Listener>,
    addresses: Vec<String>,
    shared: Arc<Shared>,
    stop: StopToken,
    paused: watch::Receiver<bool>,
    notifier: Notifier,
    watchdog: Option<Duration>,
    drain: Duration,
) -> Result<(), String> {
    // Each connection holds a sender; when all are dropped, every connection is done.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let mut accepting = Vec::new();
    for listener in listeners {
        let listener = listener
            .into_tokio()
            .map_err(|e| format!("cannot use listener: {e}"))?;
        accepting.push(tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            stop.clone(),
            paused.clone(),
            open_tx.clone(),
        )));
    }
    drop(open_tx);
    let listening = addresses.join(", ");
    let _ = notifier.ready_with_status(&format!("listening on {listening}"));
    let reporter = tokio::spawn(report(
        notifier.clone(),
        shared.clone(),
        listening,
        watchdog,
    ));

    stop.stopped().await;
    let _ = notifier.send(&["STOPPING=1", "STATUS=stopping: finishing open requests"]);
    for task in accepting {
        // The accept loops return on stop, dropping (closing) their listeners.
        let _ = task.await;
    }
    if tokio::time::timeout(drain, open_rx.recv()).await.is_err() {
        eprintln!("reverse: requests still open after {drain:?}; exiting anyway");
    }
    reporter.abort();
    Ok(())
}

/// Sends `STATUS=` when the count changes (at most once a second) and pets the watchdog.
async fn report(
    notifier: Notifier,
    shared: Arc<Shared>,
    listening: String,
    watchdog: Option<Duration>,
) {
    let mut status = tokio::time::interval(Duration::from_secs(1));
    let mut pet = tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |p| {
        (p / 2).max(Duration::from_millis(1))
    }));
    let mut last = 0;
    loop {
        tokio::select! {
            _ = status.tick() => {
                let served = shared.served.load(Ordering::Relaxed);
                if served != last {
                    last = served;
                    let _ = notifier.status(&format!("listening on {listening}; served {served}"));
                }
            }
            _ = pet.tick(), if watchdog.is_some() => {
                let _ = notifier.watchdog();
            }
        }
    }
}

async fn accept_loop(
    listener: TokioListener,
    shared: Arc<Shared>,
    stop: StopToken,
    mut paused: watch::Receiver<bool>,
    open: mpsc::Sender<()>,
) {
    loop {
        if *paused.borrow_and_update() {
            tokio::select! {
                _ = stop.stopped() => return,
                _ = paused.changed() => continue,
            }
        }
        let accepted = tokio::select! {
            _ = stop.stopped() => return,
            _ = paused.changed() => continue,
            accepted = accept(&listener) => accepted,
        };
        match accepted {
            Ok(Conn::Tcp(s)) => {
                tokio::spawn(connection(s, shared.clone(), stop.clone(), open.clone()));
            }
            Ok(Conn::Unix(s)) => {
                tokio::spawn(connection(s, shared.clone(), stop.clone(), open.clone()));
            }
            Err(e) => {
                // Out of fds and the like pass; back off rather than spin.
                eprintln!("reverse: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &TokioListener) -> std::io::Result<Conn> {
    Ok(match listener {
        TokioListener::Tcp(l) => Conn::Tcp(l.accept().await?.0),
        TokioListener::Unix(l) => Conn::Unix(l.accept().await?.0),
    })
}

/// How long a connection that has sent nothing yet may take to send its first request,
/// once the service is stopping.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// Answers requests until the client closes, or until stop once no request is half read
/// (a connection not answered yet gets [`FIRST_REQUEST_GRACE`] for its first).
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    shared: Arc<Shared>,
    stop: StopToken,
    _open: mpsc::Sender<()>,
) {
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    // A connection not yet answered gets a moment at stop for its first request: its
    // client has most likely sent it already, and a shared socket (socket mode) may have
    // handed the connection over just as the stop came.
    let mut answered = false;
    loop {
        let read = if buf.is_empty() {
            if stop.is_stopped() {
                if answered {
                    return;
                }
                match tokio::time::timeout(FIRST_REQUEST_GRACE, read_request(&mut reader, &mut buf))
                    .await
                {
                    Ok(read) => read,
                    Err(_) => return,
                }
            } else {
                tokio::select! {
                    read = read_request(&mut reader, &mut buf) => read,
                    // Idle at stop: close. Part of a request already read: finish it.
                    _ = stop.stopped() => continue,
                }
            }
        } else {
            read_request(&mut reader, &mut buf).await
        };
        let terminator = match read {
            Ok(Some(terminator)) => terminator,
            // The client closed its side; text left without a terminator is answered too.
            Ok(None) if !buf.is_empty() => b"\n",
            Ok(None) => return,
            Err(e) => {
                let _ = writer.write_all(format!("error: {e}\n").as_bytes()).await;
                return;
            }
        };
        if !shared.delay.is_zero() {
            tokio::time::sleep(shared.delay).await;
        }
        let reply = answer(&buf, terminator, shared.instance);
        buf.clear();
        if writer.write_all(&reply).await.is_err() {
            return;
        }
        shared.served.fetch_add(1, Ordering::Relaxed);
        answered = true;
    }
}
