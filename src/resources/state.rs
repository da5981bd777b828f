//! What the provider's resources share once it is configured: the backend and the
//! provider-level defaults. The provider (`crate::provider`) fills it in at
//! ConfigureProvider; resources only read it.

use std::sync::{Arc, OnceLock};

use crate::backend::http::Interrupt;
use crate::backend::{Backend, BackendKind};
use crate::framework::Diagnostics;

/// What resources share once the provider is configured.
#[derive(Debug, Default)]
pub struct ProviderState {
    backend: OnceLock<Arc<dyn Backend>>,
    provider_org: OnceLock<ProviderDefaults>,
    /// Triggered by StopProvider; every backend client of this provider observes it.
    interrupt: Interrupt,
}

/// Provider-level defaults resources fall back on.
#[derive(Debug, Clone, Default)]
pub struct ProviderDefaults {
    /// Braintrust `org_name` or env0 `organization_id` of the provider block.
    pub org: Option<String>,
}

impl ProviderState {
    /// The configured backend.
    ///
    /// # Errors
    /// A diagnostic when ConfigureProvider has not run (or failed).
    pub fn backend(&self) -> Result<Arc<dyn Backend>, Diagnostics> {
        self.backend.get().cloned().ok_or_else(|| {
            Diagnostics::error(
                "Provider not configured",
                "The keysmith provider has no backend configured; check the provider block.",
            )
        })
    }

    /// The configured backend's kind, if configured.
    pub fn kind(&self) -> Option<BackendKind> {
        self.backend.get().map(|b| b.kind())
    }

    /// Provider-level defaults.
    pub fn defaults(&self) -> ProviderDefaults {
        self.provider_org.get().cloned().unwrap_or_default()
    }

    /// Sets the backend and the defaults, once (ConfigureProvider; a second call changes
    /// nothing, as Terraform configures a provider instance once).
    pub fn configure(&self, backend: Arc<dyn Backend>, defaults: ProviderDefaults) {
        let _ = self.backend.set(backend);
        let _ = self.provider_org.set(defaults);
    }

    /// What StopProvider triggers; every backend client built for this provider observes it.
    pub fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }
}
