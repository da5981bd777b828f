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

/// A path while walking a value, kept on the stack: it borrows its names and allocates
/// nothing, and becomes an [`AttributePath`] only when an error needs one. Decoding and
/// encoding every value Terraform sends used to build (and drop) an [`AttributePath`] per
/// attribute on the success path (callgrind, issue 10).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trail<'a> {
    /// The whole value.
    Root,
    /// An attribute of the parent.
    Attr(&'a Trail<'a>, &'a str),
    /// A map key of the parent.
    Key(&'a Trail<'a>, &'a str),
    /// An element of the parent, by position.
    Index(&'a Trail<'a>, usize),
}

impl<'a> Trail<'a> {
    /// This trail followed by an attribute step.
    pub(crate) fn attr(&'a self, name: &'a str) -> Trail<'a> {
        Trail::Attr(self, name)
    }

    /// This trail followed by a map key step.
    pub(crate) fn key(&'a self, key: &'a str) -> Trail<'a> {
        Trail::Key(self, key)
    }

    /// This trail followed by an index step.
    pub(crate) fn index(&'a self, index: usize) -> Trail<'a> {
        Trail::Index(self, index)
    }

    /// The [`AttributePath`] this trail stands for.
    pub(crate) fn path(&self) -> AttributePath {
        let mut path = AttributePath::root();
        self.push_onto(&mut path);
        path
    }

    fn push_onto(&self, path: &mut AttributePath) {
        match *self {
            Trail::Root => {}
            Trail::Attr(parent, name) => {
                parent.push_onto(path);
                path.steps.push(PathStep::Attribute(name.to_owned()));
            }
            Trail::Key(parent, key) => {
                parent.push_onto(path);
                path.steps.push(PathStep::Key(key.to_owned()));
            }
            Trail::Index(parent, index) => {
                parent.push_onto(path);
                path.steps
                    .push(PathStep::Index(i64::try_from(index).unwrap_or(i64::MAX)));
            }
        }
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
    fn trails_become_the_same_paths() {
        let root = Trail::Root;
        assert_eq!(root.path(), AttributePath::root());
        let keys = root.attr("keys");
        let first = keys.index(0);
        let tags = first.attr("tags");
        let env = tags.key("env");
        assert_eq!(
            env.path(),
            AttributePath::root()
                .child_attr("keys")
                .child_index(0)
                .child_attr("tags")
                .child_key("env")
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
