//! Service endpoints: one address in front of every instance of a service.
//!
//! The supervisor loop owns [`Endpoints`]. It binds each endpoint's address when the
//! config gains it, tells the proxy which instances take connections (a `watch` of the
//! [`Pool`], sent whenever an instance's state changes that), asks for drains, and
//! prepares what each instance is given at its start: its own address in
//! `STEWARD_LISTEN` (proxy mode) or the endpoint's listening socket as fd 3 with
//! `LISTEN_FDS` (socket mode).
//!
//! In proxy mode one task per endpoint ([`proxy`]) accepts, checks the ACL, picks an
//! instance and relays ([`relay`]). The counters are atomics written by the connections
//! and read by the status; every decision stays with one owner.

mod conn;
mod listen;
mod proxy;
mod relay;

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use steward_core::acl::Acl;
use steward_core::balance::Balance;
use steward_core::config::{EndpointMode, EndpointSpec, ServiceSpec};
use steward_core::endpoint::{self as core_endpoint, Address};
use steward_proto as proto;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{info, warn};

use crate::auth::identity::Identities;
use crate::process::Launch;
pub use listen::Bound;

/// What the endpoints tell the supervisor loop.
#[derive(Debug)]
pub enum Report {
    /// The instance's run `generation` has no connection open any more.
    Drained {
        service: String,
        index: u32,
        generation: u64,
    },
    /// A connection was refused by the endpoint's ACL: journaled as an `access` event.
    Refused {
        service: String,
        who: String,
        reason: String,
    },
}

/// One endpoint's figures, as its connections count them.
#[derive(Default)]
pub struct Stats {
    accepted: AtomicU64,
    active: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
    failed_over: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// One instance's figures behind a proxy endpoint.
#[derive(Default)]
pub struct InstanceStats {
    connections: AtomicU64,
    active: AtomicU64,
    failed: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Woken when `active` drops to zero.
    idle: Notify,
}

/// One instance as the proxy sees it.
#[derive(Clone)]
pub struct Backend {
    pub index: u32,
    pub address: Arc<Address>,
    pub takes_connections: bool,
    pub stats: Arc<InstanceStats>,
}

pub type Pool = Arc<Vec<Backend>>;

/// What the proxy reads at each connection; replaced by a reload.
pub struct Settings {
    pub acl: Option<Acl>,
    pub balance: Balance,
    pub connect_timeout: Duration,
}

struct Endpoint {
    spec: EndpointSpec,
    bound: Result<Bound, String>,
    stats: Arc<Stats>,
    instances: Vec<Arc<InstanceStats>>,
    pool: watch::Sender<Pool>,
    settings: watch::Sender<Arc<Settings>>,
    proxy: Option<tokio::task::JoinHandle<()>>,
}

pub struct Endpoints {
    map: HashMap<String, Endpoint>,
    /// Where the instances' own Unix sockets go (`STATE_DIR/endpoints/SERVICE/`).
    state_dir: PathBuf,
    identities: Arc<Identities>,
    reports: mpsc::UnboundedSender<Report>,
}

impl Endpoints {
    pub fn new(state_dir: PathBuf, reports: mpsc::UnboundedSender<Report>) -> Endpoints {
        Endpoints {
            map: HashMap::new(),
            state_dir,
            identities: Arc::new(Identities::default()),
            reports,
        }
    }

