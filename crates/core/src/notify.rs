//! systemd's notify protocol (`sd_notify(3)`), parsed without I/O.
//!
//! A service told `NOTIFY_SOCKET` sends datagrams of newline-separated `KEY=VALUE`
//! assignments: `READY=1`, `STATUS=Loading…`, `WATCHDOG=1`, … [`parse`] turns one datagram
//! into [`Message`]s, one per line, in order. It never fails and never panics: whatever is not
//! a well-formed assignment (invalid UTF-8, no `=`, an empty line, a NUL byte, `READY=0`, a
//! number that does not parse) becomes [`Message::Invalid`] with a short description, so the
//! daemon can count and log garbage without trusting it. A well-formed assignment of a key
//! steward does not use (`FDSTORE=1`, `BARRIER=1`, …) is [`Message::Unknown`]: ignored, not
//! an error.
//!
//! One trailing newline ends the last line (`READY=1\n` is one message); every other empty
//! line is invalid. An empty datagram holds no message.

use std::fmt::Write as _;

/// One assignment of a notify datagram.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// `READY=1`: start-up finished.
    Ready,
    /// `RELOADING=1`: reloading its configuration; `READY=1` follows when done.
    Reloading,
    /// `STOPPING=1`: shutting down on its own initiative.
    Stopping,
    /// `STATUS=TEXT`: free-form status for humans (may be empty, which clears it).
    Status(String),
    /// `MAINPID=N` (`1..=i32::MAX`): the service's main process is now N.
    MainPid(u32),
    /// `WATCHDOG=1`: keep-alive ping.
    Watchdog,
    /// `WATCHDOG=trigger`: the service asks for its watchdog to fire now.
    WatchdogTrigger,
    /// `WATCHDOG_USEC=N`: changes the watchdog timeout to N microseconds.
    WatchdogUsec(u64),
    /// `EXTEND_TIMEOUT_USEC=N`: the current start/stop/runtime deadline is at least N µs away.
    ExtendTimeoutUsec(u64),
    /// `ERRNO=N` (`N >= 0`): the service failed with this errno-style code.
    Errno(i32),
    /// `EXIT_STATUS=X`: a number (`0..=255`) or a name (`[A-Za-z_][A-Za-z0-9_]*`, e.g.
    /// `FAILURE`), kept as sent.
    ExitStatus(String),
    /// `X_STEWARD=VALUE` (non-empty): steward's own extension, e.g. `paused` / `continued`
    /// from a service that pauses itself on a signal.
    Steward(String),
    /// A well-formed assignment (`[A-Z_][A-Z0-9_]*=…`, valid UTF-8, no NUL) whose key steward
    /// does not use; holds the key. Ignored, not an error.
    Unknown(String),
    /// Not a well-formed assignment, or a known key with a bad value; a short description
    /// (quoting at most the first 40 characters of the line).
    Invalid(String),
}

impl Message {
    /// The assignment that [`parse`] reads back as `self` (without a newline), or `None`
    /// when there is none: [`Message::Unknown`] and [`Message::Invalid`], and values that
    /// cannot be sent (a `STATUS` with a newline or NUL, a `MAINPID` of 0, …).
    pub fn to_assignment(&self) -> Option<String> {
        let text = match self {
            Message::Ready => "READY=1".to_owned(),
            Message::Reloading => "RELOADING=1".to_owned(),
            Message::Stopping => "STOPPING=1".to_owned(),
            Message::Status(text) => format!("STATUS={text}"),
            Message::MainPid(pid) => format!("MAINPID={pid}"),
            Message::Watchdog => "WATCHDOG=1".to_owned(),
            Message::WatchdogTrigger => "WATCHDOG=trigger".to_owned(),
            Message::WatchdogUsec(usec) => format!("WATCHDOG_USEC={usec}"),
            Message::ExtendTimeoutUsec(usec) => format!("EXTEND_TIMEOUT_USEC={usec}"),
            Message::Errno(errno) => format!("ERRNO={errno}"),
            Message::ExitStatus(status) => format!("EXIT_STATUS={status}"),
            Message::Steward(value) => format!("X_STEWARD={value}"),
            Message::Unknown(_) | Message::Invalid(_) => return None,
        };
        (!text.contains('\n') && parse_line(text.as_bytes()) == *self).then_some(text)
    }
}

