//! Authentication: `Authorization: Bearer <key>`. The admin key manages tenants; a tenant key scopes every
//! other request to its tenant. Keys are stored as sha256 hashes; the admin key is compared in constant time.

use super::AppState;
use super::error::ApiError;
use crate::store::Tenant;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The hex sha256 of a key, as stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random API key.
pub fn new_key() -> Result<String, ApiError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
    Ok(format!("alur_{}", hex::encode(bytes)))
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or malformed bearer key");
    let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(unauthorized)?;
    let text = header.to_str().map_err(|_| unauthorized())?;
    text.strip_prefix("Bearer ").map(str::trim).filter(|k| !k.is_empty()).ok_or_else(unauthorized)
}

/// The request carries the admin key.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = bearer(parts)?;
        let given = Sha256::digest(key.as_bytes());
        if bool::from(given.as_slice().ct_eq(&state.admin_key_hash[..])) {
            Ok(Admin)
        } else {
            Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this needs the admin key"))
        }
    }
}

/// The tenant whose key the request carries.
pub struct TenantAuth(pub Tenant);

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = bearer(parts)?;
        match state.tenants.tenant_by_key(&hash_key(key)).await? {
            Some(t) => Ok(TenantAuth(t)),
            None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown API key")),
        }
    }
}
