//! Diagnostics: what a provider tells Terraform went wrong, or deserves a warning.

use crate::codec::AttributePath;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The operation failed.
    Error,
    /// The operation went through, but the user should know something.
    Warning,
}

/// One diagnostic: a short summary, a detail, and the attribute at fault where known.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One line saying what failed.
    pub summary: String,
    /// The cause and what to do about it.
    pub detail: String,
    /// The attribute at fault; Terraform then points at its expression in the config.
    pub attribute: Option<AttributePath>,
}

/// A list of diagnostics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Diagnostics holding one error about the whole object.
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut d = Diagnostics::default();
        d.push_error(summary, detail);
        d
    }

    /// Diagnostics holding one error about an attribute.
    pub fn attribute_error(
        path: AttributePath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        let mut d = Diagnostics::default();
        d.push_attribute_error(path, summary, detail);
        d
    }

    /// Adds an error about the whole object.
    pub fn push_error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary.into(), detail.into(), None);
    }

    /// Adds an error about one attribute.
    pub fn push_attribute_error(
        &mut self,
        path: AttributePath,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.push(Severity::Error, summary.into(), detail.into(), Some(path));
    }

    /// Adds a warning.
    pub fn push_warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary.into(), detail.into(), None);
    }

    fn push(
        &mut self,
        severity: Severity,
        summary: String,
        detail: String,
        attribute: Option<AttributePath>,
    ) {
        self.0.push(Diagnostic {
            severity,
            summary,
            detail,
            attribute,
        });
    }

    /// Appends every diagnostic of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Whether there are no diagnostics at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