/// Parses one datagram into its messages, one per line, in order. Never panics.
pub fn parse(datagram: &[u8]) -> Vec<Message> {
    if datagram.is_empty() {
        return Vec::new();
    }
    let body = datagram.strip_suffix(b"\n").unwrap_or(datagram);
    body.split(|&b| b == b'\n').map(parse_line).collect()
}

/// Parses one line (without its newline).
fn parse_line(line: &[u8]) -> Message {
    if line.is_empty() {
        return Message::Invalid("empty line".to_owned());
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return invalid(&String::from_utf8_lossy(line), "invalid UTF-8");
    };
    if text.contains('\0') {
        return invalid(text, "NUL byte");
    }
    let Some((key, value)) = text.split_once('=') else {
        return invalid(text, "no '='");
    };
    if !well_formed_key(key) {
        return invalid(text, "bad key");
    }
    let flag = |message: Message| {
        if value == "1" {
            message
        } else {
            invalid(text, "expected 1")
        }
    };
    match key {
        "READY" => flag(Message::Ready),
        "RELOADING" => flag(Message::Reloading),
        "STOPPING" => flag(Message::Stopping),
        "STATUS" => Message::Status(value.to_owned()),
        "MAINPID" => match digits(value) {
            Some(pid) if (1..=i32::MAX as u64).contains(&pid) => Message::MainPid(pid as u32),
            _ => invalid(text, "expected a pid"),
        },
        "WATCHDOG" => match value {
            "1" => Message::Watchdog,
            "trigger" => Message::WatchdogTrigger,
            _ => invalid(text, "expected 1 or trigger"),
        },
        "WATCHDOG_USEC" => match digits(value) {
            Some(usec) => Message::WatchdogUsec(usec),
            None => invalid(text, "expected microseconds"),
        },
        "EXTEND_TIMEOUT_USEC" => match digits(value) {
            Some(usec) => Message::ExtendTimeoutUsec(usec),
            None => invalid(text, "expected microseconds"),
        },
        "ERRNO" => match digits(value) {
            Some(errno) if errno <= i32::MAX as u64 => Message::Errno(errno as i32),
            _ => invalid(text, "expected an errno"),
        },
        "EXIT_STATUS" => {
            let number = digits(value).is_some_and(|code| code <= 255);
            if number || is_name(value) {
                Message::ExitStatus(value.to_owned())
            } else {
                invalid(text, "expected 0..=255 or a name")
            }
        }
        "X_STEWARD" => {
            if value.is_empty() {
                invalid(text, "empty value")
            } else {
                Message::Steward(value.to_owned())
            }
        }
        _ => Message::Unknown(key.to_owned()),
    }
}

