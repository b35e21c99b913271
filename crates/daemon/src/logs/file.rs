//! One stream's files: `DIR/NAME` written, `DIR/NAME.1` .. `DIR/NAME.KEEP` rotated (1 the
//! newest), by size.
//!
//! Output is appended to a buffer with the places where a new file must begin; [`flush`]
//! writes it out, rotating at those places. A failed write (a full disk) leaves the rest in
//! the buffer for the next try, so nothing is dropped: meanwhile the pipe fills and the
//! service's writes wait.
//!
//! [`flush`]: RotatingFile::flush

use std::collections::VecDeque;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Buffered output is written out at this size.
const FLUSH_AT: usize = 256 << 10;

/// How a stream's files are kept; changed in place by a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub max_size: u64,
    pub keep: u32,
}

/// The path of rotated file `n` (1 the newest) of `name` in `dir`.
pub fn rotated(dir: &Path, name: &str, n: u32) -> PathBuf {
    dir.join(format!("{name}.{n}"))
}

#[derive(Debug)]
pub struct RotatingFile {
    dir: PathBuf,
    name: String,
    file: Option<File>,
    /// Bytes in the current file; `None` until first needed (the file may be there from an
    /// earlier run of steward).
    size: Option<u64>,
    /// Output not written yet.
    buf: Vec<u8>,
    /// Offsets in `buf` where a new file begins.
    cuts: VecDeque<usize>,
    /// What the current file will hold once `buf` is written.
    tail: u64,
    pub rotations: u64,
}

impl RotatingFile {
    pub fn new(dir: PathBuf, name: String) -> RotatingFile {
        RotatingFile {
            dir,
            name,
            file: None,
            size: None,
            buf: Vec::new(),
            cuts: VecDeque::new(),
            tail: 0,
            rotations: 0,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty() || !self.cuts.is_empty()
    }

    /// Closes the file (it is opened again on the next write): idle streams hold no file
    /// descriptor.
    pub fn close(&mut self) {
        self.file = None;
    }

    /// Bytes the current file will hold once everything buffered is written.
    fn used(&mut self) -> u64 {
        if self.size.is_none() {
            let size = std::fs::metadata(self.path()).map_or(0, |m| m.len());
            self.size = Some(size);
            self.tail = size + self.buf.len() as u64;
        }
        self.tail
    }

    fn cut(&mut self) {
        self.cuts.push_back(self.buf.len());
        self.tail = 0;
    }

    /// Appends `prefix` + `bytes`, one piece of a line. A line that would not fit in what is
    /// left of the file begins a new one; a piece that fits in no file is cut at `max_size`.
    pub fn push_line(&mut self, prefix: &[u8], bytes: &[u8], starts_line: bool, r: Rotation) {
        let len = (prefix.len() + bytes.len()) as u64;
        let used = self.used();
        if starts_line && used > 0 && used + len > r.max_size {
            self.cut();
        }
        self.push_raw(prefix, r);
        self.push_raw(bytes, r);
    }

    /// Appends `data`, rotating at exactly `max_size`.
    pub fn push_raw(&mut self, mut data: &[u8], r: Rotation) {
        while !data.is_empty() {
            let room = r.max_size.saturating_sub(self.used());
            if room == 0 {
                self.cut();
                continue;
            }
            let n = (room as usize).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            self.tail += n as u64;
            data = &data[n..];
        }
    }

    /// Whether enough is buffered to be worth a write.
    pub fn wants_flush(&self) -> bool {
        self.buf.len() >= FLUSH_AT
    }

    /// Writes out what is buffered, rotating where it must. On an error, what is left stays
    /// buffered for the next call.
    pub fn flush(&mut self, r: Rotation) -> io::Result<()> {
        let mut done = 0;
        let result = (|| {
            loop {
                if self.cuts.front() == Some(&done) {
                    self.rotate(r.keep)?;
                    self.cuts.pop_front();
                    continue;
                }
                let end = self.cuts.front().copied().unwrap_or(self.buf.len());
                if done == end {
                    return Ok(());
                }
                self.open()?;
                let file = self.file.as_mut().expect("opened above");
                let n = file.write(&self.buf[done..end])?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                done += n;
                *self.size.get_or_insert(0) += n as u64;
            }
        })();
        self.buf.drain(..done);
        for c in &mut self.cuts {
            *c -= done;
        }
        if self.buf.capacity() > 4 * FLUSH_AT && self.buf.is_empty() {
            self.buf = Vec::new();
        }
        result
    }

    /// Opens the file for writing at its end (created, with its directory, when missing);
    /// returns its descriptor.
    pub fn open(&mut self) -> io::Result<RawFd> {
        if self.file.is_none() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(&self.dir)?;
            // Only this writer writes here; it keeps the size itself for rotation.
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o640)
                .custom_flags(nix::libc::O_CLOEXEC)
                .open(self.path())?;
            let end = file.seek(SeekFrom::End(0))?;
            if self.size != Some(end) {
                self.size = Some(end);
                self.tail = end + self.buf.len() as u64;
            }
            self.file = Some(file);
        }
        Ok(self.file.as_ref().expect("opened above").as_raw_fd())
    }

    /// `NAME.K-1` -> `NAME.K` .. `NAME` -> `NAME.1`; then files past `keep` go. Idempotent
    /// up to the last rename, so a failed rotation can be tried again.
    fn rotate(&mut self, keep: u32) -> io::Result<()> {
        self.file = None;
        for n in (1..keep).rev() {
            rename_if_there(
                &rotated(&self.dir, &self.name, n),
                &rotated(&self.dir, &self.name, n + 1),
            )?;
        }
        rename_if_there(&self.path(), &rotated(&self.dir, &self.name, 1))?;
        self.size = Some(0);
        self.tail = self.buf.len() as u64;
        self.rotations += 1;
        self.prune(keep);
        Ok(())
    }

    /// Removes rotated files past `keep` (after a reload lowered it).
    pub fn prune(&self, keep: u32) {
        let mut n = keep + 1;
        while std::fs::remove_file(rotated(&self.dir, &self.name, n)).is_ok() {
            n += 1;
        }
    }
}

