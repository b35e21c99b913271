//! Problems found in a config file, located by line and column.

use std::fmt;
use std::ops::Range;

/// One problem in a config file: where it is, what is wrong, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// Byte range in the source that the problem points at.
    pub span: Range<usize>,
    /// 1-based line and column (in characters) of the start of `span`.
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// A suggestion, e.g. "did you mean `restart`?".
    pub help: Option<String>,
    /// The text of the line at `line`, for rendering.
    pub source_line: String,
}

impl Diagnostic {
    /// Locates `span` in `source` and builds the diagnostic.
    pub fn new(
        file: &str,
        source: &str,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let start = floor_char_boundary(source, span.start.min(source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        Diagnostic {
            file: file.to_string(),
            span,
            line,
            column,
            message: message.into(),
            help,
            source_line: source[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Renders as `file:line:column: error: message`, then the line with a caret under the
/// problem, then the help. The first line is the form editors and CI annotate.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, "error")
    }
}

impl Diagnostic {
    /// The same rendering as a warning: for problems that do not stop what is being done.
    pub fn as_warning(&self) -> String {
        struct Warning<'a>(&'a Diagnostic);
        impl fmt::Display for Warning<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.render(f, "warning")
            }
        }
        Warning(self).to_string()
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, severity: &str) -> fmt::Result {
        writeln!(
            f,
            "{}:{}:{}: {severity}: {}",
            self.file, self.line, self.column, self.message
        )?;
        let gutter = self.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        let width = self.span.len().max(1);
        let prefix: String = self
            .source_line
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let rest = self
            .source_line
            .chars()
            .count()
            .saturating_sub(self.column - 1);
        let carets = "^".repeat(width.min(rest.max(1)));
        write!(f, "{:gutter$} | {prefix}{carets}", "")?;
        if let Some(help) = &self.help {
            write!(f, "\n{:gutter$} = help: {help}", "")?;
        }
        Ok(())
    }
}

/// Every problem found in one file, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "\n\n{n} problem{} found", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column() {
        let src = "[service.web]\ncommand = [\"x\"]\nrestrat = \"always\"\n";
        let at = src.find("restrat").unwrap();
        let d = Diagnostic::new(
            "s.toml",
            src,
            at..at + 7,
            "unknown key `restrat`",
            Some("did you mean `restart`?".into()),
        );
        assert_eq!((d.line, d.column), (3, 1));
        let text = d.to_string();
        assert!(
            text.starts_with("s.toml:3:1: error: unknown key `restrat`"),
            "{text}"
        );
        assert!(text.contains("3 | restrat = \"always\""));
        assert!(text.contains("^^^^^^^"));
        assert!(text.contains("help: did you mean `restart`?"));
    }
}
