//! The tokens file: which bearer token on the TCP API stands for whom. Pure: the daemon
//! reads the file (and checks who may read it) and makes new tokens from the OS's random
//! source; parsing, hashing and identifying are here.
//!
//! # Format
//!
//! UTF-8 text, one token per line:
//!
//! ```text
//! # NAME   GROUPS      HASH
//! alice    ops,deploy  sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ci       -           sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
//! ```
//!
//! - A line is `NAME GROUPS HASH`, its three words separated by spaces or tabs.
//! - `NAME` is who the token stands for. `GROUPS` is a comma-separated list of group names
//!   (no spaces), or `-` for none. Names and group names are made of `A-Z a-z 0-9 _ . -`,
//!   at most 64 bytes, and do not start with `-`.
//! - `HASH` is `sha256:` and the 64 hex digits of the SHA-256 of the token's text, never
//!   the token itself: `steward token new` prints the line to append.
//! - Blank lines are ignored, and so is everything from a word that starts with `#` to the
//!   end of its line (a whole-line comment, or a note after the hash).
//! - Two lines with the same name, or with the same hash, are an error.
//!
//! Every bad line is reported, each with its file, line and column and what to write
//! instead ([`Diagnostics`]). The daemon's `tokens::load` also refuses a file that anyone but its
//! owner may read or write, or that is owned by someone other than steward's user or root.
//!
//! # Hashing
//!
//! The file keeps SHA-256 hashes, unsalted, and compares them in constant time
//! ([`Tokens::identify`]). See [`hash`] for why a fast hash is the right one here.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::words::{comma_parts, words};

/// The prefix of a token's text.
pub const TOKEN_PREFIX: &str = "stw_";
/// The prefix of a hash in the file.
pub const HASH_PREFIX: &str = "sha256:";
/// The longest name or group name, in bytes.
pub const MAX_NAME: usize = 64;

/// Who a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    pub name: String,
    pub groups: Vec<String>,
}

impl TokenIdentity {
    /// An identity checked as the parser checks a line: the name and each group are
    /// [`check_name`]d, no group twice; `["-"]` is no groups, as in the file. The error
    /// says which is wrong and what to write instead.
    pub fn new(name: &str, groups: &[&str]) -> Result<TokenIdentity, String> {
        name_problem(name).map_err(|(message, help)| format!("name: {message}; {help}"))?;
        let groups = if groups == ["-"] { &[][..] } else { groups };
        for (i, g) in groups.iter().enumerate() {
            group_problem(g, &groups[..i])
                .map_err(|(message, help)| format!("groups: {message}; {help}"))?;
        }
        Ok(TokenIdentity {
            name: name.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        })
    }

    /// The identity's line in the tokens file, with the given hash (`sha256:...`).
    pub fn line(&self, hash: &str) -> String {
        let groups = if self.groups.is_empty() {
            "-".to_string()
        } else {
            self.groups.join(",")
        };
        format!("{} {groups} {hash}", self.name)
    }
}

/// A loaded tokens file.
#[derive(Clone, Default)]
pub struct Tokens {
    entries: Vec<(TokenIdentity, [u8; 32])>,
}

/// Leaves the hashes out: they are not secrets, but nothing needs them in a log.
impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(id, _)| id))
            .finish()
    }
}

