//! Reading a stream's files back: the last lines, the lines since a time, and following
//! what is written next, across rotations. Blocking file I/O: callers run it off the
//! async runtime.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::lines::{Stamp, stamp_of};
use super::rotated;

/// Reads go out in chunks of at most this size.
pub const CHUNK: usize = 256 << 10;
const BLOCK: u64 = 64 << 10;

/// Which lines of the history to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct Select {
    /// The last N lines; `None`: no limit.
    pub lines: Option<usize>,
    /// Lines stamped at or after this time (needs timestamps).
    pub since: Option<jiff::Timestamp>,
}

/// The files of a stream, opened together: rotated ones oldest first, then the current
/// one, each with the length it had when opened.
struct Set {
    rotated: Vec<(File, u64)>,
    current: Option<(File, u64, u64)>,
}

fn open(path: &Path) -> io::Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn open_set(dir: &Path, name: &str, keep: u32) -> io::Result<Set> {
    // A rotation between two opens would show one file twice; then open them all again.
    for _ in 0..5 {
        let current = match open(&dir.join(name))? {
            Some(f) => {
                let m = f.metadata()?;
                Some((f, m.ino(), m.len()))
            }
            None => None,
        };
        let mut rotated_files = Vec::new();
        let mut raced = false;
        for n in 1..=keep {
            let Some(f) = open(&rotated(dir, name, n))? else {
                break;
            };
            let m = f.metadata()?;
            if current.as_ref().is_some_and(|c| c.1 == m.ino()) {
                raced = true;
                break;
            }
            rotated_files.push((f, m.len()));
        }
        if !raced {
            rotated_files.reverse();
            return Ok(Set {
                rotated: rotated_files,
                current,
            });
        }
    }
    Err(io::Error::other("the log files keep rotating; try again"))
}

/// Sends the selected history through `emit` (chunks of at most [`CHUNK`]) and returns a
/// follower placed right after it.
pub fn history(
    dir: PathBuf,
    name: String,
    keep: u32,
    select: Select,
    emit: &mut impl FnMut(Vec<u8>) -> bool,
) -> io::Result<Follower> {
    let set = open_set(&dir, &name, keep)?;
    let mut files: Vec<(&File, u64)> = set.rotated.iter().map(|(f, len)| (f, *len)).collect();
    if let Some((f, _, len)) = &set.current {
        files.push((f, *len));
    }
    // Newest first, find where the selection starts in each file.
    let mut remaining = select.lines;
    let mut ranges = Vec::new();
    for &(file, end) in files.iter().rev() {
        let (start, stop) = scan_back(file, end, &mut remaining, select.since)?;
        if start < end {
            ranges.push((file, start, end));
        }
        if stop {
            break;
        }
    }
    let mut buf = vec![0; CHUNK];
    'out: for (file, start, end) in ranges.into_iter().rev() {
        let mut at = start;
        while at < end {
            let want = ((end - at) as usize).min(CHUNK);
            let n = file.read_at(&mut buf[..want], at)?;
            if n == 0 {
                break;
            }
            at += n as u64;
            if !emit(buf[..n].to_vec()) {
                break 'out;
            }
        }
    }
    // Placed at the end of the newest file; between a rotation and the next write, that
    // is the newest rotated one.
    let newest = match (set.current, set.rotated.into_iter().last()) {
        (Some((f, ino, len)), _) => Some((f, ino, len)),
        (None, Some((f, len))) => {
            let ino = f.metadata()?.ino();
            Some((f, ino, len))
        }
        (None, None) => None,
    };
    let (file, ino, pos) = match newest {
        Some((f, ino, len)) => (Some(f), ino, len),
        None => (None, 0, 0),
    };
    Ok(Follower {
        dir,
        name,
        keep,
        file,
        ino,
        pos,
    })
}