/// `[A-Z_][A-Z0-9_]*`
fn well_formed_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Plain decimal digits (no sign, no spaces) that fit a u64.
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `Invalid("<line, at most 40 characters, escaped>: <why>")`.
fn invalid(line: &str, why: &str) -> Message {
    const SHOWN: usize = 40;
    let mut shown = String::new();
    for c in line.chars().take(SHOWN) {
        let _ = write!(shown, "{}", c.escape_debug());
    }
    if line.chars().nth(SHOWN).is_some() {
        shown.push('…');
    }
    Message::Invalid(format!("{shown}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(line: &str) -> Message {
        let messages = parse(line.as_bytes());
        assert_eq!(messages.len(), 1, "{line:?} gave {messages:?}");
        messages.into_iter().next().unwrap()
    }

    fn is_invalid(message: &Message) -> bool {
        matches!(message, Message::Invalid(_))
    }

    #[test]
    fn every_key() {
        use Message::*;
        for (line, expected) in [
            ("READY=1", Ready),
            ("RELOADING=1", Reloading),
            ("STOPPING=1", Stopping),
            (
                "STATUS=Loading 3/7 = 42%",
                Status("Loading 3/7 = 42%".into()),
            ),
            ("STATUS=", Status(String::new())),
            ("STATUS= spaces kept ", Status(" spaces kept ".into())),
            ("STATUS=héllo ✓", Status("héllo ✓".into())),
            ("MAINPID=4242", MainPid(4242)),
            ("MAINPID=2147483647", MainPid(i32::MAX as u32)),
            ("WATCHDOG=1", Watchdog),
            ("WATCHDOG=trigger", WatchdogTrigger),
            ("WATCHDOG_USEC=30000000", WatchdogUsec(30_000_000)),
            ("WATCHDOG_USEC=0", WatchdogUsec(0)),
            ("EXTEND_TIMEOUT_USEC=5000000", ExtendTimeoutUsec(5_000_000)),
            ("ERRNO=2", Errno(2)),
            ("ERRNO=0", Errno(0)),
            ("EXIT_STATUS=3", ExitStatus("3".into())),
            ("EXIT_STATUS=255", ExitStatus("255".into())),
            ("EXIT_STATUS=FAILURE", ExitStatus("FAILURE".into())),
            ("X_STEWARD=paused", Steward("paused".into())),
            ("X_STEWARD=continued", Steward("continued".into())),
            ("FDSTORE=1", Unknown("FDSTORE".into())),
            ("BARRIER=1", Unknown("BARRIER".into())),
            ("FDNAME=web", Unknown("FDNAME".into())),
            ("_X=", Unknown("_X".into())),
            ("NOTIFYACCESS=all", Unknown("NOTIFYACCESS".into())),
        ] {
            assert_eq!(one(line), expected, "{line:?}");
        }
    }

    #[test]
    fn bad_values() {
        for line in [
            "READY=0",
            "READY=",
            "READY=true",
            "READY=1 ",
            "READY=1\r",
            "RELOADING=2",
            "STOPPING=yes",
            "WATCHDOG=2",
            "WATCHDOG=0",
            "WATCHDOG=Trigger",
            "MAINPID=0",
            "MAINPID=-1",
            "MAINPID=+5",
            "MAINPID= 5",
            "MAINPID=2147483648",
            "MAINPID=abc",
            "MAINPID=",
            "WATCHDOG_USEC=-1",
            "WATCHDOG_USEC=1.5",
            "WATCHDOG_USEC=18446744073709551616",
            "EXTEND_TIMEOUT_USEC=5s",
            "ERRNO=-2",
            "ERRNO=ENOENT",
            "ERRNO=2147483648",
            "EXIT_STATUS=",
            "EXIT_STATUS=256",
            "EXIT_STATUS=-1",
            "EXIT_STATUS=not a name",
            "X_STEWARD=",
        ] {
            let message = one(line);
            assert!(is_invalid(&message), "{line:?} gave {message:?}");
        }
    }

    #[test]
    fn garbage() {
        for datagram in [
            &b"READY"[..],
            b"=1",
            b"ready=1",
            b"Ready=1",
            b"READY-X=1",
            b" READY=1",
            b"1X=2",
            b"\n",
            b"READY=\xff",
            b"\xc3\x28=1",
            b"STATUS=a\0b",
            b"\0",
        ] {
            let messages = parse(datagram);
            assert_eq!(messages.len(), 1, "{datagram:?}");
            assert!(is_invalid(&messages[0]), "{datagram:?} gave {messages:?}");
        }
    }

    #[test]
    fn several_lines() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=up\nMAINPID=7\n"),
            vec![
                Message::Ready,
                Message::Status("up".into()),
                Message::MainPid(7)
            ]
        );
        assert_eq!(
            parse(b"READY=1\n\nnonsense\n\xfe\nBARRIER=1\nSTATUS=x"),
            vec![
                Message::Ready,
                Message::Invalid("empty line".into()),
                Message::Invalid("nonsense: no '='".into()),
                Message::Invalid("\u{FFFD}: invalid UTF-8".into()),
                Message::Unknown("BARRIER".into()),
                Message::Status("x".into()),
            ]
        );
        // Only one trailing newline is a terminator.
        assert_eq!(
            parse(b"READY=1\n\n"),
            vec![Message::Ready, Message::Invalid("empty line".into())]
        );
    }

    #[test]
    fn empty_datagram() {
        assert_eq!(parse(b""), vec![]);
    }

    #[test]
    fn descriptions_are_short_and_escaped() {
        let long = format!("STATUS{}", "x".repeat(5000));
        let Message::Invalid(why) = one(&long) else {
            panic!()
        };
        assert!(why.chars().count() < 60, "{why}");
        assert_eq!(
            one("READY=0"),
            Message::Invalid("READY=0: expected 1".into())
        );
        assert_eq!(
            parse(b"READY=1\r\n"),
            vec![Message::Invalid("READY=1\\r: expected 1".into())]
        );
    }

    #[test]
    fn to_assignment() {
        assert_eq!(Message::Ready.to_assignment().as_deref(), Some("READY=1"));
        assert_eq!(
            Message::WatchdogTrigger.to_assignment().as_deref(),
            Some("WATCHDOG=trigger")
        );
        assert_eq!(Message::Status("a\nb".into()).to_assignment(), None);
        assert_eq!(Message::Status("a\0b".into()).to_assignment(), None);
        assert_eq!(Message::MainPid(0).to_assignment(), None);
        assert_eq!(Message::Steward(String::new()).to_assignment(), None);
        assert_eq!(Message::ExitStatus("x y".into()).to_assignment(), None);
        assert_eq!(Message::Unknown("FDSTORE".into()).to_assignment(), None);
        assert_eq!(Message::Invalid("x".into()).to_assignment(), None);
    }

    /// A valid message and a line that parses to it.
    fn valid() -> impl Strategy<Value = (Message, String)> {
        let text = "[^\n\0]*";
        let number_or_name = prop_oneof![
            (0u32..=255).prop_map(|n| n.to_string()),
            "[A-Za-z_][A-Za-z0-9_]{0,20}",
        ];
        let message = prop_oneof![
            Just(Message::Ready),
            Just(Message::Reloading),
            Just(Message::Stopping),
            text.prop_map(Message::Status),
            (1..=i32::MAX as u32).prop_map(Message::MainPid),
            Just(Message::Watchdog),
            Just(Message::WatchdogTrigger),
            any::<u64>().prop_map(Message::WatchdogUsec),
            any::<u64>().prop_map(Message::ExtendTimeoutUsec),
            (0..=i32::MAX).prop_map(Message::Errno),
            number_or_name.prop_map(Message::ExitStatus),
            "[^\n\0]+".prop_map(Message::Steward),
        ];
        prop_oneof![
            message.prop_map(|m| {
                let line = m
                    .to_assignment()
                    .expect("valid messages have an assignment");
                (m, line)
            }),
            ("[A-Z_][A-Z0-9_]{0,20}", text)
                .prop_filter("a key steward uses", |(key, _)| !KNOWN
                    .contains(&key.as_str()))
                .prop_map(|(key, value)| (Message::Unknown(key.clone()), format!("{key}={value}"))),
        ]
    }

    const KNOWN: &[&str] = &[
        "READY",
        "RELOADING",
        "STOPPING",
        "STATUS",
        "MAINPID",
        "WATCHDOG",
        "WATCHDOG_USEC",
        "EXTEND_TIMEOUT_USEC",
        "ERRNO",
        "EXIT_STATUS",
        "X_STEWARD",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let messages = parse(&bytes);
            // One message per line, a trailing newline excepted.
            let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            let lines = if bytes.is_empty() { 0 } else { body.iter().filter(|&&b| b == b'\n').count() + 1 };
            prop_assert_eq!(messages.len(), lines);
        }

        #[test]
        fn never_panics_on_near_misses(
            lines in proptest::collection::vec(
                ("[A-Z_]{0,12}", "[=]?", "[0-9a-z\u{0}\r -]{0,12}").prop_map(|(k, e, v)| format!("{k}{e}{v}")),
                0..8,
            )
        ) {
            let datagram = lines.join("\n");
            let messages = parse(datagram.as_bytes());
            prop_assert!(messages.len() <= lines.len().max(1));
        }

        #[test]
        fn valid_lines_survive_garbage_around_them(
            lines in proptest::collection::vec(
                prop_oneof![
                    valid().prop_map(|(m, line)| (Some(m), line.into_bytes())),
                    proptest::collection::vec(any::<u8>().prop_filter("newline", |&b| b != b'\n'), 0..40)
                        .prop_map(|bytes| (None, bytes)),
                ],
                1..10,
            )
        ) {
            let datagram = lines.iter().map(|(_, line)| line.as_slice()).collect::<Vec<_>>().join(&b'\n');
            let messages = parse(&datagram);
            // A final empty garbage line is taken for the terminator.
            let expected_len = if datagram.is_empty() { 0 } else if datagram.ends_with(b"\n") { lines.len() - 1 } else { lines.len() };
            prop_assert_eq!(messages.len(), expected_len);
            for ((expected, _), got) in lines.iter().zip(&messages) {
                if let Some(expected) = expected {
                    prop_assert_eq!(expected, got);
                }
            }
        }

        #[test]
        fn round_trips(valid in proptest::collection::vec(valid(), 1..10), trailing in any::<bool>()) {
            let (expected, lines): (Vec<Message>, Vec<String>) = valid.into_iter().unzip();
            let mut datagram = lines.join("\n");
            if trailing {
                datagram.push('\n');
            }
            prop_assert_eq!(parse(datagram.as_bytes()), expected);
        }
    }
}
