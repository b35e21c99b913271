//! Splitting a line into words with their byte offsets, so an error can point at the word
//! at fault: ACL entries, tokens-file lines.

/// The words of `text` between separators (`is_space`), each with its byte offset.
pub fn words(text: &str, is_space: impl Fn(char) -> bool) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_space(c), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// The parts of `word` (found at offset `at`) between commas, empty ones too, each with
/// its offset.
pub fn comma_parts(at: usize, word: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = at;
    word.split(',').map(move |part| {
        let here = offset;
        offset += part.len() + 1;
        (here, part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_point_at_each_word_and_part() {
        let text = "  allow\tgroup:ops  read,,control ";
        let w = words(text, char::is_whitespace);
        assert_eq!(w, [(2, "allow"), (8, "group:ops"), (19, "read,,control")]);
        let parts: Vec<_> = comma_parts(19, "read,,control").collect();
        assert_eq!(parts, [(19, "read"), (24, ""), (25, "control")]);
        assert_eq!(&text[25..32], "control");
    }
}
