//! `reverse-client`: sends text to the `reverse` service and prints the answer.
//!
//! Plain std sockets and threads: a client makes a handful of blocking requests, for which
//! a runtime would add nothing.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use steward_sdk::ListenAddress;

use crate::protocol::instance_of;

/// Sends text to the reverse service and prints the answer, e.g. `olleh (instance 2)`.
#[derive(Parser, Debug)]
#[command(name = "reverse-client", version)]
struct Args {
    /// The text to reverse (one line: a newline or NUL would end the request).
    #[arg(default_value = "hello")]
    text: String,
    /// The service's address: unix:/path or tcp:IP:PORT.
    #[arg(long, env = "REVERSE_ADDRESS", default_value = crate::DEFAULT_ADDRESS)]
    address: ListenAddress,
    /// Send N requests, each on a new connection, and print how many each instance
    /// answered and how many failed (exit 1 if any failed).
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// With --count, how many requests are in flight at once.
    #[arg(long, value_name = "C", default_value_t = 1)]
    concurrency: usize,
    /// Send one request and exit 0 if answered, 1 if not, printing nothing on success
    /// (a liveness probe).
    #[arg(long, conflicts_with = "count")]
    ping: bool,
    /// End the request with NUL instead of a newline.
    #[arg(long)]
    nul: bool,
    /// How long to wait for the connection.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    connect_timeout: u64,
    /// How long to wait for the answer.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    timeout: u64,
}

/// Runs the client with `args` (`args[0]` the program name); see `reverse-client --help`.
pub fn client_main<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    if args.text.contains(['\0', '\n']) {
        eprintln!(
            "reverse-client: the text cannot contain a newline or NUL: either ends a request"
        );
        return ExitCode::from(2);
    }
    let terminator = if args.nul { b'\0' } else { b'\n' };
    let request = Request {
        address: &args.address,
        terminator,
        connect_timeout: Duration::from_millis(args.connect_timeout),
        timeout: Duration::from_millis(args.timeout),
    };
    if let Some(count) = args.count {
        return many(&request, &args.text, count, args.concurrency.max(1));
    }
    match request.send(if args.ping { "ping" } else { &args.text }) {
        Ok(_) if args.ping => ExitCode::SUCCESS,
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("reverse-client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One request's settings.
struct Request<'a> {
    address: &'a ListenAddress,
    terminator: u8,
    connect_timeout: Duration,
    timeout: Duration,
}

impl Request<'_> {
    /// Sends `text` on a new connection and returns the answer without its terminator.
    fn send(&self, text: &str) -> Result<String, String> {
        let address = self.address;
        let fail = |what: &str, e: std::io::Error| format!("{what} {address}: {e}");
        let mut payload = text.as_bytes().to_vec();
        payload.push(self.terminator);
        let answer = match address {
            ListenAddress::Tcp(addr) => {
                let stream = TcpStream::connect_timeout(addr, self.connect_timeout)
                    .map_err(|e| fail("cannot connect to", e))?;
                stream
                    .set_read_timeout(Some(self.timeout))
                    .map_err(|e| fail("cannot use", e))?;
                stream
                    .set_write_timeout(Some(self.timeout))
                    .map_err(|e| fail("cannot use", e))?;
                self.exchange(stream, &payload)
            }
            // A Unix connect either succeeds or fails at once: no timeout to apply.
            ListenAddress::Unix(path) => {
                let stream = UnixStream::connect(path).map_err(|e| fail("cannot connect to", e))?;
                stream
                    .set_read_timeout(Some(self.timeout))
                    .map_err(|e| fail("cannot use", e))?;
                stream
                    .set_write_timeout(Some(self.timeout))
                    .map_err(|e| fail("cannot use", e))?;
                self.exchange(stream, &payload)
            }
        };
        answer.map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("no answer from {address} within {:?}", self.timeout)
            }
            _ => fail("failed talking to", e),
        })
    }

    fn exchange<S: std::io::Read + Write>(
        &self,
        mut stream: S,
        payload: &[u8],
    ) -> std::io::Result<String> {
        stream.write_all(payload)?;
        let mut answer = Vec::new();
        BufReader::new(stream).read_until(self.terminator, &mut answer)?;
        if answer.pop() != Some(self.terminator) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the answer",
            ));
        }
        if self.terminator == b'\n' && answer.last() == Some(&b'\r') {
            answer.pop();
        }
        String::from_utf8(answer)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// `--count`: `count` requests over `concurrency` threads; a summary per instance.
fn many(request: &Request<'_>, text: &str, count: usize, concurrency: usize) -> ExitCode {
    let next = AtomicUsize::new(0);
    let per_instance = Mutex::new(BTreeMap::<Option<u32>, usize>::new());
    let errors = Mutex::new(Vec::<String>::new());
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(count.max(1)) {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    match request.send(text) {
                        Ok(answer) => {
                            *per_instance
                                .lock()
                                .unwrap()
                                .entry(instance_of(&answer))
                                .or_default() += 1
                        }
                        Err(e) => errors.lock().unwrap().push(e),
                    }
                }
            });
        }
    });
    for (instance, served) in per_instance.into_inner().unwrap() {
        match instance {
            Some(i) => println!("instance {i}: {served}"),
            None => println!("unknown instance: {served}"),
        }
    }
    let errors = errors.into_inner().unwrap();
    println!("failed: {}", errors.len());
    // The distinct reasons, once each, so a dead service is one clear line.
    let mut reasons = errors.clone();
    reasons.sort();
    reasons.dedup();
    for reason in reasons.iter().take(5) {
        eprintln!("reverse-client: {reason}");
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