impl Tokens {
    /// Parses the text of a tokens file; `file` names it in the messages. Every bad line
    /// is reported.
    pub fn parse(text: &str, file: &str) -> Result<Tokens, Diagnostics> {
        let mut problems = Vec::new();
        let mut entries: Vec<(TokenIdentity, [u8; 32])> = Vec::new();
        // Where each name and hash was first seen: (text, line number).
        let mut names: Vec<(&str, usize)> = Vec::new();
        let mut hashes: Vec<([u8; 32], usize)> = Vec::new();
        let mut at = 0;
        for (n, raw) in text.split('\n').enumerate() {
            let line_no = n + 1;
            let line_start = at;
            at += raw.len() + 1;
            let mut words = words(raw, |c| matches!(c, ' ' | '\t' | '\r'))
                .into_iter()
                .map(|(o, w)| (line_start + o, w))
                .take_while(|(_, w)| !w.starts_with('#'))
                .peekable();
            if words.peek().is_none() {
                continue;
            }
            let words: Vec<(usize, &str)> = words.collect();
            let mut report = |(o, w): (usize, &str), message: String, help: String| {
                problems.push(Diagnostic::new(
                    file,
                    text,
                    o..o + w.len(),
                    message,
                    Some(help),
                ));
            };
            let [name, groups, hash] = match words[..] {
                [a, b, c] => [a, b, c],
                [a] => {
                    report(
                        a,
                        format!("`{}` needs its groups and its token's hash after it", a.1),
                        format!("write `{} - sha256:HEX` ({LINE_HELP})", a.1),
                    );
                    continue;
                }
                [a, b] => {
                    let bare_hex = b.1.len() == 64 && b.1.bytes().all(|c| c.is_ascii_hexdigit());
                    let (message, help) = if b.1.starts_with(HASH_PREFIX) || bare_hex {
                        let prefix = if bare_hex { HASH_PREFIX } else { "" };
                        (
                            format!("no groups between `{}` and the hash", a.1),
                            format!("write `-` for none: `{} - {prefix}{}`", a.1, b.1),
                        )
                    } else {
                        (
                            format!("no hash after the groups `{}`", b.1),
                            format!("write the token's hash after them ({LINE_HELP})"),
                        )
                    };
                    report(b, message, help);
                    continue;
                }
                [_, _, _, extra, ..] => {
                    report(
                        extra,
                        format!("`{}` after the hash: a line has three words", extra.1),
                        format!(
                            "{LINE_HELP}; list groups with commas and no spaces, and start a \
                             note with `#`"
                        ),
                    );
                    continue;
                }
                [] => unreachable!("blank lines are skipped above"),
            };
            if let Err((message, help)) = name_problem(name.1) {
                report(name, message, help);
            } else if let Some(&(_, first)) = names.iter().find(|(n, _)| *n == name.1) {
                report(
                    name,
                    format!("`{}` has a token already, on line {first}", name.1),
                    "give each token its own name, e.g. `alice-laptop` and `alice-ci`".into(),
                );
            } else {
                names.push((name.1, line_no));
            }
            let mut group_list = Vec::new();
            if groups.1 != "-" {
                for (o, g) in comma_parts(groups.0, groups.1) {
                    match group_problem(g, &group_list) {
                        Err((message, help)) => report((o, g), message, help),
                        Ok(()) => group_list.push(g),
                    }
                }
            }
            match parse_hash(hash.1) {
                Err((message, help)) => {
                    report(hash, message, help);
                }
                Ok(h) => {
                    if let Some(&(_, first)) = hashes.iter().find(|(x, _)| *x == h) {
                        report(
                            hash,
                            format!("this hash is on line {first} already"),
                            "one token stands for one name: make a new token with \
                             `steward token new`"
                                .into(),
                        );
                    } else {
                        hashes.push((h, line_no));
                        // Kept only if the whole file is valid.
                        let identity = TokenIdentity {
                            name: name.1.to_string(),
                            groups: group_list.iter().map(|g| g.to_string()).collect(),
                        };
                        entries.push((identity, h));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(Tokens { entries })
        } else {
            Err(Diagnostics(problems))
        }
    }

    /// Who `presented` (the text after `Bearer `) stands for, if anyone.
    ///
    /// The token's hash is compared with every entry's, each comparison in constant time,
    /// and the loop does not stop at a match: how long this takes says nothing about which
    /// entry matched, nor how many bytes of a hash a guess got right.
    pub fn identify(&self, presented: &str) -> Option<&TokenIdentity> {
        // Plain SHA-256, no salt, no slow hash: see `hash`.
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = u64::MAX;
        for (i, (_, hash)) in self.entries.iter().enumerate() {
            found.conditional_assign(&(i as u64), hash.ct_eq(&digest));
        }
        self.entries
            .get(usize::try_from(found).ok()?)
            .map(|(identity, _)| identity)
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The identities, in the file's order.
    pub fn identities(&self) -> impl Iterator<Item = &TokenIdentity> {
        self.entries.iter().map(|(identity, _)| identity)
    }
}

const LINE_HELP: &str = "a line is NAME GROUPS HASH, e.g. `alice ops,deploy sha256:HEX`";

/// Checks a name or a group name: `A-Z a-z 0-9 _ . -`, at most [`MAX_NAME`] bytes, not
/// starting with `-`. The error says what is wrong and what to write instead.
pub fn check_name(name: &str) -> Result<(), String> {
    name_problem(name).map_err(|(message, help)| format!("{message}; {help}"))
}

/// The message and the help for a bad name.
fn name_problem(name: &str) -> Result<(), (String, String)> {
    let help = "names are made of letters, digits, `_`, `.` and `-`, e.g. `alice` or `ci.deploy`";
    if name.is_empty() {
        return Err(("an empty name".into(), help.into()));
    }
    if name == "-" {
        return Err((
            "`-` is not a name (it means \"no groups\" in the second word)".into(),
            LINE_HELP.into(),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err((
            format!("`{name}` holds `{c}`, which a name may not"),
            help.into(),
        ));
    }
    if name.starts_with('-') {
        return Err((
            format!("`{name}` starts with `-`"),
            match name.trim_start_matches('-') {
                "" => "start it with a letter or a digit".to_string(),
                rest => format!("start it with a letter or a digit, e.g. `{rest}`"),
            },
        ));
    }
    if name.len() > MAX_NAME {
        return Err((
            format!("`{name}` is {} bytes long", name.len()),
            format!("a name is at most {MAX_NAME} bytes"),
        ));
    }
    Ok(())
}

/// The message and the help for a bad group, `before` being the groups before it on its
/// line.
fn group_problem(group: &str, before: &[&str]) -> Result<(), (String, String)> {
    if group.is_empty() {
        return Err((
            "an empty group name (two commas, or a comma at an end)".into(),
            "write groups as `ops,deploy`, or `-` for none".into(),
        ));
    }
    if before.contains(&group) {
        return Err((
            format!("group `{group}` is listed twice"),
            "list each group once".into(),
        ));
    }
    name_problem(group)
}

fn parse_hash(word: &str) -> Result<[u8; 32], (String, String)> {
    let hint = "hash a token with `printf %s TOKEN | sha256sum`, or make one with \
                `steward token new`";
    let Some(hex) = word.strip_prefix(HASH_PREFIX) else {
        if word.starts_with(TOKEN_PREFIX) {
            return Err((
                "this is a token, not its hash: the file keeps only hashes".into(),
                format!("write `{HASH_PREFIX}` and its SHA-256 instead; {hint}"),
            ));
        }
        if word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err((
                "a hash without its `sha256:` prefix".into(),
                format!("write `{HASH_PREFIX}{word}`"),
            ));
        }
        return Err((
            format!("`{word}` is not a hash"),
            format!("write `{HASH_PREFIX}` and 64 hex digits; {hint}"),
        ));
    };
    if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err((
            format!("`{c}` is not a hex digit"),
            format!("a hash is `{HASH_PREFIX}` and 64 hex digits (0-9, a-f); {hint}"),
        ));
    }
    if hex.len() != 64 {
        return Err((
            format!("a SHA-256 hash has 64 hex digits, this one {}", hex.len()),
            hint.into(),
        ));
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
        *byte = digit(pair[0]) << 4 | digit(pair[1]);
    }
    Ok(out)
}

/// The hash of a token's text as the file writes it: `sha256:` and 64 hex digits.
///
/// No salt and no slow hash: those protect passwords that people choose, from a search of
/// the likely ones. A token is 256 random bits (see [`token_text`]); a plain SHA-256 of it
/// is as hard to invert as the token is to guess, and it keeps checking a token cheap on
/// every request.
pub fn hash(token: &str) -> String {
    let hex: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{HASH_PREFIX}{hex}")
}

/// A token's text made from 32 random bytes: `stw_` and 43 characters of unpadded
/// base64url.
pub fn token_text(random: &[u8; 32]) -> String {
    format!("{TOKEN_PREFIX}{}", base64url(random))
}

/// Unpadded base64url (RFC 4648 section 5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests;
