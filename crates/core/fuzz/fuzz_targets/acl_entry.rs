//! `steward_core::acl::parse_entry` on any text: an entry it accepts prints as text that
//! parses back to the same entry; an entry it refuses points at a range of the text, on
//! character boundaries, with a message. It never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use steward_core::acl::parse_entry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_entry(text) {
        Ok(entry) => {
            let printed = entry.to_string();
            let again = parse_entry(&printed).unwrap_or_else(|e| {
                panic!(
                    "{text:?} parses, but prints as {printed:?}, which does not: {}",
                    e.message
                )
            });
            assert_eq!(again, entry, "{text:?} printed as {printed:?}");
            assert_eq!(again.to_string(), printed, "printing is not stable");
        }
        Err(e) => {
            assert!(
                e.start <= e.end && e.end <= text.len(),
                "{text:?}: error range {}..{} outside 0..{}",
                e.start,
                e.end,
                text.len()
            );
            assert!(
                text.is_char_boundary(e.start) && text.is_char_boundary(e.end),
                "{text:?}: error range {}..{} splits a character",
                e.start,
                e.end
            );
            assert!(
                !e.message.is_empty(),
                "{text:?}: an error without a message"
            );
        }
    }
});
