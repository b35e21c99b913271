//! Who a Unix peer is: its uid and gid come from the kernel (`SO_PEERCRED`), its name and
//! supplementary groups from the name service. The name service may be remote (LDAP), so
//! lookups run on a blocking thread, never on the one the supervisor loop shares, and
//! their answers are kept for [`TTL`]: a client that sends many requests, or many clients
//! of one user, cost one lookup.

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Group, Uid, User};
use steward_core::acl::Caller;

/// How long a looked-up identity is used before it is looked up again: group changes
/// reach steward within this.
pub const TTL: Duration = Duration::from_secs(10);

/// Most identities kept; past this the cache starts over.
const MAX_KEPT: usize = 4096;

/// Looked-up callers by (uid, gid), with when they were looked up.
type Kept = HashMap<(u32, u32), (Instant, Arc<Caller>)>;

#[derive(Default)]
pub struct Identities {
    // A plain mutex: held for a map lookup or insert, never across an await.
    kept: Mutex<Kept>,
}

impl Identities {
    /// The caller with kernel ids `uid` and `gid`: its user name, and its groups (the
    /// primary `gid`, plus the user's supplementary groups), with their names.
    pub async fn resolve(&self, uid: u32, gid: u32) -> Arc<Caller> {
        if let Some(caller) = self.kept(uid, gid) {
            return caller;
        }
        let caller = tokio::task::spawn_blocking(move || look_up(uid, gid))
            .await
            .unwrap_or_else(|_| Caller {
                uid: Some(uid),
                gids: vec![gid],
                ..Caller::default()
            });
        let caller = Arc::new(caller);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= MAX_KEPT {
            kept.clear();
        }
        kept.insert((uid, gid), (Instant::now(), caller.clone()));
        caller
    }

    fn kept(&self, uid: u32, gid: u32) -> Option<Arc<Caller>> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let (at, caller) = kept.get(&(uid, gid))?;
        (at.elapsed() < TTL).then(|| caller.clone())
    }
}

/// A Unix peer as the journal names it: `uid 1000 (alice), pid 4242`.
pub fn describe(uid: u32, pid: Option<i32>, caller: &Caller) -> String {
    let name = caller
        .user
        .as_deref()
        .map_or(String::new(), |n| format!(" ({n})"));
    match pid {
        Some(pid) => format!("uid {uid}{name}, pid {pid}"),
        None => format!("uid {uid}{name}"),
    }
}

/// The name service's view of `uid`, with the kernel's `gid` always among its groups. A
/// uid without a passwd entry is still that uid, with only that gid.
fn look_up(uid: u32, gid: u32) -> Caller {
    let user = User::from_uid(Uid::from_raw(uid)).ok().flatten();
    let mut gids = vec![gid];
    if let Some(u) = &user
        && let Ok(name) = CString::new(u.name.as_str())
        && let Ok(list) = nix::unistd::getgrouplist(&name, u.gid)
    {
        for g in list {
            if !gids.contains(&g.as_raw()) {
                gids.push(g.as_raw());
            }
        }
    }
    let groups = gids
        .iter()
        .filter_map(|g| Group::from_gid(Gid::from_raw(*g)).ok().flatten())
        .map(|g| g.name)
        .collect();
    Caller {
        uid: Some(uid),
        user: user.map(|u| u.name),
        gids,
        groups,
        address: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn root_is_looked_up_with_its_groups_and_kept() {
        let ids = Identities::default();
        let root = ids.resolve(0, 0).await;
        assert_eq!(root.uid, Some(0));
        assert_eq!(root.user.as_deref(), Some("root"));
        assert!(root.gids.contains(&0));
        assert!(root.groups.iter().any(|g| g == "root"));
        assert!(Arc::ptr_eq(&root, &ids.resolve(0, 0).await));
    }

    #[tokio::test]
    async fn a_uid_without_an_entry_keeps_its_kernel_ids() {
        let c = Identities::default().resolve(3_999_999, 3_999_998).await;
        assert_eq!(c.uid, Some(3_999_999));
        assert_eq!(c.user, None);
        assert_eq!(c.gids, [3_999_998]);
    }
}