/// Where the selected lines of `file[..end]` start, scanning back from the end; and
/// whether older files are past the selection too.
fn scan_back(
    file: &File,
    end: u64,
    remaining: &mut Option<usize>,
    since: Option<jiff::Timestamp>,
) -> io::Result<(u64, bool)> {
    if remaining.is_none() && since.is_none() {
        return Ok((0, false));
    }
    let mut start = end;
    // With `since`: the earliest stamped line taken; unstamped lines before it (the rest
    // of a cut line) belong to an older stamped line.
    let mut stamped_start = end;
    let mut accept = |line_start: u64| -> io::Result<bool> {
        if *remaining == Some(0) {
            return Ok(false);
        }
        if let Some(t) = since {
            let mut head = [0u8; Stamp::LEN];
            let n = file.read_at(&mut head, line_start)?;
            if let Some(stamp) = stamp_of(&head[..n]) {
                if stamp < t {
                    start = stamped_start;
                    return Ok(false);
                }
                stamped_start = line_start;
            }
        }
        start = line_start;
        if let Some(r) = remaining.as_mut() {
            *r -= 1;
        }
        Ok(true)
    };
    if end == 0 {
        return Ok((0, false));
    }
    // The newline that ends the last line starts nothing.
    let mut search_end = end - 1;
    let mut buf = vec![0u8; BLOCK as usize];
    loop {
        let block_start = search_end.saturating_sub(BLOCK);
        let block = &mut buf[..(search_end - block_start) as usize];
        file.read_exact_at(block, block_start)?;
        for i in memchr::memrchr_iter(b'\n', block) {
            if !accept(block_start + i as u64 + 1)? {
                return Ok((start, true));
            }
        }
        if block_start == 0 {
            if !accept(0)? {
                return Ok((start, true));
            }
            return Ok((start, false));
        }
        search_end = block_start;
    }
}

/// Reads what a stream writes after a point, following it into new files as it rotates.
pub struct Follower {
    dir: PathBuf,
    name: String,
    keep: u32,
    /// The file being read (`None` until the stream has one).
    file: Option<File>,
    ino: u64,
    pos: u64,
}

impl Follower {
    /// Appends what is new to `out`, up to about `limit` bytes; true when there is more
    /// to read at once.
    pub fn poll(&mut self, out: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
        loop {
            if self.read_to_end(out, limit)? {
                return Ok(true);
            }
            let Some((next, ino)) = self.newer()? else {
                return Ok(false);
            };
            // Ours was renamed before `newer` looked: what it holds now is final.
            if self.read_to_end(out, limit)? {
                return Ok(true);
            }
            self.file = Some(next);
            self.ino = ino;
            self.pos = 0;
        }
    }

