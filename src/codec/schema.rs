//! Schemas: what Terraform validates configuration against and documents.

use super::Type;

/// A resource, data source or provider schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// The state schema version (drives UpgradeResourceState).
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

/// A block: attributes and nested blocks, with a Markdown description.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    /// Attributes, in declaration order.
    pub attributes: Vec<Attribute>,
    /// Nested blocks.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
    /// Whether the whole block is deprecated.
    pub deprecated: bool,
}

/// One attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    /// The attribute name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Markdown description.
    pub description: String,
    /// Must be set in configuration.
    pub required: bool,
    /// May be set in configuration.
    pub optional: bool,
    /// Set by the provider when configuration leaves it null.
    pub computed: bool,
    /// Hidden from CLI output.
    pub sensitive: bool,
    /// Never stored in plan or state.
    pub write_only: bool,
    /// Deprecated.
    pub deprecated: bool,
}

/// How a nested block repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one, null when absent.
    Single,
    /// Exactly one, never null.
    Group,
    /// An ordered list of blocks.
    List,
    /// A set of blocks.
    Set,
    /// Blocks keyed by a label.
    Map,
}

/// A nested block type.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedBlock {
    /// The block type name.
    pub type_name: String,
    /// The block's own schema.
    pub block: Block,
    /// How it repeats.
    pub nesting: Nesting,
    /// Minimum count (0 = no minimum).
    pub min_items: i64,
    /// Maximum count (0 = no maximum).
    pub max_items: i64,
}

impl Schema {
    /// A schema at state version `version`.
    pub fn new(version: i64, block: Block) -> Self {
        Self { version, block }
    }
}

impl Block {
    /// An empty block with a Markdown description.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            ..Self::default()
        }
    }

    /// Adds an attribute.
    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds a nested block type.
    pub fn block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    /// Marks the whole block deprecated.
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// The attribute called `name`, if any.
    pub fn attribute_named(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The nested block type called `type_name`, if any.
    pub fn block_named(&self, type_name: &str) -> Option<&NestedBlock> {
        self.blocks.iter().find(|b| b.type_name == type_name)
    }

    /// The object type of a value of this block: one attribute per attribute and per
    /// nested block type (`Single`/`Group` → object, `List` → list of object, `Set` → set
    /// of object, `Map` → map of object).
    pub fn implied_type(&self) -> Type {
        let attributes = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.ty.clone()));
        let blocks = self.blocks.iter().map(|b| {
            let object = b.block.implied_type();
            let ty = match b.nesting {
                Nesting::Single | Nesting::Group => object,
                Nesting::List => Type::list(object),
                Nesting::Set => Type::set(object),
                Nesting::Map => Type::map(object),
            };
            (b.type_name.clone(), ty)
        });
        Type::Object(attributes.chain(blocks).collect())
    }
}

impl Attribute {
    /// An attribute with no flags set and no description; chain the builders below.
    pub fn new(name: impl Into<String>, ty: Type) -> Self {
        Self {
            name: name.into(),
            ty,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecated: false,
        }
    }

    /// Must be set in configuration.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// May be set in configuration.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Set by the provider when configuration leaves it null.
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    /// Hidden from CLI output.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Never stored in plan or state.
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    /// Deprecated.
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// Sets the Markdown description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
}

impl NestedBlock {
    /// A nested block type with no item limits.
    pub fn new(type_name: impl Into<String>, block: Block, nesting: Nesting) -> Self {
        Self {
            type_name: type_name.into(),
            block,
            nesting,
            min_items: 0,
            max_items: 0,
        }
    }

    /// Sets the minimum count.
    pub fn min_items(mut self, n: i64) -> Self {
        self.min_items = n;
        self
    }

    /// Sets the maximum count.
    pub fn max_items(mut self, n: i64) -> Self {
        self.max_items = n;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_block() -> Block {
        Block::new("A key.")
            .attribute(Attribute::new("id", Type::String).computed())
            .attribute(Attribute::new("scopes", Type::set(Type::String)).optional())
    }

    #[test]
    fn builders_set_fields() {
        let attr = Attribute::new("secret", Type::String)
            .required()
            .optional()
            .computed()
            .sensitive()
            .write_only()
            .deprecated()
            .description("The `secret`.");
        assert!(attr.required && attr.optional && attr.computed && attr.sensitive);
        assert!(attr.write_only && attr.deprecated);
        assert_eq!(attr.description, "The `secret`.");

        let plain = Attribute::new(String::from("x"), Type::Bool);
        assert!(!plain.required && !plain.optional && !plain.computed && !plain.sensitive);
        assert!(!plain.write_only && !plain.deprecated && plain.description.is_empty());

        let nested = NestedBlock::new("key", key_block(), Nesting::List)
            .min_items(1)
            .max_items(3);
        assert_eq!((nested.min_items, nested.max_items), (1, 3));
        assert_eq!(
            NestedBlock::new("k", Block::default(), Nesting::Set).max_items,
            0
        );

        let schema = Schema::new(2, Block::new("Root.").deprecated().block(nested));
        assert_eq!(schema.version, 2);
        assert!(schema.block.deprecated);
        assert_eq!(schema.block.description, "Root.");
        assert!(schema.block.block_named("key").is_some());
        assert!(schema.block.block_named("nope").is_none());
    }

    #[test]
    fn attribute_lookup() {
        let block = key_block();
        assert_eq!(block.attribute_named("id").map(|a| a.computed), Some(true));
        assert!(block.attribute_named("nope").is_none());
    }

    #[test]
    fn implied_type_covers_every_nesting() {
        let key = key_block().implied_type();
        assert_eq!(
            key,
            Type::object([("id", Type::String), ("scopes", Type::set(Type::String))])
        );
        let root = Block::new("")
            .attribute(Attribute::new("name", Type::String).required())
            .block(NestedBlock::new("single", key_block(), Nesting::Single))
            .block(NestedBlock::new("group", key_block(), Nesting::Group))
            .block(NestedBlock::new("list", key_block(), Nesting::List))
            .block(NestedBlock::new("set", key_block(), Nesting::Set))
            .block(NestedBlock::new("map", key_block(), Nesting::Map));
        assert_eq!(
            root.implied_type(),
            Type::object([
                ("name", Type::String),
                ("single", key.clone()),
                ("group", key.clone()),
                ("list", Type::list(key.clone())),
                ("set", Type::set(key.clone())),
                ("map", Type::map(key)),
            ])
        );
        assert_eq!(Block::default().implied_type(), Type::object([]));
    }
}
