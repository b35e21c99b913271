//! Line assembly: the bytes of a pipe cut into lines, each stamped with the time its first
//! byte was read.
//!
//! A partial line waits for its newline while the pipe has more to give; once the pipe is
//! empty (or the line reaches [`LINE_MAX`]) it is handed out as it is, and its continuation
//! then comes as a piece that does not start a line (no timestamp, no prefix).

use std::time::{SystemTime, UNIX_EPOCH};

/// The longest partial line held back: longer lines are cut into pieces of about this size.
pub const LINE_MAX: usize = 64 << 10;

/// `2026-05-20T10:11:12.345Z ` (RFC 3339, UTC, milliseconds), the prefix of a stamped line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Stamp([u8; Stamp::LEN]);

impl Stamp {
    /// With its trailing space.
    pub const LEN: usize = 25;

    pub fn now() -> Stamp {
        Stamp::at(SystemTime::now())
    }

    pub fn at(t: SystemTime) -> Stamp {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs();
        let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
        let (y, m, day) = civil_from_days(days);
        let mut b = *b"0000-00-00T00:00:00.000Z ";
        let mut put = |at: usize, width: usize, mut n: u64| {
            for i in (0..width).rev() {
                b[at + i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, y as u64);
        put(5, 2, m as u64);
        put(8, 2, day as u64);
        put(11, 2, rem / 3600);
        put(14, 2, rem / 60 % 60);
        put(17, 2, rem % 60);
        put(20, 3, u64::from(d.subsec_millis()));
        Stamp(b)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::str::from_utf8(&self.0).unwrap_or("?"))
    }
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The time a stamped line starts with, if it starts with one.
pub fn stamp_of(line: &[u8]) -> Option<jiff::Timestamp> {
    let text = std::str::from_utf8(line.get(..Stamp::LEN - 1)?).ok()?;
    text.parse().ok()
}

/// A piece of output: a whole line (with its newline), or part of one.
#[derive(Debug, PartialEq, Eq)]
pub struct Piece<'a> {
    pub bytes: &'a [u8],
    /// It begins a line: it gets the timestamp and the echo prefix.
    pub starts_line: bool,
    pub stamp: Stamp,
}

/// Cuts a stream into lines.
#[derive(Debug, Default)]
pub struct Assembler {
    /// The start of a line whose newline has not come yet.
    pending: Vec<u8>,
    pending_stamp: Option<Stamp>,
    /// The last piece handed out did not end its line.
    mid_line: bool,
}

impl Assembler {
    /// Feeds bytes read at `now`; `emit` gets every whole line, and any partial line that
    /// has grown to [`LINE_MAX`].
    pub fn feed(&mut self, mut data: &[u8], now: Stamp, emit: &mut impl FnMut(Piece<'_>)) {
        while !data.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    let (line, rest) = data.split_at(i + 1);
                    data = rest;
                    let starts_line = !self.mid_line;
                    if self.pending.is_empty() {
                        emit(Piece {
                            bytes: line,
                            starts_line,
                            stamp: now,
                        });
                    } else {
                        self.pending.extend_from_slice(line);
                        let stamp = self.pending_stamp.take().unwrap_or(now);
                        emit(Piece {
                            bytes: &self.pending,
                            starts_line,
                            stamp,
                        });
                        self.clear_pending();
                    }
                    self.mid_line = false;
                }
                None => {
                    if self.pending.is_empty() {
                        self.pending_stamp = Some(now);
                    }
                    self.pending.extend_from_slice(data);
                    data = &[];
                    if self.pending.len() >= LINE_MAX {
                        self.flush(emit);
                    }
                }
            }
        }
    }

    /// Hands out the partial line, if any: the pipe is empty, or the writer is gone.
    pub fn flush(&mut self, emit: &mut impl FnMut(Piece<'_>)) {
        if self.pending.is_empty() {
            return;
        }
        let stamp = self.pending_stamp.take().unwrap_or_else(Stamp::now);
        emit(Piece {
            bytes: &self.pending,
            starts_line: !self.mid_line,
            stamp,
        });
        self.clear_pending();
        self.mid_line = true;
    }

    fn clear_pending(&mut self) {
        self.pending.clear();
        // A long line's buffer is not kept for the life of an instance.
        if self.pending.capacity() > LINE_MAX {
            self.pending = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pieces(a: &mut Assembler, data: &[u8], flush: bool) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut emit =
            |p: Piece<'_>| out.push((String::from_utf8_lossy(p.bytes).into(), p.starts_line));
        a.feed(data, Stamp::now(), &mut emit);
        if flush {
            a.flush(&mut emit);
        }
        out
    }

    #[test]
    fn stamps_are_rfc3339_utc_with_milliseconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_779_271_872_345);
        let s = Stamp::at(t);
        assert_eq!(s.as_bytes(), b"2026-05-20T10:11:12.345Z ");
        let back = stamp_of(s.as_bytes()).unwrap();
        assert_eq!(back.as_millisecond(), 1_779_271_872_345);
        for ms in [0u64, 951_782_400_000, 4_107_542_399_999, 1_709_164_800_000] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            let j = jiff::Timestamp::from_millisecond(ms as i64).unwrap();
            assert_eq!(stamp_of(Stamp::at(t).as_bytes()), Some(j), "{ms}");
        }
        assert_eq!(stamp_of(b"hello world, no stamp here"), None);
    }

    #[test]
    fn whole_lines_go_out_partial_ones_wait_for_their_newline() {
        let mut a = Assembler::default();
        assert_eq!(
            pieces(&mut a, b"one\ntwo\nthr", false),
            vec![("one\n".into(), true), ("two\n".into(), true)]
        );
        assert_eq!(
            pieces(&mut a, b"ee\nfo", false),
            vec![("three\n".into(), true)]
        );
        // The pipe is empty: the partial line goes out, and its rest does not start a line.
        assert_eq!(pieces(&mut a, b"", true), vec![("fo".into(), true)]);
        assert_eq!(
            pieces(&mut a, b"ur\nfive\n", false),
            vec![("ur\n".into(), false), ("five\n".into(), true)]
        );
    }

    #[test]
    fn a_line_longer_than_line_max_is_cut() {
        let mut a = Assembler::default();
        let long = vec![b'x'; LINE_MAX + 10];
        let got = pieces(&mut a, &long, false);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0.len(), got[0].1), (LINE_MAX + 10, true));
        assert_eq!(pieces(&mut a, b"y\n", false), vec![("y\n".into(), false)]);
    }
}
