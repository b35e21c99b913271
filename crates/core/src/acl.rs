//! Access control lists: ordered `allow`/`deny` entries over principals and rights, and
//! the one decision that matters: may this caller do that?
//!
//! An entry reads `allow|deny PRINCIPAL RIGHT[,RIGHT...]`, e.g. `deny group:guests all`,
//! `allow authenticated read`, `allow group:ops control`. As in Windows, a matching deny
//! wins over any allow, whatever their order, and no matching allow means no access.
//!
//! Rights nest: `admin` includes `control`, which includes `read`; `write` (endpoints)
//! stands alone; `all` is every right. An allow grants the rights it names and those they
//! include. A deny refuses the rights it names and every right that includes them: who may
//! not read may not control either.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::config::Config;
use crate::words::{comma_parts, words};

/// One right, as a bit of a [`Rights`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    /// Status, events, logs, metrics.
    Read,
    /// start, stop, restart, pause, continue.
    Control,
    /// reload, shutdown, config.
    Admin,
    /// Connecting to an endpoint.
    Write,
}

impl Right {
    pub const ALL: [Right; 4] = [Right::Read, Right::Control, Right::Admin, Right::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            Right::Read => "read",
            Right::Control => "control",
            Right::Admin => "admin",
            Right::Write => "write",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Right::Read => 1,
            Right::Control => 2,
            Right::Admin => 4,
            Right::Write => 8,
        }
    }

    /// This right and those it includes (what an allow of it grants).
    fn granted(self) -> Rights {
        Rights(match self {
            Right::Read => 1,
            Right::Control => 1 | 2,
            Right::Admin => 1 | 2 | 4,
            Right::Write => 8,
        })
    }

    /// This right and those that include it (what a deny of it refuses).
    fn refused(self) -> Rights {
        Rights(match self {
            Right::Read => 1 | 2 | 4,
            Right::Control => 2 | 4,
            Right::Admin => 4,
            Right::Write => 8,
        })
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rights(u8);

impl Rights {
    pub const NONE: Rights = Rights(0);
    pub const ALL: Rights = Rights(1 | 2 | 4 | 8);

    pub fn contains(self, r: Right) -> bool {
        self.0 & r.bit() != 0
    }

    fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
}

/// Who an entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    User(String),
    Uid(u32),
    Group(String),
    Gid(u32),
    /// Any caller with an identity (a Unix peer, a valid token).
    Authenticated,
    /// A caller without one (no token on TCP).
    Anonymous,
    Everyone,
    /// A TCP caller whose address is in this network (`address:10.0.0.0/8`).
    Address(Cidr),
}

/// An IP network: `10.0.0.0/8`, `::1/128`; a bare address is a /32 (or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = ip
            .parse()
            .map_err(|_| format!("`{ip}` is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("`/{p}` is not a prefix length from 0 to {max}")),
            },
        };
        let cidr = Cidr { network, prefix };
        if cidr.masked(network) != network {
            return Err(format!(
                "`{text}` has bits set past its prefix; the network is {}/{prefix}",
                cidr.masked(network)
            ));
        }
        Ok(cidr)
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((bits & mask).into())
            }
        }
    }

    /// Whether `ip` is in the network; an IPv4 address seen as `::ffff:a.b.c.d` counts
    /// as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.network.is_ipv4() && self.masked(ip) == self.network
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(n) => write!(f, "user:{n}"),
            Principal::Uid(n) => write!(f, "uid:{n}"),
            Principal::Group(n) => write!(f, "group:{n}"),
            Principal::Gid(n) => write!(f, "gid:{n}"),
            Principal::Authenticated => f.write_str("authenticated"),
            Principal::Anonymous => f.write_str("anonymous"),
            Principal::Everyone => f.write_str("everyone"),
            Principal::Address(c) => write!(f, "address:{c}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Allow,
    Deny,
}

/// One parsed entry. `named` keeps the rights as written, for messages; `rights` is what
/// the entry covers once nesting is applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub kind: Kind,
    pub principal: Principal,
    pub named: Vec<Right>,
    rights: Rights,
}

