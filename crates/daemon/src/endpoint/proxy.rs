//! One proxy endpoint's task: accept, check who connects, pick an instance, relay.
//!
//! The accept loop owns the [`Balancer`]: every pick happens here, in order. Each
//! connection then runs in a task of its own (identity lookup, connect, relay) and comes
//! back to the loop as a [`Route`] only to be picked for again: first after the ACL let it
//! in, then after an instance refused it, with that instance excluded. So a refused
//! connect is retried on the next instance before the client notices, and a client is
//! answered at once (closed) when no instance can take it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use steward_core::acl::{Caller, Decision};
use steward_core::balance::{Balancer, Candidate};
use steward_core::endpoint::{self as core_endpoint};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::conn::Conn;
use super::listen::Listener;
use super::relay::{Counters, relay};
use super::{Backend, InstanceStats, Pool, Report, Settings, Stats};
use crate::auth::identity::Identities;

pub struct Proxy {
    pub service: String,
    pub listener: Listener,
    pub pool: watch::Receiver<Pool>,
    pub settings: watch::Receiver<Arc<Settings>>,
    pub stats: Arc<Stats>,
    pub identities: Arc<Identities>,
    pub reports: mpsc::UnboundedSender<Report>,
}

/// A client connection waiting for an instance.
struct Route {
    client: Conn,
    _open: Open,
    /// Instances that refused it already.
    tried: Vec<u32>,
}

