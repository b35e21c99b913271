//! `[service.NAME.log]` (or `log = { ... }`): output capture, rotation and timestamps.

use super::*;
use crate::config::model::{LogSpec, StderrMode};
use crate::size::{format_size, parse_size};

const LOG_KEYS: &[&str] = &["capture", "stderr", "max_size", "keep", "timestamps"];

/// The smallest `max_size`: below it, rotation would churn files for every few lines.
pub(crate) const MIN_LOG_SIZE: u64 = 4 << 10;
/// The most rotated files `keep` may ask for.
const MAX_KEEP: i64 = 1000;

const LOG_EXAMPLE: &str = "e.g. `log = { max_size = \"10MiB\", keep = 5 }`";

impl Checker<'_> {
    pub(super) fn log(&mut self, v: &Value<'_>) -> Option<LogSpec> {
        let DeValue::Table(table) = v.get_ref() else {
            let help = match v.get_ref() {
                DeValue::Boolean(b) => format!("write `log = {{ capture = {b} }}`"),
                _ => LOG_EXAMPLE.into(),
            };
            self.mismatch(v, "log", "a table", Some(help));
            return None;
        };
        let before = self.diags.len();
        let mut out = LogSpec::default();
        for (key, value) in table.iter() {
            if self.broken(key, value) {
                continue;
            }
            match key.get_ref().as_ref() {
                "capture" => {
                    if let Some(b) = self.boolean(value, "log.capture") {
                        out.capture = b;
                    }
                }
                "stderr" => {
                    let choices = [
                        ("merge", StderrMode::Merge),
                        ("separate", StderrMode::Separate),
                    ];
                    if let Some(m) = self.choice(value, "log.stderr", &choices) {
                        out.stderr = m;
                    }
                }
                "max_size" => {
                    if let Some(n) = self.size(value, "log.max_size") {
                        if n < MIN_LOG_SIZE {
                            let message = format!(
                                "`log.max_size` must be at least {}, found {}",
                                format_size(MIN_LOG_SIZE),
                                format_size(n)
                            );
                            self.error(value.span(), message, None);
                        }
                        out.max_size = n;
                    }
                }
                "keep" => {
                    if let Some(n) = self.integer_in(value, "log.keep", 1, MAX_KEEP) {
                        out.keep = n as u32;
                    }
                }
                "timestamps" => {
                    if let Some(b) = self.boolean(value, "log.timestamps") {
                        out.timestamps = b;
                    }
                }
                _ => self.unknown_key(key, value, LOG_KEYS, "in `log`"),
            }
        }
        (self.diags.len() == before).then_some(out)
    }

    /// A size: a whole number of bytes, or a string with a unit. On a bad string, the span
    /// points at the exact spot inside the quotes.
    pub(super) fn size(&mut self, v: &Value<'_>, name: &str) -> Option<u64> {
        let s = match v.get_ref() {
            DeValue::Integer(_) => {
                let n = integer_value(v.get_ref())?;
                return match u64::try_from(n) {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.error(v.span(), format!("`{name}` cannot be negative"), None);
                        None
                    }
                };
            }
            DeValue::String(s) => s,
            _ => {
                let help = "e.g. \"10MiB\", \"512KB\" or a number of bytes".to_string();
                self.mismatch(v, name, "a size", Some(help));
                return None;
            }
        };
        match parse_size(s) {
            Ok(n) => Some(n),
            Err(e) => {
                let span = match self.string_content_start(&v.span(), s) {
                    Some(start) => {
                        let at = start + e.offset;
                        let end = start + s.trim_end().len();
                        at..end.max(at)
                    }
                    None => v.span(),
                };
                let message = format!("invalid size for `{name}`: {}", e.message);
                let help = "sizes are numbers with a unit (B, KB, KiB, MB, MiB, GB, GiB, TB, \
                            TiB, or K, M, G, T for KiB to TiB), e.g. \
                            \"10MiB\", or a plain number of bytes"
                    .to_string();
                self.error(span, message, Some(help));
                None
            }
        }
    }
}