impl Entry {
    pub fn new(kind: Kind, principal: Principal, named: Vec<Right>) -> Entry {
        let rights = named.iter().fold(Rights::NONE, |acc, r| {
            acc.union(match kind {
                Kind::Allow => r.granted(),
                Kind::Deny => r.refused(),
            })
        });
        Entry {
            kind,
            principal,
            named,
            rights,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Allow => "allow",
            Kind::Deny => "deny",
        };
        let rights: Vec<&str> = self.named.iter().map(|r| r.as_str()).collect();
        write!(f, "{kind} {} {}", self.principal, rights.join(","))
    }
}

/// A caller, as the kernel or a token says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// `None` for an anonymous caller.
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// Primary and supplementary groups.
    pub gids: Vec<u32>,
    pub groups: Vec<String>,
    /// The peer's IP address, for a TCP caller.
    pub address: Option<IpAddr>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    fn authenticated(&self) -> bool {
        self.uid.is_some() || self.user.is_some()
    }

    /// Without an identity: a TCP caller that presented no token.
    pub fn is_anonymous(&self) -> bool {
        !self.authenticated()
    }

    fn is(&self, p: &Principal) -> bool {
        match p {
            Principal::Everyone => true,
            Principal::Authenticated => self.authenticated(),
            Principal::Anonymous => !self.authenticated(),
            Principal::Uid(u) => self.uid == Some(*u),
            Principal::User(n) => self.user.as_deref() == Some(n.as_str()),
            Principal::Gid(g) => self.gids.contains(g),
            Principal::Group(n) => self.groups.iter().any(|g| g == n),
            Principal::Address(c) => self.address.is_some_and(|ip| c.contains(ip)),
        }
    }
}

/// An ordered list of entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    pub entries: Vec<Entry>,
}

/// The answer to "may this caller do that?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// A deny entry matched (given, to be logged; never shown to an anonymous caller).
    Denied(Entry),
    /// No allow entry covers the right for this caller.
    NotGranted,
}

impl Acl {
    /// The ACL of a config that gives none: root and the user steward runs as have
    /// `admin`, nobody else has anything.
    pub fn default_for(owner_uid: u32) -> Acl {
        let admin = |uid| Entry::new(Kind::Allow, Principal::Uid(uid), vec![Right::Admin]);
        let mut entries = vec![admin(0)];
        if owner_uid != 0 {
            entries.push(admin(owner_uid));
        }
        Acl { entries }
    }

    pub fn check(&self, caller: &Caller, right: Right) -> Decision {
        check(self.entries.iter(), caller, right)
    }

    pub fn allows(&self, caller: &Caller, right: Right) -> bool {
        self.check(caller, right) == Decision::Allowed
    }
}

/// Entries in any order: a matching deny wins, else a matching allow grants.
fn check<'a>(
    entries: impl Iterator<Item = &'a Entry> + Clone,
    caller: &Caller,
    right: Right,
) -> Decision {
    let matching = || {
        entries
            .clone()
            .filter(|e| e.rights.contains(right) && caller.is(&e.principal))
    };
    if let Some(deny) = matching().find(|e| e.kind == Kind::Deny) {
        return Decision::Denied(deny.clone());
    }
    if matching().any(|e| e.kind == Kind::Allow) {
        Decision::Allowed
    } else {
        Decision::NotGranted
    }
}

/// The API's ACLs as the config of the moment gives them: `[control] acl` (or the
/// default), and the services' own, which join it for control of their service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub control: Acl,
    pub services: BTreeMap<String, Acl>,
}

impl Policy {
    pub fn new(config: &Config, owner_uid: u32) -> Policy {
        Policy {
            control: config
                .control
                .acl
                .clone()
                .unwrap_or_else(|| Acl::default_for(owner_uid)),
            services: config
                .services
                .iter()
                .filter_map(|(name, s)| Some((name.clone(), s.acl.clone()?)))
                .collect(),
        }
    }

    /// May `caller` exercise `right`, on `service` when the request is about one? A
    /// service's own entries count only for `control` of that service.
    pub fn check(&self, caller: &Caller, right: Right, service: Option<&str>) -> Decision {
        let own = match (right, service) {
            (Right::Control, Some(name)) => self.services.get(name),
            _ => None,
        };
        let own = own.into_iter().flat_map(|a| a.entries.iter());
        check(self.control.entries.iter().chain(own), caller, right)
    }
}

