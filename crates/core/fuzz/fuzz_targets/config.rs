//! `steward_core::config::parse` on any text: it never panics, and every diagnostic
//! points inside the text, on character boundaries, at a line and column that exist, and
//! renders.

#![no_main]

use libfuzzer_sys::fuzz_target;
use steward_core::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Err(diagnostics) = config::parse("fuzz.toml", text) else {
        return;
    };
    let lines = text.split('\n').count();
    for d in &diagnostics.0 {
        let span = &d.span;
        assert!(
            span.start <= span.end && span.end <= text.len(),
            "{text:?}: span {span:?} outside 0..{} ({})",
            text.len(),
            d.message
        );
        assert!(
            text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
            "{text:?}: span {span:?} splits a character ({})",
            d.message
        );
        assert!(
            d.line >= 1 && d.line <= lines && d.column >= 1,
            "{text:?}: line {} column {} ({})",
            d.line,
            d.column,
            d.message
        );
        assert!(
            !d.message.is_empty(),
            "{text:?}: a diagnostic without a message"
        );
        let _ = d.to_string();
    }
    let _ = diagnostics.to_string();
});
