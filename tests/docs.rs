//! The registry documentation in `docs/` is generated from the schema descriptions, the files in
//! `examples/` and `templates/compatibility.md`; this test fails when it is stale, and when
//! README.md's compatibility table is not that same table.
//!
//! Regenerate with `make docs` (`KEYSMITH_UPDATE_DOCS=1 cargo test --test docs`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use keysmith::codec::{Attribute, Block, NestedBlock, Nesting, Type};
use keysmith::framework::Provider;
use keysmith::provider::{KeysmithProvider, PROVIDER_NAME};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::String => "String".into(),
        Type::Number => "Number".into(),
        Type::Bool => "Boolean".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(t) => format!("List of {}", type_name(t)),
        Type::Set(t) => format!("Set of {}", type_name(t)),
        Type::Map(t) => format!("Map of {}", type_name(t)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

fn attribute_line(a: &Attribute) -> String {
    let mut kind = type_name(&a.ty);
    if a.sensitive {
        kind.push_str(", Sensitive");
    }
    if a.deprecated {
        kind.push_str(", Deprecated");
    }
    format!("- `{}` ({kind}) {}\n", a.name, a.description)
}

fn block_line(b: &NestedBlock) -> String {
    let kind = match b.nesting {
        Nesting::Single | Nesting::Group => "Block",
        Nesting::List => "Block List",
        Nesting::Set => "Block Set",
        Nesting::Map => "Block Map",
    };
    let max = if b.max_items > 0 {
        format!(", Max: {}", b.max_items)
    } else {
        String::new()
    };
    format!(
        "- `{0}` ({kind}{max}) {1} (see [below for nested schema](#nestedblock--{0}))\n",
        b.type_name,
        first_sentence(&b.block.description)
    )
}

fn first_sentence(text: &str) -> &str {
    text.split_inclusive(". ").next().unwrap_or(text).trim()
}

/// The Required / Optional / Read-Only sections of a block, then its nested blocks.
fn schema_sections(block: &Block, out: &mut String, prefix: &str) {
    let required: Vec<_> = block.attributes.iter().filter(|a| a.required).collect();
    let optional: Vec<_> = block.attributes.iter().filter(|a| a.optional).collect();
    let read_only: Vec<_> = block
        .attributes
        .iter()
        .filter(|a| a.computed && !a.optional && !a.required)
        .collect();
    let sections = [
        (
            "Required",
            required
                .iter()
                .map(|a| attribute_line(a))
                .collect::<Vec<_>>(),
        ),
        (
            "Optional",
            optional
                .iter()
                .map(|a| attribute_line(a))
                .chain(block.blocks.iter().map(block_line))
                .collect(),
        ),
        (
            "Read-Only",
            read_only.iter().map(|a| attribute_line(a)).collect(),
        ),
    ];
    for (title, lines) in sections {
        if lines.is_empty() {
            continue;
        }
        let _ = write!(out, "\n### {title}\n\n");
        for line in lines {
            out.push_str(&line);
        }
    }
    for nested in &block.blocks {
        let _ = write!(
            out,
            "\n<a id=\"nestedblock--{prefix}{0}\"></a>\n### Nested Schema for `{prefix}{0}`\n\n{1}\n",
            nested.type_name, nested.block.description
        );
        schema_sections(
            &nested.block,
            out,
            &format!("{prefix}{}.", nested.type_name),
        );
    }
}

fn example(path: &Path, lang: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(format!("```{lang}\n{}\n```\n", text.trim_end()))
}

fn front_matter(title: &str, description: &str) -> String {
    let indented: Vec<String> = description.lines().map(|l| format!("  {l}")).collect();
    format!(
        "---\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n{}\n---\n",
        indented.join("\n")
    )
}

fn render_provider(provider: &KeysmithProvider) -> String {
    let schema = provider.schema();
    let mut out = front_matter(
        &format!("{PROVIDER_NAME} Provider"),
        first_sentence(&schema.block.description),
    );
    let _ = write!(
        out,
        "\n# {PROVIDER_NAME} Provider\n\n{}\n",
        schema.block.description
    );
    if let Some(ex) = example(&root().join("examples/provider/provider.tf"), "terraform") {
        let _ = write!(out, "\n## Example Usage\n\n{ex}");
    }
    let _ = write!(
        out,
        "\n## Terraform Compatibility\n\nWhich Terraform version each feature needs:\n\n{}",
        compatibility_table()
    );
    out.push_str(
        "\n<!-- schema generated from the provider's own schema descriptions -->\n## Schema\n",
    );
    schema_sections(&schema.block, &mut out, "");
    out
}

/// `templates/compatibility.md`: which feature needs which Terraform, one table for `docs/index.md`
/// and `README.md` alike.
fn compatibility_table() -> String {
    std::fs::read_to_string(root().join("templates/compatibility.md"))
        .expect("templates/compatibility.md")
}

/// A resource or data source page.
struct Kind {
    /// `Resource` or `Data Source`.
    title: &'static str,
    /// `resources`, `data-sources`, … (under examples/ and docs/).
    dir: &'static str,
    /// `resource.tf` or `data-source.tf`.
    example: &'static str,
}

const RESOURCE: Kind = Kind {
    title: "Resource",
    dir: "resources",
    example: "resource.tf",
};

const DATA_SOURCE: Kind = Kind {
    title: "Data Source",
    dir: "data-sources",
    example: "data-source.tf",
};

const EPHEMERAL_RESOURCE: Kind = Kind {
    title: "Ephemeral Resource",
    dir: "ephemeral-resources",
    example: "ephemeral-resource.tf",
};

const LIST_RESOURCE: Kind = Kind {
    title: "List Resource",
    dir: "list-resources",
    example: "list-resource.tfquery.hcl",
};

/// Further examples a page shows after its main one, where its examples directory has them:
/// file name → heading.
const MORE_EXAMPLES: &[(&str, &str)] =
    &[("braintrust-service-token.tf", "Braintrust: a service token")];

fn render_page(kind: &Kind, type_name: &str, block: &Block) -> String {
    let dir = root().join("examples").join(kind.dir).join(type_name);
    let title = kind.title;
    let mut out = front_matter(
        &format!("{type_name} {title} - {PROVIDER_NAME}"),
        first_sentence(&block.description),
    );
    let _ = write!(out, "\n# {type_name} ({title})\n\n{}\n", block.description);
    if let Some(ex) = example(&dir.join(kind.example), "terraform") {
        let _ = write!(out, "\n## Example Usage\n\n{ex}");
    }
    for (file, heading) in MORE_EXAMPLES {
        if let Some(ex) = example(&dir.join(file), "terraform") {
            let _ = write!(out, "\n### {heading}\n\n{ex}");
        }
    }
    out.push_str(
        "\n<!-- schema generated from the provider's own schema descriptions -->\n## Schema\n",
    );
    schema_sections(block, &mut out, "");
    let import_sh = example(&dir.join("import.sh"), "shell");
    let import_tf = example(&dir.join("import-by-string-id.tf"), "terraform");
    if import_sh.is_some() || import_tf.is_some() {
        out.push_str("\n## Import\n\nImport is supported using the following syntax:\n");
        if let Some(tf) = import_tf {
            let _ = write!(
                out,
                "\nIn Terraform v1.5.0 and later, use an `import` block:\n\n{tf}"
            );
        }
        if let Some(sh) = import_sh {
            let _ = write!(out, "\nThe `terraform import` command:\n\n{sh}");
        }
    }
    out
}

/// Every generated page: path under `docs/` → content.
fn pages() -> Vec<(PathBuf, String)> {
    let provider = KeysmithProvider::new();
    let mut pages = vec![(PathBuf::from("index.md"), render_provider(&provider))];
    let resources = provider
        .resources()
        .into_iter()
        .map(|r| (&RESOURCE, r.type_name(), r.schema()));
    let data_sources = provider
        .data_sources()
        .into_iter()
        .map(|d| (&DATA_SOURCE, d.type_name(), d.schema()));
    let lists = provider
        .list_resources()
        .into_iter()
        .map(|l| (&LIST_RESOURCE, l.type_name(), l.schema()));
    let ephemerals = provider
        .ephemeral_resources()
        .into_iter()
        .map(|e| (&EPHEMERAL_RESOURCE, e.type_name(), e.schema()));
    for (kind, type_name, schema) in resources.chain(data_sources).chain(ephemerals).chain(lists) {
        let short = type_name.trim_start_matches(&format!("{PROVIDER_NAME}_"));
        pages.push((
            PathBuf::from(kind.dir).join(format!("{short}.md")),
            render_page(kind, type_name, &schema.block),
        ));
    }
    pages
}

#[test]
fn docs_are_up_to_date() {
    let update = std::env::var_os("KEYSMITH_UPDATE_DOCS").is_some();
    let docs = root().join("docs");
    let mut stale = Vec::new();
    for (path, content) in pages() {
        let file = docs.join(&path);
        let current = std::fs::read_to_string(&file).unwrap_or_default();
        if current != content {
            if update {
                std::fs::create_dir_all(file.parent().expect("docs path has a parent"))
                    .expect("create docs dir");
                std::fs::write(&file, content).expect("write docs page");
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/ is stale for {stale:?}: run `make docs` and commit the result"
    );
}

#[test]
fn readme_has_the_compatibility_table() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(
        readme.contains(&compatibility_table()),
        "README.md must hold templates/compatibility.md verbatim (the table docs/index.md gets)"
    );
}

#[test]
fn changelog_has_the_current_version_and_an_unreleased_section() {
    let changelog = std::fs::read_to_string(root().join("CHANGELOG.md")).expect("CHANGELOG.md");
    let version = env!("CARGO_PKG_VERSION");
    let headings: Vec<&str> = changelog.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings.first(),
        Some(&"## [Unreleased]"),
        "CHANGELOG.md starts with an Unreleased section"
    );
    assert!(
        headings
            .iter()
            .any(|h| h.starts_with(&format!("## [{version}] - "))),
        "CHANGELOG.md has no `## [{version}] - YYYY-MM-DD` section for Cargo.toml's version: {headings:?}"
    );
}
