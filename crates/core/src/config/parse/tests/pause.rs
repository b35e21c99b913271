//! `pause`, `pause_signal` and `continue_signal`.

use super::*;

const BASE: &str = "[service.a]\ncommand = [\"a\"]\n";

fn pause_of(lines: &str) -> PauseMode {
    service(&format!("{BASE}{lines}\n")).pause
}

fn problem_with(lines: &str) -> (usize, usize, String, Option<String>) {
    problem(&format!("{BASE}{lines}\n"))
}

fn sig(name: &str) -> Signal {
    Signal::parse(name).unwrap()
}

#[test]
fn modes() {
    assert_eq!(pause_of(""), PauseMode::Freeze);
    assert_eq!(pause_of("pause = \"freeze\""), PauseMode::Freeze);
    assert_eq!(
        pause_of("pause = \"signal\""),
        PauseMode::Signal {
            pause: sig("USR1"),
            resume: sig("USR2")
        }
    );
    assert_eq!(
        pause_of("pause = \"signal\"\npause_signal = \"TSTP\"\ncontinue_signal = 10"),
        PauseMode::Signal {
            pause: sig("TSTP"),
            resume: sig("USR1")
        }
    );
    assert_eq!(
        pause_of("continue_signal = \"HUP\"\npause = \"signal\""),
        PauseMode::Signal {
            pause: sig("USR1"),
            resume: Signal::HUP
        }
    );
}

#[test]
fn signals_only_with_signal_mode() {
    let p = problem_with("pause_signal = \"USR1\"");
    assert_eq!((p.0, p.1), (3, 1));
    assert_eq!(p.2, "`pause_signal` is used only with `pause = \"signal\"`");
    assert_eq!(
        p.3.as_deref(),
        Some("add `pause = \"signal\"` to pause by signal, or remove `pause_signal`")
    );

    let p = problem_with("pause = \"freeze\"\ncontinue_signal = \"USR2\"");
    assert_eq!((p.0, p.1), (4, 1));
    assert_eq!(
        p.2,
        "`continue_signal` is used only with `pause = \"signal\"`"
    );
    assert_eq!(
        p.3.as_deref(),
        Some("remove `continue_signal`, or set `pause = \"signal\"`")
    );

    // A bad `pause` is one problem, not two.
    let p = problem_with("pause = \"freze\"\npause_signal = \"USR1\"");
    assert_eq!((p.0, p.1), (3, 9));
    assert_eq!(
        p.2,
        "`pause` must be \"freeze\" or \"signal\", found \"freze\""
    );
    assert_eq!(p.3.as_deref(), Some("did you mean \"freeze\"?"));
}

#[test]
fn signal_errors() {
    let p = problem_with("pause = \"signal:USR1\"");
    assert_eq!((p.0, p.1), (3, 9));
    assert_eq!(
        p.2,
        "`pause` must be \"freeze\" or \"signal\", found \"signal:USR1\""
    );
    assert_eq!(
        p.3.as_deref(),
        Some("name the signal in its own key: `pause = \"signal\"` and `pause_signal = \"USR1\"`")
    );

    let p = problem_with("pause = \"signal\"\npause_signal = \"STOP\"");
    assert_eq!((p.0, p.1), (4, 16));
    assert!(
        p.2.starts_with("`pause_signal` cannot be SIGSTOP: a program cannot catch it"),
        "{p:?}"
    );
    let p = problem_with("pause = \"signal\"\ncontinue_signal = 9");
    assert_eq!((p.0, p.1), (4, 19));
    assert!(
        p.2.starts_with("`continue_signal` cannot be SIGKILL"),
        "{p:?}"
    );
    let p = problem_with("pause = \"signal\"\ncontinue_signal = \"USR3\"");
    assert_eq!(p.2, "`continue_signal` \"USR3\" is not a signal");

    let p = problem_with("pause = \"signal\"\npause_signal = \"USR2\"");
    assert_eq!((p.0, p.1), (4, 1));
    assert_eq!(
        p.2,
        "`pause_signal` and `continue_signal` are both SIGUSR2: the program could not tell \
         pause from continue"
    );
    let p = problem_with("pause_signal = \"HUP\"\npause = \"signal\"\ncontinue_signal = 1");
    assert_eq!((p.0, p.1), (5, 1));
}
