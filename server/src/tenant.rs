//! The tenant a request acts as, for the handlers: taken from the [`Principal`] the auth
//! middleware put in the request (the token's tenant, or the one an admin named with
//! `X-Scope-OrgID`). A leaf module.
//!
//! Handlers never read the database directly: `AppState::reader` and `AppState::writer` (in the
//! state module, which imports this one) take a [`Tenant`] and give a
//! [`foresight_engine::TenantView`], which narrows every read and labels every write.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use foresight_auth::{DEFAULT_TENANT, Principal};

use crate::error::PromError;

/// The tenant of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tenant(Option<Arc<str>>);

impl Tenant {
    /// The tenant of `principal`.
    pub(crate) fn of(principal: &Principal) -> Self {
        if principal.is_default_tenant() {
            Tenant(None)
        } else {
            Tenant(Some(principal.tenant.clone()))
        }
    }

    /// `None` for the default tenant (what [`foresight_engine::TenantView`] takes).
    pub(crate) fn label(&self) -> Option<Arc<str>> {
        self.0.clone()
    }

    /// Its name (`default` for the default tenant), for limits and metrics.
    pub(crate) fn name(&self) -> &str {
        self.0.as_deref().unwrap_or(DEFAULT_TENANT)
    }

    /// Whether this is the default tenant.
    pub(crate) fn is_default(&self) -> bool {
        self.0.is_none()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = PromError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The auth middleware is the outermost layer and always sets it; without it, refuse
        // rather than guess a tenant.
        parts
            .extensions
            .get::<Principal>()
            .map(Tenant::of)
            .ok_or_else(|| PromError::internal("the request has no tenant (the auth layer did not run)"))
    }
}
