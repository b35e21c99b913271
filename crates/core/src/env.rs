//! `pass_env`: which of steward's own environment variables a process gets. A child does
//! not inherit steward's environment (which may hold secrets meant for steward alone), only
//! the variables an entry names: a name, or a prefix ending in `*` (`"LC_*"`).

/// What a process gets when `pass_env` is not given.
pub const DEFAULT_PASS_ENV: &[&str] = &["PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM"];

/// The defaults, owned.
pub fn default_pass_env() -> Vec<String> {
    DEFAULT_PASS_ENV.iter().map(|s| s.to_string()).collect()
}

/// Whether variable `name` is passed by one of `patterns`.
pub fn passes(patterns: &[String], name: &[u8]) -> bool {
    patterns.iter().any(|p| matches(p, name))
}

fn matches(pattern: &str, name: &[u8]) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix.as_bytes()),
        None => name == pattern.as_bytes(),
    }
}

/// Why `pattern` cannot be a `pass_env` entry, if it cannot. `*` alone passes everything.
pub fn bad_pattern(pattern: &str) -> Option<&'static str> {
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    if name.contains('*') {
        Some("`*` may only end a name, to match every variable that starts with what is before it")
    } else if pattern == "*" {
        None
    } else {
        bad_name(name)
    }
}

/// Why `name` cannot be an environment variable name, if it cannot.
pub fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("an environment variable name cannot be empty")
    } else if name.contains('=') {
        Some("an environment variable name cannot contain `=`")
    } else if name.contains('\0') {
        Some("an environment variable name cannot contain a NUL character")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_match_exactly_and_stars_by_prefix() {
        let p = default_pass_env();
        for yes in ["PATH", "LANG", "LC_ALL", "LC_TIME", "LC_", "TZ", "TERM"] {
            assert!(passes(&p, yes.as_bytes()), "{yes}");
        }
        for no in ["PATHS", "HOME", "SECRET_TOKEN", "LC", "lang", "TERMINFO"] {
            assert!(!passes(&p, no.as_bytes()), "{no}");
        }
        assert!(passes(&list(&["*"]), b"ANYTHING"));
        assert!(!passes(&[], b"PATH"));
    }

    #[test]
    fn patterns_are_names_with_an_optional_final_star() {
        for good in ["PATH", "LC_*", "*", "A.B", "lower"] {
            assert_eq!(bad_pattern(good), None, "{good}");
        }
        assert!(bad_pattern("").unwrap().contains("empty"));
        assert!(bad_pattern("LC_*_X").unwrap().contains("may only end"));
        assert!(bad_pattern("**").unwrap().contains("may only end"));
        assert!(bad_pattern("A=B").unwrap().contains("`=`"));
        assert!(bad_pattern("A\0").unwrap().contains("NUL"));
    }
}
