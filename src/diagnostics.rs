//! Problems found in files people edit (configuration, routing rules, templates, knowledge
//! base), each with the file and line, so `check-config` can list all of them at once.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or the name of an embedded default).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, in lowercase without a trailing period.
    pub message: String,
}

impl Problem {
    /// A problem at a byte offset of a file's text.
    pub fn at_offset(file: &Path, source: &str, offset: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: Some(line_of(source, offset)),
            message: message.into(),
        }
    }

    /// A problem with a file as a whole.
    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            message: message.into(),
        }
    }

    /// A problem from a TOML parse error, at the line the parser names.
    pub fn from_toml(file: &Path, source: &str, error: &toml::de::Error) -> Self {
        let message = error.message().trim().to_owned();
        match error.span() {
            Some(span) => Self::at_offset(file, source, span.start, message),
            None => Self::in_file(file, message),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found, shown one per line.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a problem.
    pub fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    /// `Ok(value)` when nothing was found, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Problems> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Parses JSON Lines: each non-empty line into a `T`, with its 1-based line number; a line
/// that is not a `T` becomes a problem naming the file and line.
pub fn json_lines<T: serde::de::DeserializeOwned>(
    file: &Path,
    source: &str,
    what: &str,
) -> (Vec<(usize, T)>, Problems) {
    let mut items = Vec::new();
    let mut problems = Problems::default();
    for (i, line) in source.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(line) {
            Ok(item) => items.push((i + 1, item)),
            Err(e) => problems.push(Problem {
                file: file.to_owned(),
                line: Some(i + 1),
                message: format!("not {what}: {e}"),
            }),
        }
    }
    (items, problems)
}

/// The 1-based line that contains a byte offset.
pub fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_file_and_line() {
        let source = "a = 1\nb = \n";
        let err = toml::from_str::<toml::Table>(source).unwrap_err();
        let p = Problem::from_toml(Path::new("x.toml"), source, &err);
        assert_eq!(p.line, Some(2));
        assert!(p.to_string().starts_with("x.toml:2: "), "{p}");
    }
}
