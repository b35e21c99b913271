//! What one ACL decision costs: `Policy::check` for root against the default ACL and
//! against a 20-entry one whose first 19 entries match nobody (so every entry is
//! compared). Run by `bench/run.sh` (workload `acl`); prints one JSON line with the
//! nanoseconds per decision, the median of several timed batches.
//!
//!     cargo run --release -p steward-core --example acl_cost [ENTRIES]

use std::hint::black_box;
use std::time::Instant;

use steward_core::acl::{Acl, Caller, Policy, Right, parse_entry};

fn entries(n: usize) -> Acl {
    // The same entries as bench.py's acl_entries().
    let kinds = [
        "deny user:bench-nobody-{i} read",
        "allow group:bench-group-{i} control",
        "deny gid:{g} all",
        "allow uid:{u} read",
    ];
    let mut out: Vec<String> = (0..n.saturating_sub(1))
        .map(|i| {
            kinds[i % 4]
                .replace("{i}", &i.to_string())
                .replace("{g}", &(3_900_000 + i).to_string())
                .replace("{u}", &(3_800_000 + i).to_string())
        })
        .collect();
    out.push("allow uid:0 admin".into());
    Acl {
        entries: out.iter().map(|e| parse_entry(e).unwrap()).collect(),
    }
}

/// Median nanoseconds per decision over batches of `per` decisions.
fn time(policy: &Policy, caller: &Caller) -> f64 {
    let per = 200_000;
    let mut batches: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per {
                black_box(policy.check(black_box(caller), Right::Read, None));
            }
            t.elapsed().as_nanos() as f64 / per as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let root = Caller {
        uid: Some(0),
        user: Some("root".into()),
        gids: vec![0],
        groups: vec!["root".into()],
        address: None,
    };
    let default = Policy {
        control: Acl::default_for(0),
        ..Policy::default()
    };
    let long = Policy {
        control: entries(n),
        ..Policy::default()
    };
    let (d, l) = (time(&default, &root), time(&long, &root));
    println!("{{\"entries\": {n}, \"default_ns\": {d:.1}, \"acl_ns\": {l:.1}}}");
}
