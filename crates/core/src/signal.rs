//! Signal names and numbers (Linux), so the config can say `stop_signal = "TERM"`.

use std::fmt;

/// A signal by its Linux number, named the way `kill -l` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

const NAMES: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

impl Signal {
    pub const HUP: Signal = Signal(1);
    pub const INT: Signal = Signal(2);
    pub const ABRT: Signal = Signal(6);
    pub const KILL: Signal = Signal(9);
    pub const TERM: Signal = Signal(15);
    pub const CONT: Signal = Signal(18);
    pub const STOP: Signal = Signal(19);

    /// Parses `TERM`, `SIGTERM`, `sigterm` or `15`.
    pub fn parse(text: &str) -> Option<Signal> {
        if let Ok(n) = text.parse::<i32>() {
            return Signal::from_number(n);
        }
        let upper = text.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        NAMES
            .iter()
            .find(|(name, _)| *name == bare)
            .map(|&(_, n)| Signal(n))
    }

    /// Any signal number Linux delivers, real-time ones included.
    pub fn from_number(n: i32) -> Option<Signal> {
        (1..=64).contains(&n).then_some(Signal(n))
    }

    pub fn number(self) -> i32 {
        self.0
    }

    /// The name without `SIG`, or `RTMIN+n` style for real-time signals.
    pub fn name(self) -> String {
        match NAMES.iter().find(|(_, n)| *n == self.0) {
            Some((name, _)) => (*name).to_string(),
            None => format!("SIG{}", self.0),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{}", self.name().trim_start_matches("SIG"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_prefixes() {
        assert_eq!(Signal::parse("TERM"), Some(Signal::TERM));
        assert_eq!(Signal::parse("sigterm"), Some(Signal::TERM));
        assert_eq!(Signal::parse("SIGKILL"), Some(Signal::KILL));
        assert_eq!(
            Signal::parse("10").map(Signal::name).as_deref(),
            Some("USR1")
        );
        assert_eq!(Signal::parse("TERMINATE"), None);
        assert_eq!(Signal::parse("0"), None);
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
    }
}