    /// Reads the current file to its end; true when `limit` stopped it first.
    fn read_to_end(&mut self, out: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
        let Some(file) = &self.file else {
            return Ok(false);
        };
        let mut buf = [0u8; 64 << 10];
        loop {
            if out.len() >= limit {
                return Ok(true);
            }
            let want = buf.len().min(limit - out.len());
            let n = file.read_at(&mut buf[..want], self.pos)?;
            if n == 0 {
                return Ok(false);
            }
            self.pos += n as u64;
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// The file that comes after the one being read, once it has been rotated away (or
    /// the first file, once there is one).
    fn newer(&mut self) -> io::Result<Option<(File, u64)>> {
        let current = self.dir.join(&self.name);
        let Ok(meta) = std::fs::metadata(&current) else {
            // Between a rotation and the first write to the new file.
            return Ok(None);
        };
        if self.file.is_some() && meta.ino() == self.ino {
            return Ok(None);
        }
        let path = self.after_ours().unwrap_or(current);
        let Some(f) = open(&path)? else {
            return Ok(None);
        };
        let ino = f.metadata()?.ino();
        Ok(Some((f, ino)))
    }

    /// The rotated file written after ours: `NAME.(J-1)` when ours is now `NAME.J`, the
    /// oldest one kept when ours is gone (a follower slower than `keep` rotations) or when
    /// there was none (every file is new).
    fn after_ours(&self) -> Option<PathBuf> {
        let mut oldest = None;
        for n in 1..=self.keep {
            let path = rotated(&self.dir, &self.name, n);
            let Ok(meta) = std::fs::metadata(&path) else {
                break;
            };
            if self.file.is_some() && meta.ino() == self.ino {
                return (n > 1).then(|| rotated(&self.dir, &self.name, n - 1));
            }
            oldest = Some(path);
        }
        oldest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::file::{RotatingFile, Rotation};

    fn collect(dir: &Path, keep: u32, select: Select) -> (String, Follower) {
        let mut out = Vec::new();
        let f = history(dir.into(), "0.log".into(), keep, select, &mut |c| {
            out.extend(c);
            true
        })
        .unwrap();
        (String::from_utf8(out).unwrap(), f)
    }

    fn lines(n: usize) -> Select {
        Select {
            lines: Some(n),
            since: None,
        }
    }

    #[test]
    fn the_last_lines_across_rotated_files() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Rotation {
            max_size: 12,
            keep: 3,
        };
        let mut f = RotatingFile::new(tmp.path().into(), "0.log".into());
        for i in 0..10 {
            f.push_line(b"", format!("line {i}\n").as_bytes(), true, r);
        }
        f.push_line(b"", b"partial", true, r);
        f.flush(r).unwrap();
        // 7 bytes a line, one per file; lines 0 to 5 rotated away past `keep`.
        assert_eq!(collect(tmp.path(), 3, lines(2)).0, "line 9\npartial");
        assert_eq!(
            collect(tmp.path(), 3, lines(3)).0,
            "line 8\nline 9\npartial"
        );
        assert_eq!(
            collect(tmp.path(), 3, Select::default()).0,
            "line 7\nline 8\nline 9\npartial"
        );
        assert_eq!(collect(tmp.path(), 3, lines(0)).0, "");
        assert_eq!(
            collect(tmp.path(), 3, lines(100)).0,
            "line 7\nline 8\nline 9\npartial"
        );
    }

    #[test]
    fn since_takes_the_lines_stamped_at_or_after_it() {
        let tmp = tempfile::tempdir().unwrap();
        let text = "2026-01-01T00:00:00.000Z a\n\
                    2026-01-01T00:00:01.000Z b\n\
                    the rest of b\n\
                    2026-01-01T00:00:02.000Z c\n";
        std::fs::write(tmp.path().join("0.log"), text).unwrap();
        let at = |s: &str| Some(s.parse::<jiff::Timestamp>().unwrap());
        let since = |t: &str, lines| Select {
            lines,
            since: at(t),
        };
        let got = collect(tmp.path(), 5, since("2026-01-01T00:00:00.500Z", None)).0;
        assert_eq!(
            got,
            "2026-01-01T00:00:01.000Z b\nthe rest of b\n2026-01-01T00:00:02.000Z c\n"
        );
        let got = collect(tmp.path(), 5, since("2026-01-01T00:00:01.500Z", None)).0;
        assert_eq!(got, "2026-01-01T00:00:02.000Z c\n");
        let got = collect(tmp.path(), 5, since("2025-01-01T00:00:00Z", Some(1))).0;
        assert_eq!(got, "2026-01-01T00:00:02.000Z c\n");
        assert_eq!(
            collect(tmp.path(), 5, since("2027-01-01T00:00:00Z", None)).0,
            ""
        );
    }

    #[test]
    fn a_follower_finishes_the_old_file_then_reads_the_new_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Rotation {
            max_size: 8,
            keep: 5,
        };
        let mut f = RotatingFile::new(tmp.path().into(), "0.log".into());
        let (_, mut follower) = collect(tmp.path(), 5, Select::default());
        let mut seen = Vec::new();
        assert!(!follower.poll(&mut seen, 1 << 20).unwrap());
        let mut all = Vec::new();
        for round in 0..5 {
            // Several rotations between two polls.
            for i in 0..7 {
                let line = format!("{round}.{i}\n");
                all.extend_from_slice(line.as_bytes());
                f.push_line(b"", line.as_bytes(), true, r);
                f.flush(r).unwrap();
            }
            loop {
                let mut chunk = Vec::new();
                let more = follower.poll(&mut chunk, 5).unwrap();
                seen.extend(chunk);
                if !more {
                    break;
                }
            }
        }
        assert_eq!(
            String::from_utf8(seen).unwrap(),
            String::from_utf8(all).unwrap()
        );
    }
}