    /// Makes the endpoints match the services: binds new ones, rebinds moved ones, passes
    /// new settings on, and closes the endpoints of services that lost theirs. Each service
    /// comes with whether each of its instances may be given connections now.
    pub fn sync<'a>(
        &mut self,
        services: impl Iterator<Item = (&'a String, &'a ServiceSpec, Vec<bool>)>,
    ) {
        let mut wanted = BTreeMap::new();
        for (name, spec, takes) in services {
            if let Some(e) = &spec.endpoint {
                wanted.insert(name.clone(), (e.clone(), takes));
            }
        }
        let gone: Vec<String> = self
            .map
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(e) = self.map.remove(&name) {
                info!("{name}: endpoint {} closed", e.spec.listen);
                e.close();
            }
        }
        for (name, (spec, takes)) in wanted {
            // The endpoint to keep, and the settings it runs with from now on.
            let (mut e, applied) = match self.map.remove(&name) {
                None => (self.open(&name, spec.clone(), &takes, None), spec.clone()),
                Some(old)
                    if old.bound.is_err()
                        || (old.spec.listen == spec.listen && old.spec.mode != spec.mode) =>
                {
                    // Not bound yet (a reload tries again), or the same address in
                    // another mode, which must be free first.
                    let carried = old.figures();
                    old.close();
                    let e = self.open(&name, spec.clone(), &takes, Some(carried));
                    (e, spec.clone())
                }
                Some(old) if old.spec.listen != spec.listen => {
                    // A new address is bound before the old one closes, so a bind that
                    // fails (the port is taken) leaves the endpoint where it was, with
                    // the rest of the new settings (a tighter ACL above all).
                    let new = self.open(&name, spec.clone(), &takes, Some(old.figures()));
                    if new.bound.is_ok() {
                        old.close();
                        (new, spec.clone())
                    } else {
                        warn!(
                            "{name}: the endpoint stays on {}, since {} cannot be bound",
                            old.spec.listen, spec.listen
                        );
                        new.close();
                        let kept = EndpointSpec {
                            listen: old.spec.listen.clone(),
                            socket_mode: old.spec.socket_mode,
                            socket_group: old.spec.socket_group.clone(),
                            ..spec.clone()
                        };
                        (old, kept)
                    }
                }
                Some(old) => {
                    if (old.spec.socket_mode, &old.spec.socket_group)
                        != (spec.socket_mode, &spec.socket_group)
                    {
                        old.set_owner_and_mode(&name, &spec);
                    }
                    (old, spec.clone())
                }
            };
            e.settings.send_replace(Arc::new(settings_of(&applied)));
            e.spec = applied;
            e.publish_pool(&name, &self.state_dir, &takes);
            self.map.insert(name, e);
        }
    }

    /// Binds `spec.listen` and, in proxy mode, starts its proxy once the pool of
    /// instances is published (so no connection finds it empty). `carried`: the figures of
    /// the endpoint this one replaces, whose connections may still be open (a drain counts
    /// them).
    fn open(
        &self,
        name: &str,
        spec: EndpointSpec,
        takes: &[bool],
        carried: Option<Figures>,
    ) -> Endpoint {
        let bound = listen::bind(&spec);
        match &bound {
            Ok(_) => info!(
                "{name}: endpoint listening on {} ({} mode)",
                spec.listen,
                spec.mode.as_str()
            ),
            Err(e) => warn!("{name}: endpoint {} not served: {e}", spec.listen),
        }
        let (stats, instances) = carried.unwrap_or_default();
        let (pool, _) = watch::channel(Arc::new(Vec::new()));
        let (settings, _) = watch::channel(Arc::new(settings_of(&spec)));
        let mut e = Endpoint {
            spec,
            bound,
            stats,
            instances,
            pool,
            settings,
            proxy: None,
        };
        e.publish_pool(name, &self.state_dir, takes);
        if let (Ok(b), EndpointMode::Proxy) = (&e.bound, e.spec.mode) {
            match relays().enter_and(|| b.to_tokio()) {
                Ok(listener) => {
                    let proxy = proxy::Proxy {
                        service: name.to_string(),
                        listener,
                        pool: e.pool.subscribe(),
                        settings: e.settings.subscribe(),
                        stats: e.stats.clone(),
                        identities: self.identities.clone(),
                        reports: self.reports.clone(),
                    };
                    e.proxy = Some(relays().spawn(proxy.run()));
                }
                Err(err) => warn!("{name}: endpoint {} not served: {err}", e.spec.listen),
            }
        }
        e
    }

    /// An instance may or may not take connections now (after each of its steps).
    pub fn set_takes(&mut self, service: &str, index: u32, takes: bool) {
        let Some(e) = self.map.get_mut(service) else {
            return;
        };
        e.pool
            .send_if_modified(|pool| match pool.iter().position(|b| b.index == index) {
                Some(i) if pool[i].takes_connections != takes => {
                    Arc::make_mut(pool)[i].takes_connections = takes;
                    true
                }
                _ => false,
            });
    }

    /// Reports [`Report::Drained`] once the instance has no connection open (or at once).
    pub fn drain(&self, service: &str, index: u32, generation: u64, limit: Duration) {
        let reports = self.reports.clone();
        let done = Report::Drained {
            service: service.to_string(),
            index,
            generation,
        };
        let Some(stats) = self
            .map
            .get(service)
            .and_then(|e| e.instances.get(index as usize).cloned())
        else {
            let _ = reports.send(done);
            return;
        };
        tokio::spawn(async move {
            // The instance's drain timer ends the wait anyway; this only bounds the task.
            let _ = tokio::time::timeout(limit + Duration::from_secs(1), async {
                loop {
                    let idle = stats.idle.notified();
                    if stats.active.load(Ordering::Acquire) == 0 {
                        return;
                    }
                    idle.await;
                }
            })
            .await;
            let _ = reports.send(done);
        });
    }

    /// Gives instance `index` of `spec` what its endpoint hands it: its own address to
    /// listen on (proxy mode, in `STEWARD_LISTEN`, and `PORT` for TCP), or the endpoint's
    /// listening socket as fd 3 (socket mode, with `LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`).
    pub fn prepare(
        &self,
        spec: &ServiceSpec,
        index: u32,
        launch: &mut Launch,
    ) -> Result<(), String> {
        let Some(endpoint) = &spec.endpoint else {
            return Ok(());
        };
        match endpoint.mode {
            EndpointMode::Proxy => {
                let address =
                    core_endpoint::instance_address(endpoint, &spec.name, index, &self.state_dir);
                match &address {
                    Address::Unix(path) => prepare_socket_dir(path, launch)?,
                    Address::Tcp(a) => launch.set_env("PORT", &a.port().to_string()),
                }
                launch.set_env("STEWARD_LISTEN", &address.to_string());
            }
            EndpointMode::Socket => {
                let bound = self
                    .map
                    .get(&spec.name)
                    .map(|e| e.bound.as_ref())
                    .ok_or("the endpoint is not open")?
                    .map_err(|e| format!("the endpoint's socket is not bound: {e}"))?;
                let fd = bound
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| format!("cannot pass the endpoint's socket: {e}"))?;
                launch.fds.push((fd, 3));
                launch.set_env("LISTEN_FDS", "1");
                launch.set_env("LISTEN_FDNAMES", &spec.name);
                launch.pid_env.push("LISTEN_PID".into());
            }
        }
        Ok(())
    }

    pub fn status(&self, service: &str) -> Option<proto::EndpointStatus> {
        let e = self.map.get(service)?;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let pool = e.pool.borrow().clone();
        Some(proto::EndpointStatus {
            listen: e.spec.listen.to_string(),
            mode: e.spec.mode.as_str().into(),
            balance: e.spec.balance.as_str().into(),
            listening: e.bound.is_ok(),
            error: e.bound.as_ref().err().cloned(),
            accepted: load(&e.stats.accepted),
            active: load(&e.stats.active),
            refused: load(&e.stats.refused),
            unavailable: load(&e.stats.unavailable),
            failed_over: load(&e.stats.failed_over),
            bytes_in: load(&e.stats.bytes_in),
            bytes_out: load(&e.stats.bytes_out),
            instances: pool
                .iter()
                .map(|b| proto::EndpointInstance {
                    instance: b.index,
                    address: b.address.to_string(),
                    takes_connections: b.takes_connections,
                    connections: load(&b.stats.connections),
                    active: load(&b.stats.active),
                    failed: load(&b.stats.failed),
                    bytes_in: load(&b.stats.bytes_in),
                    bytes_out: load(&b.stats.bytes_out),
                })
                .collect(),
        })
    }

    /// steward is stopping: every endpoint closes (and its socket file goes).
    pub fn close_all(&mut self) {
        for (_, e) in self.map.drain() {
            e.close();
        }
    }
}

