//! The provider framework: the traits a Terraform provider implements, in terms of
//! [`crate::codec`] values, with request and response structs instead of positional
//! arguments.
//!
//! One result style: a call answers its response struct, which carries what it found and
//! its `diagnostics` (warnings and errors together, as Terraform takes them); a call with
//! nothing else to answer (validation, configure, close) answers [`Diagnostics`].
//!
//! The plugin server ([`crate::plugin`]) turns gRPC calls into these requests; the provider
//! ([`crate::provider`]) and its resources implement the traits. Nothing here knows about
//! gRPC or about any SaaS backend.

mod diagnostics;
mod duration;
pub mod model;

use std::sync::Arc;

use crate::codec::{Schema, Type, Value};

pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use duration::{parse_duration, parse_duration_within, MAX_DURATION};

/// One attribute of a resource identity (Terraform ≥ 1.12).
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityAttribute {
    /// The attribute name.
    pub name: String,
    /// Its type (string, number or bool; lists of those).
    pub ty: Type,
    /// Must be given in an `import { identity = {…} }` block.
    pub required_for_import: bool,
    /// May be given in an `import { identity = {…} }` block.
    pub optional_for_import: bool,
    /// Markdown description.
    pub description: String,
}

/// The identity schema of a managed resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySchema {
    /// Identity schema version.
    pub version: i64,
    /// The identity's attributes.
    pub attributes: Vec<IdentityAttribute>,
}

impl IdentitySchema {
    /// The object type of identity values.
    pub fn implied_type(&self) -> Type {
        Type::Object(
            self.attributes
                .iter()
                .map(|a| (a.name.clone(), a.ty.clone()))
                .collect(),
        )
    }
}

/// ConfigureProvider.
#[derive(Debug, Clone)]
pub struct ConfigureRequest {
    /// The provider block, with unknowns where Terraform does not know values yet.
    pub config: Value,
    /// The Terraform CLI version.
    pub terraform_version: String,
}

/// ReadResource: refresh one object from the backend.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// The object as stored in state.
    pub state: Value,
    /// Opaque private data stored with it.
    pub private: Vec<u8>,
    /// Its stored identity, if any.
    pub identity: Option<Value>,
}

/// The result of a [`ReadRequest`].
#[derive(Debug, Clone, Default)]
pub struct ReadResponse {
    /// The refreshed object; [`Value::Null`] when it no longer exists.
    pub state: Value,
    /// Private data to store.
    pub private: Vec<u8>,
    /// The object's identity.
    pub identity: Option<Value>,
    /// Problems.
    pub diagnostics: Diagnostics,
}

/// PlanResourceChange.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// The current object (null on create).
    pub prior: Value,
    /// Terraform's proposal: config, with prior values for computed attributes left null
    /// in config (null on destroy).
    pub proposed: Value,
    /// The configuration (null on destroy).
    pub config: Value,
    /// Private data of the prior object.
    pub prior_private: Vec<u8>,
    /// Identity of the prior object.
    pub prior_identity: Option<Value>,
}

/// The result of a [`PlanRequest`].
#[derive(Debug, Clone, Default)]
pub struct PlanResponse {
    /// The planned object.
    pub planned: Value,
    /// Attributes whose change forces replacement.
    pub requires_replace: Vec<crate::codec::AttributePath>,
    /// Private data to carry to apply.
    pub planned_private: Vec<u8>,
    /// Planned identity.
    pub planned_identity: Option<Value>,
    /// Problems.
    pub diagnostics: Diagnostics,
}

/// ApplyResourceChange.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// The current object (null on create).
    pub prior: Value,
    /// The planned object (null on destroy).
    pub planned: Value,
    /// The configuration (null on destroy).
    pub config: Value,
    /// Private data from the plan.
    pub planned_private: Vec<u8>,
    /// Identity from the plan.
    pub planned_identity: Option<Value>,
}

/// The result of an [`ApplyRequest`].
#[derive(Debug, Clone, Default)]
pub struct ApplyResponse {
    /// The new object (null after destroy).
    pub state: Value,
    /// Private data to store.
    pub private: Vec<u8>,
    /// The object's identity.
    pub identity: Option<Value>,
    /// Problems.
    pub diagnostics: Diagnostics,
}

/// ImportResourceState: `terraform import`, or an `import {}` block.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The import ID (empty when importing by identity).
    pub id: String,
    /// The identity given by an `import { identity = {…} }` block.
    pub identity: Option<Value>,
}

