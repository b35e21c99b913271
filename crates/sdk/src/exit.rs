//! How the program ends, in the terms steward classifies exits by.

use std::fmt::Display;
use std::process::ExitCode;

/// How the program ends; [`Service::exit`](crate::Service::exit) turns it into an
/// [`ExitCode`] after telling steward what it needs to classify it.
///
/// | variant | exit code | sent first | steward sees |
/// |---|---|---|---|
/// | `Clean` | 0 | nothing | a clean exit |
/// | `Reported` | `code` | `STOPPING=1`, `EXIT_STATUS=status` | a reported stop: not a failure unless the service sets `failure_flag = true` |
/// | `Failed` | `code` | `EXIT_STATUS=status` | a failure (restart policy applies) |
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exit 0.
    Clean,
    /// A deliberate non-zero exit the program announces: it chose to stop (for example,
    /// nothing left to do, or a configuration it refuses). A `code` of 0 becomes 1.
    Reported {
        /// The exit code.
        code: u8,
        /// Why, shown in steward's status.
        status: String,
    },
    /// A failure. A `code` of 0 becomes 1.
    Failed {
        /// The exit code.
        code: u8,
        /// Why, shown in steward's status.
        status: String,
    },
}

impl Exit {
    /// [`Exit::Reported`].
    pub fn reported(code: u8, status: impl Display) -> Self {
        Exit::Reported {
            code,
            status: status.to_string(),
        }
    }

    /// [`Exit::Failed`].
    pub fn failed(code: u8, status: impl Display) -> Self {
        Exit::Failed {
            code,
            status: status.to_string(),
        }
    }

    /// `Ok` is [`Exit::Clean`]; `Err(e)` is [`Exit::Failed`] with code 1 and `e` as status.
    pub fn from_result<E: Display>(result: Result<(), E>) -> Self {
        match result {
            Ok(()) => Exit::Clean,
            Err(e) => Exit::failed(1, e),
        }
    }

    /// The exit code this ends with.
    pub fn code(&self) -> u8 {
        match self {
            Exit::Clean => 0,
            Exit::Reported { code, .. } | Exit::Failed { code, .. } => (*code).max(1),
        }
    }
}

impl<E: Display> From<Result<(), E>> for Exit {
    fn from(result: Result<(), E>) -> Self {
        Exit::from_result(result)
    }
}

pub(crate) fn exit_code(notifier: &crate::Notifier, exit: &Exit) -> ExitCode {
    // Sends are best effort: the exit code alone still tells steward enough.
    match exit {
        Exit::Clean => {}
        Exit::Reported { status, .. } => {
            let _ = notifier.send(&[
                "STOPPING=1",
                &format!("EXIT_STATUS={}", status.replace(['\n', '\r'], " ")),
            ]);
        }
        Exit::Failed { status, .. } => {
            let _ = notifier.exit_status(status);
        }
    }
    ExitCode::from(exit.code())
}