/// An endpoint's counters, kept when it moves to another address.
type Figures = (Arc<Stats>, Vec<Arc<InstanceStats>>);

impl Endpoint {
    fn figures(&self) -> Figures {
        (self.stats.clone(), self.instances.clone())
    }

    /// Publishes the instances behind the endpoint (proxy mode), one per `takes` entry.
    fn publish_pool(&mut self, service: &str, state_dir: &Path, takes: &[bool]) {
        if self.spec.mode != EndpointMode::Proxy {
            self.pool.send_replace(Arc::new(Vec::new()));
            return;
        }
        while self.instances.len() < takes.len() {
            self.instances.push(Arc::default());
        }
        let pool: Vec<Backend> = takes
            .iter()
            .enumerate()
            .map(|(i, &t)| Backend {
                index: i as u32,
                address: Arc::new(core_endpoint::instance_address(
                    &self.spec, service, i as u32, state_dir,
                )),
                takes_connections: t,
                stats: self.instances[i].clone(),
            })
            .collect();
        self.pool.send_replace(Arc::new(pool));
    }

    /// A Unix socket's new group and mode, applied to the file in place.
    fn set_owner_and_mode(&self, service: &str, spec: &EndpointSpec) {
        let (Ok(_), Address::Unix(path)) = (&self.bound, &spec.listen) else {
            return;
        };
        let gid = spec.socket_group.as_deref().and_then(|g| {
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .map(|g| g.gid.as_raw())
        });
        let mode = spec.socket_mode.unwrap_or(listen::DEFAULT_MODE);
        if let Err(e) = crate::api::set_owner_and_mode(path, mode, gid) {
            warn!("{service}: cannot apply the endpoint's socket_mode and socket_group: {e}");
        }
    }