/// Counts a connection as open until dropped.
struct Open(Arc<Stats>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a connection as open on one instance until dropped; the last one out wakes a
/// drain.
struct Lease(Arc<InstanceStats>);

impl Lease {
    fn take(stats: &Arc<InstanceStats>) -> Lease {
        stats.active.fetch_add(1, Ordering::AcqRel);
        Lease(stats.clone())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Proxy {
    pub async fn run(self) {
        let (route_tx, mut routes) = mpsc::unbounded_channel::<Route>();
        let mut balancer = Balancer::new(
            self.settings.borrow().balance,
            crate::supervisor::random_seed(),
        );
        loop {
            tokio::select! {
                // Connections already accepted come first: they hold a client waiting.
                biased;
                Some(route) = routes.recv() => self.route(route, &mut balancer, &route_tx),
                accepted = self.accept() => match accepted {
                    Ok((client, who)) => {
                        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                        self.stats.active.fetch_add(1, Ordering::Relaxed);
                        let open = Open(self.stats.clone());
                        // Without an ACL there is nobody to look up: straight to a pick.
                        if self.settings.borrow().acl.is_none() {
                            let route = Route { client, _open: open, tried: Vec::new() };
                            self.route(route, &mut balancer, &route_tx);
                            continue;
                        }
                        tokio::spawn(admit(
                            self.service.clone(),
                            client,
                            who,
                            open,
                            self.settings.clone(),
                            self.identities.clone(),
                            self.reports.clone(),
                            route_tx.clone(),
                        ));
                    }
                    Err(e) => {
                        // Out of file descriptors, most likely: let some close.
                        warn!("{}: endpoint cannot accept: {e}", self.service);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
            }
        }
    }

    async fn accept(&self) -> std::io::Result<(Conn, Peer)> {
        match &self.listener {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok((Conn::Tcp(s), Peer::Tcp(addr)))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                let cred = s.peer_cred().ok();
                Ok((Conn::Unix(s), Peer::Unix(cred)))
            }
        }
    }

    /// Picks an instance for `route` and hands the connection to it, or closes it when no
    /// instance can take it.
    fn route(&self, route: Route, balancer: &mut Balancer, again: &mpsc::UnboundedSender<Route>) {
        let settings = self.settings.borrow().clone();
        if balancer.balance() != settings.balance {
            balancer.set_balance(settings.balance);
        }
        let pool = self.pool.borrow().clone();
        let candidates: Vec<Candidate> = pool
            .iter()
            .map(|b| Candidate {
                index: b.index,
                eligible: b.takes_connections,
                active: b.stats.active.load(Ordering::Relaxed) as u32,
            })
            .collect();
        let Some(index) = balancer.pick(&candidates, &route.tried) else {
            self.stats.unavailable.fetch_add(1, Ordering::Relaxed);
            debug!(
                "{}: no instance can take a connection (tried {:?}); closed",
                self.service, route.tried
            );
            return;
        };
        let Some(backend) = pool.iter().find(|b| b.index == index).cloned() else {
            return;
        };
        let lease = Lease::take(&backend.stats);
        tokio::spawn(forward(
            route,
            backend,
            lease,
            self.stats.clone(),
            settings.connect_timeout,
            again.clone(),
        ));
    }
}

/// Who is on the other end, as the kernel says.
enum Peer {
    Tcp(std::net::SocketAddr),
    Unix(Option<tokio::net::unix::UCred>),
}

/// Checks the ACL (looking the caller up only when there is one), then asks for an instance.
#[allow(clippy::too_many_arguments)]
async fn admit(
    service: String,
    client: Conn,
    peer: Peer,
    open: Open,
    settings: watch::Receiver<Arc<Settings>>,
    identities: Arc<Identities>,
    reports: mpsc::UnboundedSender<Report>,
    routes: mpsc::UnboundedSender<Route>,
) {
    let acl = settings.borrow().acl.clone();
    if let Some(acl) = acl {
        let (caller, who) = match peer {
            Peer::Tcp(addr) => (
                Caller {
                    address: Some(addr.ip()),
                    ..Caller::anonymous()
                },
                format!("anonymous from {addr}"),
            ),
            Peer::Unix(Some(cred)) => {
                let caller = identities.resolve(cred.uid(), cred.gid()).await;
                let who = crate::auth::identity::describe(cred.uid(), cred.pid(), &caller);
                ((*caller).clone(), who)
            }
            Peer::Unix(None) => (Caller::anonymous(), "a peer without credentials".into()),
        };
        let refusal = match core_endpoint::admit(Some(&acl), &caller) {
            Decision::Allowed => None,
            Decision::Denied(entry) => Some(format!("the entry `{entry}` refuses it")),
            Decision::NotGranted => {
                Some("no entry of the ACL grants both `read` and `write`".into())
            }
        };
        if let Some(why) = refusal {
            open.0.refused.fetch_add(1, Ordering::Relaxed);
            let _ = reports.send(Report::Refused {
                service,
                who,
                reason: why,
            });
            // Dropping `client` closes the connection: a byte stream has no refusal to send.
            return;
        }
    }
    let _ = routes.send(Route {
        client,
        _open: open,
        tried: Vec::new(),
    });
}

/// Connects to the chosen instance and relays; a refused or timed-out connect goes back
/// to the loop to be tried elsewhere.
async fn forward(
    mut route: Route,
    backend: Backend,
    lease: Lease,
    stats: Arc<Stats>,
    connect_timeout: std::time::Duration,
    again: mpsc::UnboundedSender<Route>,
) {
    let connected = tokio::time::timeout(connect_timeout, Conn::connect(&backend.address)).await;
    let instance = match connected {
        Ok(Ok(c)) => c,
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            debug!(
                "connect to {} failed ({why}); trying another instance",
                backend.address
            );
            backend.stats.failed.fetch_add(1, Ordering::Relaxed);
            stats.failed_over.fetch_add(1, Ordering::Relaxed);
            drop(lease);
            route.tried.push(backend.index);
            let _ = again.send(route);
            return;
        }
    };
    backend.stats.connections.fetch_add(1, Ordering::Relaxed);
    let up = Counters {
        endpoint: &stats.bytes_in,
        instance: &backend.stats.bytes_in,
    };
    let down = Counters {
        endpoint: &stats.bytes_out,
        instance: &backend.stats.bytes_out,
    };
    if let Err(e) = relay(&route.client, &instance, up, down).await {
        debug!("relay with {} ended: {e}", backend.address);
    }
    drop(lease);
    drop(route);
}
