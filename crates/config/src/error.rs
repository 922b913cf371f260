//! Errors of a refused configuration: each one knows the file, the position and what is
//! wrong, and prints as `FILE:LINE:COLUMN: message`.

use std::fmt;

/// A position in the configuration text. Both numbers count from 1; the column counts
/// characters, not bytes, as editors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    /// The start of the file, used when the culprit is something missing from it.
    pub const START: Position = Position { line: 1, column: 1 };
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    origin: String,
    position: Option<Position>,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(
        origin: impl Into<String>,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            origin: origin.into(),
            position,
            message: message.into(),
        }
    }

    /// The file name (or the origin name given to [`crate::Config::from_str`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Where the problem is. `None` only when there is no text to point into (the file
    /// could not be read).
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    /// What is wrong, without the origin and position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}",
                self.origin, p.line, p.column, self.message
            ),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a configuration, in file order. Never empty.
///
/// `Display` prints one error per line, without a trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Sorts by position (errors without one first) and wraps. The caller guarantees
    /// at least one error.
    pub(crate) fn new(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|e| e.position);
        Self { errors }
    }

    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false: a `ConfigErrors` holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
