//! Errors raised while decoding or encoding values.

use std::fmt::Display;

use super::AttributePath;

/// A value that does not fit its type, or bytes that are not a valid encoding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not valid msgpack or JSON.
    #[error("malformed {format} at {path}: {message}")]
    Malformed {
        /// `msgpack` or `json`.
        format: &'static str,
        /// Where in the value the problem is.
        path: AttributePath,
        /// What is wrong.
        message: String,
    },
    /// The value does not conform to the expected type.
    #[error("at {path}: expected {expected}, found {found}")]
    TypeMismatch {
        /// Where in the value the problem is.
        path: AttributePath,
        /// The expected type, in cty's words (`string`, `list of string`, …).
        expected: String,
        /// What was found instead.
        found: String,
    },
    /// An object carries an attribute its type does not have.
    #[error("at {path}: unsupported attribute {name:?}")]
    UnsupportedAttribute {
        /// The object's path.
        path: AttributePath,
        /// The unexpected attribute.
        name: String,
    },
}

impl CodecError {
    /// A [`CodecError::Malformed`] for the given format.
    pub(crate) fn malformed(
        format: &'static str,
        path: &AttributePath,
        message: impl Into<String>,
    ) -> Self {
        Self::Malformed {
            format,
            path: path.clone(),
            message: message.into(),
        }
    }

    /// A [`CodecError::TypeMismatch`]; `expected` is usually a [`super::Type`].
    pub(crate) fn mismatch(
        path: &AttributePath,
        expected: impl Display,
        found: impl Into<String>,
    ) -> Self {
        Self::TypeMismatch {
            path: path.clone(),
            expected: expected.to_string(),
            found: found.into(),
        }
    }

    /// go-cty's "an object with N attributes is required (M given)", as a mismatch:
    /// "expected an object with N attributes, found an object with M attributes".
    pub(crate) fn attribute_count(path: &AttributePath, required: usize, given: usize) -> Self {
        Self::mismatch(
            path,
            format!("an object with {required} attributes"),
            format!("an object with {given} attributes"),
        )
    }

    /// A [`CodecError::UnsupportedAttribute`].
    pub(crate) fn unsupported(path: &AttributePath, name: &str) -> Self {
        Self::UnsupportedAttribute {
            path: path.clone(),
            name: name.to_owned(),
        }
    }

    /// The path the error points at.
    pub fn path(&self) -> &AttributePath {
        match self {
            Self::Malformed { path, .. }
            | Self::TypeMismatch { path, .. }
            | Self::UnsupportedAttribute { path, .. } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_carry_the_path() {
        let path = AttributePath::attr("tags").then_key("env");
        let err = CodecError::mismatch(&path, "string", "bool");
        assert_eq!(
            err.to_string(),
            r#"at tags["env"]: expected string, found bool"#
        );
        assert_eq!(err.path(), &path);

        let err = CodecError::unsupported(&AttributePath::root(), "extra");
        assert_eq!(
            err.to_string(),
            r#"at (root): unsupported attribute "extra""#
        );

        let err = CodecError::malformed("msgpack", &AttributePath::root(), "truncated input");
        assert_eq!(
            err.to_string(),
            "malformed msgpack at (root): truncated input"
        );
    }

    #[test]
    fn attribute_count_reads_like_go_cty() {
        let err = CodecError::attribute_count(&AttributePath::root(), 3, 2);
        assert_eq!(
            err.to_string(),
            "at (root): expected an object with 3 attributes, found an object with 2 attributes"
        );
    }
}
