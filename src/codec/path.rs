//! Attribute paths, for diagnostics and `requires_replace`.

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// An attribute of an object, or a nested block.
    Attribute(String),
    /// A map key.
    Key(String),
    /// A list index.
    Index(i64),
}

/// A path from the root of a resource's value to one attribute or element.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AttributePath {
    /// The steps, from the root.
    pub steps: Vec<PathStep>,
}

impl AttributePath {
    /// The empty path: the whole value.
    pub fn root() -> Self {
        Self::default()
    }

    /// A one-step path to a top-level attribute.
    pub fn attr(name: &str) -> Self {
        Self::root().then_attr(name)
    }

    /// This path followed by an attribute (or nested block) step.
    pub fn then_attr(mut self, name: &str) -> Self {
        self.steps.push(PathStep::Attribute(name.to_owned()));
        self
    }

    /// This path followed by a map key step.
    pub fn then_key(mut self, key: &str) -> Self {
        self.steps.push(PathStep::Key(key.to_owned()));
        self
    }

    /// This path followed by an index step (lists and tuples; set elements by position).
    pub fn then_index(mut self, index: i64) -> Self {
        self.steps.push(PathStep::Index(index));
        self
    }

    /// Whether this is the empty path.
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// A copy of this path with one more attribute step (for use while walking a value).
    pub(crate) fn child_attr(&self, name: &str) -> Self {
        self.clone().then_attr(name)
    }

    /// A copy of this path with one more key step.
    pub(crate) fn child_key(&self, key: &str) -> Self {
        self.clone().then_key(key)
    }

    /// A copy of this path with one more index step.
    pub(crate) fn child_index(&self, index: usize) -> Self {
        self.clone()
            .then_index(i64::try_from(index).unwrap_or(i64::MAX))
    }
}

/// HCL style: `roles`, `tags["env"]`, `keys[0].name`, and `(root)` for the empty path.
impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("(root)");
        }
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if i == 0 => f.write_str(name)?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{key:?}]")?,
                PathStep::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_hcl_style() {
        assert_eq!(AttributePath::root().to_string(), "(root)");
        assert_eq!(AttributePath::attr("roles").to_string(), "roles");
        assert_eq!(
            AttributePath::attr("tags").then_key("env").to_string(),
            r#"tags["env"]"#
        );
        assert_eq!(
            AttributePath::attr("keys")
                .then_index(0)
                .then_attr("name")
                .to_string(),
            "keys[0].name"
        );
        assert_eq!(
            AttributePath::attr("a")
                .then_attr("b")
                .then_attr("c")
                .to_string(),
            "a.b.c"
        );
    }

    #[test]
    fn display_escapes_keys() {
        let path = AttributePath::attr("m").then_key("a\"b\\c\n");
        assert_eq!(path.to_string(), r#"m["a\"b\\c\n"]"#);
    }

    #[test]
    fn paths_that_start_with_a_key_or_index() {
        assert_eq!(AttributePath::root().then_key("k").to_string(), r#"["k"]"#);
        assert_eq!(
            AttributePath::root()
                .then_index(2)
                .then_attr("x")
                .to_string(),
            "[2].x"
        );
    }

    #[test]
    fn builders_record_steps() {
        let path = AttributePath::attr("a").then_key("k").then_index(3);
        assert_eq!(
            path.steps,
            vec![
                PathStep::Attribute("a".into()),
                PathStep::Key("k".into()),
                PathStep::Index(3)
            ]
        );
        assert!(!path.is_root());
        assert!(AttributePath::root().is_root());
        assert_eq!(
            AttributePath::root().child_index(7).steps,
            vec![PathStep::Index(7)]
        );
        assert_eq!(path.child_attr("z").steps.len(), 4);
        assert_eq!(path.child_key("z").steps.len(), 4);
    }
}
