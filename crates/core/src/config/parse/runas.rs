//! The process keys that harden how a process runs: `umask`, `pass_env` and `limits`
//! (`user`, `group` and `no_new_privileges` are plain strings and a boolean).

use super::*;
use crate::env::bad_pattern;
use crate::rlimit::{Bound, Limit, Resource};

const PASS_ENV_EXAMPLE: &str = "e.g. `pass_env = [\"PATH\", \"LANG\", \"LC_*\"]`";
const LIMITS_EXAMPLE: &str = "e.g. `limits = { nofile = 4096, core = 0 }`";

impl Checker<'_> {
    /// `umask`: a string of 3 or 4 octal digits, up to `"0777"`.
    pub(super) fn umask(&mut self, v: &Value<'_>) -> Option<u32> {
        let mask = self.octal(v, "umask", "0027", "\"0022\" or \"0027\"")?;
        if mask > 0o777 {
            let source = self.source;
            let s = &source[v.span()];
            let message =
                format!("`umask` masks only permission bits, \"0000\" to \"0777\", found {s}");
            self.error(v.span(), message, None);
            return None;
        }
        Some(mask)
    }

    /// A file mode or mask written as a string of 3 or 4 octal digits (`umask`,
    /// `socket_mode`); `example` is a good value, `examples` the help's.
    pub(super) fn octal(
        &mut self,
        v: &Value<'_>,
        name: &str,
        example: &str,
        examples: &str,
    ) -> Option<u32> {
        let expected = "a string of 3 or 4 octal digits";
        let s = match v.get_ref() {
            DeValue::String(s) => s,
            DeValue::Integer(_) => {
                // `umask = 027` or `0o027`: show the string the number was meant to be.
                let text = self.source[v.span()].replace('_', "");
                let digits = text.strip_prefix("0o").unwrap_or(&text);
                let help = if !digits.is_empty()
                    && digits.len() <= 4
                    && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
                {
                    format!("quote it: `{name} = \"{digits:0>4}\"`")
                } else {
                    format!("write it as a string of octal digits, e.g. `{name} = \"{example}\"`")
                };
                self.mismatch(v, name, expected, Some(help));
                return None;
            }
            _ => {
                let help =
                    format!("write it as a string of octal digits, e.g. `{name} = \"{example}\"`");
                self.mismatch(v, name, expected, Some(help));
                return None;
            }
        };
        let octal = s.bytes().all(|b| (b'0'..=b'7').contains(&b));
        if !octal || !(3..=4).contains(&s.len()) {
            let message = format!(
                "`{name}` must be 3 or 4 octal digits, found {}",
                toml_str(s)
            );
            let help = format!("e.g. {examples}: each digit is 0 to 7");
            self.error(v.span(), message, Some(help));
            return None;
        }
        u32::from_str_radix(s, 8).ok()
    }

    /// `pass_env`: variable names, each perhaps ending in `*`.
    pub(super) fn pass_env(&mut self, v: &Value<'_>) -> Option<Vec<String>> {
        let DeValue::Array(items) = v.get_ref() else {
            let help = Some(PASS_ENV_EXAMPLE.to_string());
            self.mismatch(v, "pass_env", "an array of variable names", help);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let Some(s) = self.string(item, &format!("pass_env[{i}]")) else {
                ok = false;
                continue;
            };
            if let Some(why) = bad_pattern(s) {
                let message = format!("invalid `pass_env` entry {}: {why}", toml_str(s));
                self.error(item.span(), message, Some(PASS_ENV_EXAMPLE.into()));
                ok = false;
                continue;
            }
            out.push(s.to_string());
        }
        ok.then_some(out)
    }

    /// `limits`: a table of resource name -> limit. The span of each valid limit is noted
    /// for the check against steward's own limits.
    pub(super) fn limits(&mut self, v: &Value<'_>) -> Option<BTreeMap<Resource, Limit>> {
        let DeValue::Table(table) = v.get_ref() else {
            self.mismatch(v, "limits", "a table", Some(LIMITS_EXAMPLE.into()));
            return None;
        };
        let names: Vec<&str> = Resource::ALL.iter().map(|r| r.name()).collect();
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            let k = key.get_ref().as_ref();
            let Some(resource) = Resource::from_name(k) else {
                let lower = k.to_ascii_lowercase();
                let bare = lower.strip_prefix("rlimit_").unwrap_or(&lower);
                let close = Resource::from_name(bare)
                    .map(Resource::name)
                    .or_else(|| suggest(k, &names));
                let known = format!("the limits are {}", key_list(&names));
                let help = match close {
                    Some(c) => format!("did you mean `{c}`? {known}"),
                    None => known,
                };
                self.error(
                    key.span(),
                    format!("unknown limit `{k}` in `limits`"),
                    Some(help),
                );
                ok = false;
                continue;
            };
            match self.limit(value, resource) {
                Some(limit) => {
                    out.insert(resource, limit);
                    let field = Field::Limit(resource);
                    self.process_spans.push((field, value.span()));
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// One limit: a value for both the soft and the hard limit, or `[soft, hard]`.
    fn limit(&mut self, v: &Value<'_>, resource: Resource) -> Option<Limit> {
        let name = format!("limits.{resource}");
        let DeValue::Array(items) = v.get_ref() else {
            return self.bound(v, &name, resource).map(Limit::both);
        };
        if items.len() != 2 {
            let message = format!(
                "`{name}` as an array is [soft, hard], found {} value{}",
                items.len(),
                if items.len() == 1 { "" } else { "s" }
            );
            let help = format!("e.g. `{resource} = [1024, 4096]`, or one value for both");
            self.error(v.span(), message, Some(help));
            return None;
        }
        let soft = self.bound(&items[0], &format!("{name}[0]"), resource);
        let hard = self.bound(&items[1], &format!("{name}[1]"), resource);
        let (soft, hard) = (soft?, hard?);
        if soft > hard {
            let message =
                format!("`{name}`: the soft limit ({soft}) is above the hard limit ({hard})");
            let help = "the soft limit is the one in force; the process may raise it up to the \
                        hard limit"
                .to_string();
            self.error(v.span(), message, Some(help));
            return None;
        }
        Some(Limit { soft, hard })
    }

    /// One side of a limit: a whole number, `"infinity"`, or a size for limits in bytes.
    fn bound(&mut self, v: &Value<'_>, name: &str, resource: Resource) -> Option<Bound> {
        let expected = if resource.is_bytes() {
            "an integer, a size or \"infinity\""
        } else {
            "an integer or \"infinity\""
        };
        match v.get_ref() {
            DeValue::String(s) if s == "infinity" => Some(Bound::Infinity),
            DeValue::String(s)
                if ["unlimited", "infinity", "inf", "none"]
                    .iter()
                    .any(|w| s.trim().eq_ignore_ascii_case(w)) =>
            {
                let message = format!("`{name}` must be {expected}, found {}", toml_str(s));
                self.error(v.span(), message, Some("write \"infinity\"".into()));
                None
            }
            DeValue::String(_) | DeValue::Integer(_) if resource.is_bytes() => {
                self.size(v, name).map(Bound::Finite)
            }
            DeValue::Integer(_) => {
                let n = integer_value(v.get_ref())?;
                match u64::try_from(n) {
                    Ok(n) => Some(Bound::Finite(n)),
                    Err(_) => {
                        self.error(v.span(), format!("`{name}` cannot be negative"), None);
                        None
                    }
                }
            }
            DeValue::String(s) => {
                let help = match s.trim().parse::<u64>() {
                    Ok(n) => format!("remove the quotes: `{n}`"),
                    Err(_) => format!("`{resource}` is not counted in bytes: give a whole number"),
                };
                let message = format!("`{name}` must be {expected}, found {}", toml_str(s));
                self.error(v.span(), message, Some(help));
                None
            }
            _ => {
                self.mismatch(v, name, expected, None);
                None
            }
        }
    }
}