    fn close(self) {
        if let Some(task) = self.proxy {
            task.abort();
        }
        if let (Ok(_), Address::Unix(path)) = (&self.bound, &self.spec.listen) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The threads the proxies and their relays run on, started with the first proxy: their
/// traffic never delays the supervisor loop, which has a thread of its own.
struct Relays {
    handle: tokio::runtime::Handle,
}

impl Relays {
    fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `f` where tokio sockets register with this thread's reactor.
    fn enter_and<T>(&self, f: impl FnOnce() -> T) -> T {
        let _entered = self.handle.enter();
        f()
    }
}

fn relays() -> &'static Relays {
    static RELAYS: std::sync::OnceLock<Relays> = std::sync::OnceLock::new();
    RELAYS.get_or_init(|| {
        // Two threads: a relay's two ways, or two connections, can use both cores while
        // the clients and instances share them.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("endpoints")
            .enable_all()
            .build()
            .expect("a runtime for the endpoints");
        let handle = runtime.handle().clone();
        // The runtime lives as long as steward: it drives every proxy task.
        std::mem::forget(runtime);
        Relays { handle }
    })
}

fn settings_of(spec: &EndpointSpec) -> Settings {
    Settings {
        acl: spec.acl.clone(),
        balance: spec.balance,
        connect_timeout: spec.connect_timeout,
    }
}

/// The instance binds its own socket in a directory only its user (and root) may enter,
/// so nobody reaches it past the endpoint's ACL. A socket left by its last run goes first.
fn prepare_socket_dir(path: &Path, launch: &Launch) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    core_endpoint::fits_sockaddr(path).map_err(|e| {
        format!("{e}: set a shorter [supervisor] state_dir, or give the endpoint a TCP `backend`")
    })?;
    let dir = path.parent().ok_or("no directory")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if let Some(id) = &launch.identity {
        std::os::unix::fs::chown(dir, Some(id.uid.as_raw()), Some(id.gid.as_raw()))
            .map_err(|e| format!("cannot give {} to {}: {e}", dir.display(), id.user))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "cannot remove the old socket {}: {e}",
            path.display()
        )),
    }
}