/// Why an entry was refused: a message, the byte range of the word at fault within the
/// entry's text (for a caret under it), and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclError {
    pub message: String,
    pub start: usize,
    pub end: usize,
    pub help: Option<String>,
}

/// Parses one entry: `allow|deny PRINCIPAL RIGHT[,RIGHT...]`. Rights may be separated by
/// commas and/or spaces.
pub fn parse_entry(text: &str) -> Result<Entry, AclError> {
    let words = words(text, char::is_whitespace);
    let err = |w: (usize, &str), message: String, help: Option<String>| AclError {
        message,
        start: w.0,
        end: w.0 + w.1.len(),
        help,
    };
    let Some(&first) = words.first() else {
        return Err(AclError {
            message: "an empty ACL entry".into(),
            start: 0,
            end: text.len(),
            help: Some("write e.g. \"allow group:ops control\"".into()),
        });
    };
    let kind = match first.1 {
        "allow" => Kind::Allow,
        "deny" => Kind::Deny,
        other => {
            return Err(err(
                first,
                format!("an ACL entry starts with `allow` or `deny`, not `{other}`"),
                Some("write e.g. \"allow group:ops control\" or \"deny group:guests all\"".into()),
            ));
        }
    };
    let Some(&who) = words.get(1) else {
        return Err(err(
            first,
            format!("`{}` needs a principal and rights after it", first.1),
            Some(PRINCIPAL_HELP.into()),
        ));
    };
    let principal = parse_principal(who.1).map_err(|(m, h)| err(who, m, h))?;
    let rest: Vec<(usize, &str)> = words[2..]
        .iter()
        .flat_map(|&(at, w)| comma_parts(at, w))
        .filter(|(_, part)| !part.is_empty())
        .collect();
    if rest.is_empty() {
        return Err(err(
            who,
            format!("`{}` needs the rights it is about after it", who.1),
            Some(RIGHTS_HELP.into()),
        ));
    }
    let mut named = Vec::new();
    for w in rest {
        let rights: &[Right] = match w.1 {
            "read" => &[Right::Read],
            "control" => &[Right::Control],
            "admin" => &[Right::Admin],
            "write" => &[Right::Write],
            "all" => &Right::ALL,
            other => {
                return Err(err(
                    w,
                    format!("unknown right `{other}`"),
                    Some(RIGHTS_HELP.into()),
                ));
            }
        };
        for r in rights {
            if !named.contains(r) {
                named.push(*r);
            }
        }
    }
    Ok(Entry::new(kind, principal, named))
}

const PRINCIPAL_HELP: &str = "principals: user:NAME, uid:N, group:NAME, gid:N, address:CIDR, authenticated, anonymous, everyone";
const RIGHTS_HELP: &str =
    "rights: read, control, admin, write, all (several with commas: read,write)";

fn parse_principal(word: &str) -> Result<Principal, (String, Option<String>)> {
    let bad = |m: String| Err((m, Some(PRINCIPAL_HELP.to_string())));
    match word {
        "authenticated" => return Ok(Principal::Authenticated),
        "anonymous" => return Ok(Principal::Anonymous),
        "everyone" => return Ok(Principal::Everyone),
        _ => {}
    }
    let Some((prefix, value)) = word.split_once(':') else {
        return bad(format!("unknown principal `{word}`"));
    };
    if value.is_empty() {
        return bad(format!("`{prefix}:` needs a value after the colon"));
    }
    let number = |what: &str| -> Result<u32, (String, Option<String>)> {
        value
            .parse::<u32>()
            .map_err(|_| (format!("`{what}:` takes a number, not `{value}`"), None))
    };
    match prefix {
        "user" => Ok(Principal::User(value.into())),
        "group" => Ok(Principal::Group(value.into())),
        "uid" => number("uid").map(Principal::Uid),
        "gid" => number("gid").map(Principal::Gid),
        "address" => Cidr::parse(value).map(Principal::Address).map_err(|m| {
            (
                m,
                Some("write e.g. address:10.0.0.0/8 or address:::1".into()),
            )
        }),
        _ => bad(format!("unknown principal kind `{prefix}:`")),
    }
}

#[cfg(test)]
mod tests;
