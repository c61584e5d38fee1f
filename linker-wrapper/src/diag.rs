//! Problems found while rewriting, each with its place, collected and
//! reported together (kpatch style): one run shows every problem.
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub section: Option<String>,
    pub symbol: Option<String>,
    pub offset: Option<u64>,
    pub message: String,
}

impl Problem {
    pub fn new(file: &str, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_string(),
            section: None,
            symbol: None,
            offset: None,
            message: message.into(),
        }
    }
    pub fn section(mut self, s: impl Into<String>) -> Self {
        self.section = Some(s.into());
        self
    }
    pub fn symbol(mut self, s: impl Into<String>) -> Self {
        self.symbol = Some(s.into());
        self
    }
    pub fn offset(mut self, o: u64) -> Self {
        self.offset = Some(o);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(s) = &self.section {
            write!(f, ": section `{s}`")?;
        }
        if let Some(s) = &self.symbol {
            write!(f, ": symbol `{s}`")?;
        }
        if let Some(o) = self.offset {
            write!(f, ": offset {o:#x}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem of one run; displayed one per line with a count.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "rerand-ld: error: {p}")?;
        }
        write!(f, "rerand-ld: {} error(s), nothing linked", self.0.len())
    }
}
