use proptest::prelude::*;

use super::*;

fn up(index: u32, active: u32) -> Candidate {
    Candidate {
        index,
        eligible: true,
        active,
    }
}

fn down(index: u32) -> Candidate {
    Candidate {
        index,
        eligible: false,
        active: 0,
    }
}

fn picks(b: &mut Balancer, c: &[Candidate], n: usize) -> Vec<u32> {
    (0..n).map(|_| b.pick(c, &[]).unwrap()).collect()
}

#[test]
fn round_robin_takes_turns_and_skips_who_cannot_take_connections() {
    let mut b = Balancer::new(Balance::RoundRobin, 0);
    assert_eq!(
        picks(&mut b, &[up(0, 0), up(1, 0), up(2, 0)], 6),
        [0, 1, 2, 0, 1, 2]
    );
    // 1 is paused: the turn skips it.
    let paused = [up(0, 0), down(1), up(2, 0)];
    assert_eq!(picks(&mut b, &paused, 4), [0, 2, 0, 2]);
    // 1 is back: it joins at its place.
    assert_eq!(
        picks(&mut b, &[up(0, 0), up(1, 0), up(2, 0)], 4),
        [0, 1, 2, 0]
    );
}

#[test]
fn a_refused_connection_goes_to_another_instance_then_to_none() {
    let mut b = Balancer::new(Balance::RoundRobin, 0);
    let all = [up(0, 0), up(1, 0), up(2, 0)];
    assert_eq!(b.pick(&all, &[]), Some(0));
    assert_eq!(b.pick(&all, &[0]), Some(1));
    assert_eq!(b.pick(&all, &[0, 1]), Some(2));
    assert_eq!(b.pick(&all, &[0, 1, 2]), None);
    assert_eq!(b.pick(&[down(0), down(1)], &[]), None);
    assert_eq!(b.pick(&[], &[]), None);
}

#[test]
fn least_connections_fills_the_emptiest_and_shares_ties() {
    let mut b = Balancer::new(Balance::LeastConnections, 0);
    assert_eq!(b.pick(&[up(0, 5), up(1, 2), up(2, 9)], &[]), Some(1));
    // Ties go in turn.
    assert_eq!(picks(&mut b, &[up(0, 1), up(1, 1), up(2, 1)], 3), [2, 0, 1]);
    // The emptiest is paused: the next emptiest.
    assert_eq!(b.pick(&[up(0, 4), down(1), up(2, 3)], &[]), Some(2));
}

#[test]
fn random_is_replayable_and_spreads_evenly() {
    let all = [up(0, 0), up(1, 0), up(2, 0)];
    let mut a = Balancer::new(Balance::Random, 42);
    let mut b = Balancer::new(Balance::Random, 42);
    assert_eq!(picks(&mut a, &all, 50), picks(&mut b, &all, 50));
    let mut counts = [0u32; 3];
    for i in picks(&mut a, &all, 30_000) {
        counts[i as usize] += 1;
    }
    // Each of three gets a third, within 5 %.
    assert!(
        counts.iter().all(|&c| (9_500..=10_500).contains(&c)),
        "{counts:?}"
    );
}

fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
    prop::collection::vec((any::<bool>(), 0u32..5), 0..8).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (eligible, active))| Candidate {
                index: i as u32,
                eligible,
                active,
            })
            .collect()
    })
}

fn balance() -> impl Strategy<Value = Balance> {
    prop_oneof![
        Just(Balance::RoundRobin),
        Just(Balance::LeastConnections),
        Just(Balance::Random)
    ]
}

proptest! {
    /// Never an instance that cannot take connections or already refused; `None` only
    /// when there is no other.
    #[test]
    fn picks_only_open_instances(
        balance in balance(),
        seed in any::<u64>(),
        rounds in prop::collection::vec((candidates(), prop::collection::vec(0u32..8, 0..4)), 1..20),
    ) {
        let mut b = Balancer::new(balance, seed);
        for (cands, exclude) in rounds {
            let open: Vec<u32> = cands
                .iter()
                .filter(|c| c.eligible && !exclude.contains(&c.index))
                .map(|c| c.index)
                .collect();
            match b.pick(&cands, &exclude) {
                Some(i) => prop_assert!(open.contains(&i), "{i} not in {open:?}"),
                None => prop_assert!(open.is_empty()),
            }
        }
    }

    /// With a stable set, round-robin serves each open instance once per cycle.
    #[test]
    fn round_robin_is_fair(cands in candidates()) {
        let open: Vec<u32> = cands.iter().filter(|c| c.eligible).map(|c| c.index).collect();
        prop_assume!(!open.is_empty());
        let mut b = Balancer::new(Balance::RoundRobin, 0);
        let mut got = picks(&mut b, &cands, open.len() * 3);
        got.sort_unstable();
        let mut want: Vec<u32> = open.iter().flat_map(|&i| [i, i, i]).collect();
        want.sort_unstable();
        prop_assert_eq!(got, want);
    }

    /// Least-connections never picks an instance with more open connections than another
    /// open one.
    #[test]
    fn least_connections_picks_a_least_loaded(cands in candidates()) {
        let mut b = Balancer::new(Balance::LeastConnections, 0);
        if let Some(i) = b.pick(&cands, &[]) {
            let fewest = cands.iter().filter(|c| c.eligible).map(|c| c.active).min().unwrap();
            prop_assert_eq!(cands[i as usize].active, fewest);
        }
    }
}