/// The result of an [`ImportRequest`]: one object (Terraform reads it right after).
#[derive(Debug, Clone, Default)]
pub struct ImportResponse {
    /// The imported object (may be partial: Terraform calls ReadResource next).
    pub state: Value,
    /// Private data for the ReadResource that follows.
    pub private: Vec<u8>,
    /// Its identity.
    pub identity: Option<Value>,
    /// Problems.
    pub diagnostics: Diagnostics,
}

impl ImportResponse {
    /// An import that failed for `diagnostics`.
    pub fn failed(diagnostics: Diagnostics) -> Self {
        ImportResponse {
            diagnostics,
            ..Default::default()
        }
    }
}

/// UpgradeResourceState: a stored state written with an earlier schema version.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    /// The schema version the state was written with.
    pub version: i64,
    /// The state as Terraform stored it (JSON).
    pub state: serde_json::Value,
}

/// The result of an [`UpgradeRequest`].
#[derive(Debug, Clone, Default)]
pub struct UpgradeResponse {
    /// The state in the current schema's shape (JSON; ignored when `diagnostics` has
    /// errors).
    pub state: serde_json::Value,
    /// Problems, such as why the stored state cannot be upgraded.
    pub diagnostics: Diagnostics,
}

/// A managed resource type.
#[async_trait::async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The full type name, e.g. `keysmith_api_key`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// The identity schema, if the resource has one.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }

    /// Checks of the configuration that need no backend (ValidateResourceConfig).
    fn validate(&self, config: &Value) -> Diagnostics {
        let _ = config;
        Diagnostics::default()
    }

    /// UpgradeResourceState from an earlier schema version: rewrites the stored state (the
    /// JSON Terraform kept) into the current schema's shape. The default keeps it as it is.
    fn upgrade_state(&self, req: UpgradeRequest) -> UpgradeResponse {
        UpgradeResponse {
            state: req.state,
            ..Default::default()
        }
    }

    /// Refreshes an object.
    async fn read(&self, req: ReadRequest) -> ReadResponse;

    /// Plans a create, update, replace or destroy.
    async fn plan(&self, req: PlanRequest) -> PlanResponse;

    /// Carries out a plan.
    async fn apply(&self, req: ApplyRequest) -> ApplyResponse;

    /// Imports an existing object.
    async fn import(&self, req: ImportRequest) -> ImportResponse {
        let _ = req;
        ImportResponse {
            diagnostics: Diagnostics::error(
                "Import not supported",
                format!("{} cannot be imported.", self.type_name()),
            ),
            ..Default::default()
        }
    }
}

/// A data source type.
#[async_trait::async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// The full type name, e.g. `keysmith_org`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Checks of the configuration that need no backend.
    fn validate(&self, config: &Value) -> Diagnostics {
        let _ = config;
        Diagnostics::default()
    }

    /// Reads the data; the result must be wholly known.
    async fn read(&self, req: DataReadRequest) -> DataReadResponse;
}

/// ReadDataSource.
#[derive(Debug, Clone)]
pub struct DataReadRequest {
    /// The configuration.
    pub config: Value,
}

/// The result of a [`DataReadRequest`].
#[derive(Debug, Clone, Default)]
pub struct DataReadResponse {
    /// The data read (ignored when `diagnostics` has errors).
    pub state: Value,
    /// Problems.
    pub diagnostics: Diagnostics,
}

impl From<Result<Value, Diagnostics>> for DataReadResponse {
    /// The data read, or the errors that stopped the read.
    fn from(result: Result<Value, Diagnostics>) -> Self {
        match result {
            Ok(state) => DataReadResponse {
                state,
                ..Default::default()
            },
            Err(diagnostics) => DataReadResponse {
                diagnostics,
                ..Default::default()
            },
        }
    }
}

/// ListResource (`terraform query`): find existing objects of a managed resource type.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// The `config {}` block of the `list` block.
    pub config: Value,
    /// Whether Terraform wants each object's full state too.
    pub include_resource: bool,
    /// The most results Terraform will read.
    pub limit: i64,
}

/// One object found by a [`ListResource`].
#[derive(Debug, Clone)]
pub struct ListedResource {
    /// Its identity (in the managed resource type's identity schema).
    pub identity: Value,
    /// A human-readable name.
    pub display_name: String,
    /// Its state in the managed resource's schema, when asked for.
    pub state: Option<Value>,
}

/// A list resource type: the same type name as a managed resource with an identity.
#[async_trait::async_trait]
pub trait ListResource: Send + Sync + 'static {
    /// The managed resource type it lists, e.g. `keysmith_api_key`.
    fn type_name(&self) -> &'static str;

    /// The schema of the `config {}` block.
    fn schema(&self) -> Schema;

    /// Checks of the configuration that need no backend.
    fn validate(&self, config: &Value) -> Diagnostics {
        let _ = config;
        Diagnostics::default()
    }

    /// Finds the objects.
    async fn list(&self, req: ListRequest) -> ListResponse;
}

