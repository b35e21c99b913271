//! Which instance gets the next connection to a service's endpoint.
//!
//! The endpoint (issue 7's proxy) asks [`Balancer::pick`] once per connection attempt,
//! with every instance as a [`Candidate`]: whether it may take connections now (running,
//! ready, not paused, not stopping, its probes passing) and how many it has open. A
//! connection the chosen instance refuses is tried again with that instance excluded, so
//! one refusal never reaches the client while another instance is there.
//!
//! Three policies:
//! - **round-robin**: the eligible instances in turn, by index, from after the last one
//!   picked; an instance that becomes eligible joins the turn at its place.
//! - **least-connections**: the eligible instance with the fewest open connections; ties
//!   go round-robin, so equal instances share the load.
//! - **random**: uniformly among the eligible, from a seeded generator (splitmix64), so a
//!   test can replay it.
//!
//! Pure: no clock, no I/O, no global state.

/// How an endpoint spreads connections over its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastConnections,
    Random,
}

impl Balance {
    pub const ALL: [Balance; 3] = [
        Balance::RoundRobin,
        Balance::LeastConnections,
        Balance::Random,
    ];

    /// The config's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round-robin",
            Balance::LeastConnections => "least-connections",
            Balance::Random => "random",
        }
    }

    pub fn parse(text: &str) -> Option<Balance> {
        Balance::ALL.into_iter().find(|b| b.as_str() == text)
    }
}

/// One instance, as the endpoint sees it when a connection arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub index: u32,
    /// May take a new connection now.
    pub eligible: bool,
    /// Connections it has open.
    pub active: u32,
}

/// One endpoint's choice state.
#[derive(Debug, Clone)]
pub struct Balancer {
    balance: Balance,
    /// The index picked last; the turn goes on after it.
    last: Option<u32>,
    rng: u64,
}

impl Balancer {
    pub fn new(balance: Balance, seed: u64) -> Balancer {
        Balancer {
            balance,
            last: None,
            rng: seed,
        }
    }

    pub fn balance(&self) -> Balance {
        self.balance
    }

    /// A reload may change the policy; the turn goes on where it was.
    pub fn set_balance(&mut self, balance: Balance) {
        self.balance = balance;
    }

    /// The instance for the next connection: one of `candidates` that is eligible and
    /// not in `exclude` (those that refused this connection already), or `None` when
    /// there is none.
    pub fn pick(&mut self, candidates: &[Candidate], exclude: &[u32]) -> Option<u32> {
        let open = |c: &&Candidate| c.eligible && !exclude.contains(&c.index);
        let picked = match self.balance {
            Balance::RoundRobin => self.next_in_turn(candidates.iter().filter(open)),
            Balance::LeastConnections => {
                let fewest = candidates.iter().filter(open).map(|c| c.active).min()?;
                self.next_in_turn(
                    candidates
                        .iter()
                        .filter(open)
                        .filter(|c| c.active == fewest),
                )
            }
            Balance::Random => {
                let count = candidates.iter().filter(open).count();
                if count == 0 {
                    return None;
                }
                let at = (self.random() % count as u64) as usize;
                candidates.iter().filter(open).nth(at).map(|c| c.index)
            }
        }?;
        self.last = Some(picked);
        Some(picked)
    }

    /// The first of `open` with an index after the last pick, else the lowest.
    fn next_in_turn<'a>(&self, open: impl Iterator<Item = &'a Candidate> + Clone) -> Option<u32> {
        let after = |c: &&Candidate| self.last.is_none_or(|l| c.index > l);
        open.clone()
            .filter(after)
            .map(|c| c.index)
            .min()
            .or_else(|| open.map(|c| c.index).min())
    }

    /// splitmix64.
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests;