fn rename_if_there(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                (name, std::fs::read_to_string(e.path()).unwrap())
            })
            .collect();
        out.sort();
        out
    }

    const R: Rotation = Rotation {
        max_size: 10,
        keep: 2,
    };

    #[test]
    fn raw_output_rotates_at_exactly_max_size_and_keeps_keep_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        let mut f = RotatingFile::new(dir.clone(), "0.log".into());
        f.push_raw(b"0123456789abcdefghijKLMNOPQRSTuvw", R);
        f.flush(R).unwrap();
        assert_eq!(
            files(&dir),
            vec![
                ("0.log".into(), "uvw".into()),
                ("0.log.1".into(), "KLMNOPQRST".into()),
                ("0.log.2".into(), "abcdefghij".into()),
            ]
        );
        assert_eq!(f.rotations, 3);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&dir.join("0.log"))), (0o750, 0o640));
    }

    #[test]
    fn lines_begin_a_new_file_when_they_would_not_fit() {
        let tmp = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::new(tmp.path().into(), "1.err.log".into());
        let r = Rotation {
            max_size: 10,
            keep: 5,
        };
        for line in ["aaaa\n", "bbbb\n", "cc\n", "this one is too long\n", "d\n"] {
            f.push_line(b"", line.as_bytes(), true, r);
        }
        f.flush(r).unwrap();
        assert_eq!(
            files(tmp.path()),
            vec![
                ("1.err.log".into(), "\nd\n".into()),
                ("1.err.log.1".into(), "s too long".into()),
                ("1.err.log.2".into(), "this one i".into()),
                ("1.err.log.3".into(), "cc\n".into()),
                ("1.err.log.4".into(), "aaaa\nbbbb\n".into()),
            ]
        );
    }

    #[test]
    fn a_file_from_an_earlier_run_is_continued_and_a_lower_keep_prunes() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("0.log"), "12345678").unwrap();
        for n in 1..=4 {
            std::fs::write(rotated(tmp.path(), "0.log", n), "old").unwrap();
        }
        let mut f = RotatingFile::new(tmp.path().into(), "0.log".into());
        f.push_raw(b"90ab", R);
        f.flush(R).unwrap();
        assert_eq!(
            files(tmp.path()),
            vec![
                ("0.log".into(), "ab".into()),
                ("0.log.1".into(), "1234567890".into()),
                ("0.log.2".into(), "old".into()),
            ]
        );
    }

    #[test]
    fn a_failed_write_keeps_everything_for_the_next_try() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("svc");
        // A file where the directory should be: opening fails until it is gone.
        std::fs::write(&blocker, "").unwrap();
        let mut f = RotatingFile::new(blocker.clone(), "0.log".into());
        f.push_raw(b"0123456789abc", R);
        assert!(f.flush(R).is_err());
        assert!(f.has_pending());
        std::fs::remove_file(&blocker).unwrap();
        f.flush(R).unwrap();
        assert!(!f.has_pending());
        assert_eq!(
            files(&blocker),
            vec![
                ("0.log".into(), "abc".into()),
                ("0.log.1".into(), "0123456789".into()),
            ]
        );
    }
}