/// The result of a [`ListRequest`].
#[derive(Debug, Clone, Default)]
pub struct ListResponse {
    /// The objects found (ignored when `diagnostics` has errors).
    pub resources: Vec<ListedResource>,
    /// Problems.
    pub diagnostics: Diagnostics,
}

impl From<Result<Vec<ListedResource>, Diagnostics>> for ListResponse {
    /// The objects found, or the errors that stopped the listing.
    fn from(result: Result<Vec<ListedResource>, Diagnostics>) -> Self {
        match result {
            Ok(resources) => ListResponse {
                resources,
                ..Default::default()
            },
            Err(diagnostics) => ListResponse {
                diagnostics,
                ..Default::default()
            },
        }
    }
}

/// OpenEphemeralResource: make the object for this run.
#[derive(Debug, Clone)]
pub struct OpenRequest {
    /// The configuration (wholly known: Terraform opens nothing it cannot evaluate).
    pub config: Value,
}

/// The result of an [`OpenRequest`].
#[derive(Debug, Clone, Default)]
pub struct OpenResponse {
    /// The object's values, never stored by Terraform (null when opening failed).
    pub result: Value,
    /// Opaque data Terraform hands back to [`EphemeralResource::renew`] and
    /// [`EphemeralResource::close`] (kept in memory only, never in a plan or state).
    pub private: Vec<u8>,
    /// When Terraform should call [`EphemeralResource::renew`]; `None` = never.
    pub renew_at: Option<std::time::SystemTime>,
    /// Problems. With an error Terraform drops the object and never closes it, so an
    /// implementation undoes what it made before answering with one.
    pub diagnostics: Diagnostics,
}

/// RenewEphemeralResource: extend the object's life (only after `renew_at`).
#[derive(Debug, Clone)]
pub struct RenewRequest {
    /// What Open (or the last Renew) returned as private data.
    pub private: Vec<u8>,
}

/// The result of a [`RenewRequest`].
#[derive(Debug, Clone, Default)]
pub struct RenewResponse {
    /// Private data for the next Renew or Close.
    pub private: Vec<u8>,
    /// When to renew again; `None` = never.
    pub renew_at: Option<std::time::SystemTime>,
    /// Problems.
    pub diagnostics: Diagnostics,
}

/// CloseEphemeralResource: Terraform no longer needs the object.
#[derive(Debug, Clone)]
pub struct CloseRequest {
    /// What Open (or the last Renew) returned as private data.
    pub private: Vec<u8>,
}

/// An ephemeral resource type (Terraform ≥ 1.10): an object that exists while one
/// Terraform run needs it, opened and closed by Terraform, never written to a plan or state.
#[async_trait::async_trait]
pub trait EphemeralResource: Send + Sync + 'static {
    /// The full type name, e.g. `keysmith_api_key`.
    fn type_name(&self) -> &'static str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Checks of the configuration that need no backend (ValidateEphemeralResourceConfig;
    /// `terraform validate` calls it on an unconfigured provider).
    fn validate(&self, config: &Value) -> Diagnostics {
        let _ = config;
        Diagnostics::default()
    }

    /// Makes the object.
    async fn open(&self, req: OpenRequest) -> OpenResponse;

    /// Extends the object's life. The default keeps it as it is and asks for no further
    /// renewal.
    async fn renew(&self, req: RenewRequest) -> RenewResponse {
        RenewResponse {
            private: req.private,
            ..Default::default()
        }
    }

    /// Ends the object.
    async fn close(&self, req: CloseRequest) -> Diagnostics;
}

/// A provider: its own configuration, and the resource and data source types it serves.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider block's schema.
    fn schema(&self) -> Schema;

    /// Every managed resource type (asked once, at start).
    fn resources(&self) -> Vec<Arc<dyn Resource>>;

    /// Every data source type (asked once, at start).
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>>;

    /// Every list resource type (asked once, at start).
    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        Vec::new()
    }

    /// Every ephemeral resource type (asked once, at start).
    fn ephemeral_resources(&self) -> Vec<Arc<dyn EphemeralResource>> {
        Vec::new()
    }

    /// Checks of the provider block that need no backend (ValidateProviderConfig).
    fn validate(&self, config: &Value) -> Diagnostics;

    /// Configures the provider: builds its backend clients.
    async fn configure(&self, req: ConfigureRequest) -> Diagnostics;

    /// StopProvider (Ctrl-C): stop starting new work and end waits. Requests in flight are
    /// not cancelled by the server; the provider decides what may end early.
    fn stop(&self) {}
}
