//! The wire format shared by the service and the client.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use unicode_segmentation::UnicodeSegmentation;

/// The longest request accepted; longer ones end the connection rather than the memory.
pub(crate) const MAX_REQUEST: usize = 64 * 1024;

/// Reverses `text` by extended grapheme cluster, keeping combining marks, flags and
/// ZWJ emoji sequences intact: `"ae\u{301}"` becomes `"e\u{301}a"`.
pub fn reverse_graphemes(text: &str) -> String {
    text.graphemes(true).rev().collect()
}

/// The answer to one request, with `terminator` (`b"\n"`, `b"\r\n"` or `b"\0"`) after it.
pub(crate) fn answer(request: &[u8], terminator: &[u8], instance: u32) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let mut reply = format!("{} (instance {instance})", reverse_graphemes(&text)).into_bytes();
    reply.extend_from_slice(terminator);
    reply
}

/// Reads one request into `buf` (without its terminator) and returns the terminator, or
/// `None` at end of input. Cancel-safe: bytes read before a cancellation stay in `buf`, so
/// calling it again continues the same request.
pub(crate) async fn read_request<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<&'static [u8]>> {
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(None);
        }
        if let Some(i) = chunk.iter().position(|b| *b == b'\n' || *b == 0) {
            let nul = chunk[i] == 0;
            buf.extend_from_slice(&chunk[..i]);
            reader.consume(i + 1);
            return Ok(Some(if nul {
                b"\0"
            } else if buf.last() == Some(&b'\r') {
                buf.pop();
                b"\r\n"
            } else {
                b"\n"
            }));
        }
        let n = chunk.len();
        buf.extend_from_slice(chunk);
        reader.consume(n);
        if buf.len() > MAX_REQUEST {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("request longer than {MAX_REQUEST} bytes"),
            ));
        }
    }
}

/// The instance named at the end of an answer, `... (instance N)`.
pub(crate) fn instance_of(answer: &str) -> Option<u32> {
    answer
        .strip_suffix(')')?
        .rsplit_once("(instance ")?
        .1
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverses_by_grapheme_cluster() {
        assert_eq!(reverse_graphemes("hello"), "olleh");
        assert_eq!(reverse_graphemes("ae\u{301}"), "e\u{301}a");
        assert_eq!(reverse_graphemes("🇫🇷🇩🇪"), "🇩🇪🇫🇷");
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(
            reverse_graphemes(&format!("a{family}b")),
            format!("b{family}a")
        );
        assert_eq!(reverse_graphemes(""), "");
    }

    #[test]
    fn answers_carry_the_instance_and_terminator() {
        assert_eq!(answer(b"abc", b"\0", 2), b"cba (instance 2)\0");
        assert_eq!(instance_of("cba (instance 2)"), Some(2));
        assert_eq!(instance_of("(instance x)"), None);
        assert_eq!(instance_of("no instance"), None);
    }

    #[tokio::test]
    async fn requests_split_on_newline_crlf_and_nul() {
        let mut input: &[u8] = b"one\ntwo\r\nthree\0four";
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(term) = read_request(&mut input, &mut buf).await.unwrap() {
            got.push((String::from_utf8(std::mem::take(&mut buf)).unwrap(), term));
        }
        assert_eq!(
            got,
            [
                ("one".into(), &b"\n"[..]),
                ("two".into(), &b"\r\n"[..]),
                ("three".into(), &b"\0"[..])
            ]
        );
        assert_eq!(buf, b"four", "an unterminated tail stays buffered");
    }

    #[tokio::test]
    async fn overlong_requests_are_refused() {
        let big = vec![b'x'; MAX_REQUEST + 10];
        let mut input: &[u8] = &big;
        let mut buf = Vec::new();
        assert!(read_request(&mut input, &mut buf).await.is_err());
    }
}
