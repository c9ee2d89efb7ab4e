//! Authentication: `Authorization: Bearer <key>`. The admin key manages tenants; a tenant key scopes every
//! other request to its tenant. Keys are stored as sha256 hashes; the admin key is compared in constant time.

use super::AppState;
use super::error::ApiError;
use crate::store::Tenant;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use lru::LruCache;
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// Most keys [`KeyCache`] remembers.
const KEY_CACHE_CAPACITY: usize = 16_384;

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

/// Tenants by the hash of their key, so that authenticating a request (every request does) is a map lookup
/// instead of a database query. Only keys that were found are kept, so unknown keys cannot evict known ones
/// faster than they could before; a rotation forgets the tenant's entries at once. A node owns its database,
/// so nothing else can change a key behind its back.
pub struct KeyCache {
    // A std mutex: lookups and inserts only, never held across an await.
    inner: Mutex<Keys>,
}

struct Keys {
    entries: LruCache<String, Tenant>,
    /// Bumped by every rotation: a lookup that read the store before a rotation must not cache what it read.
    generation: u64,
}

impl Default for KeyCache {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(KEY_CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        KeyCache { inner: Mutex::new(Keys { entries: LruCache::new(capacity), generation: 0 }) }
    }
}

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tenant of a key hash if remembered; else the generation to hand to [`KeyCache::put`] after reading
    /// the store.
    pub fn get(&self, key_hash: &str) -> Result<Tenant, u64> {
        let mut keys = self.lock();
        let generation = keys.generation;
        keys.entries.get(key_hash).cloned().ok_or(generation)
    }

    /// Remembers the tenant of a key hash read from the store, unless a rotation happened since `generation`.
    pub fn put(&self, key_hash: String, tenant: Tenant, generation: u64) {
        let mut keys = self.lock();
        if keys.generation == generation {
            keys.entries.put(key_hash, tenant);
        }
    }

    /// Forgets every key of `tenant` (its key is being replaced).
    pub fn forget_tenant(&self, tenant: &str) {
        let mut keys = self.lock();
        keys.generation += 1;
        let stale: Vec<String> = keys.entries.iter().filter(|(_, t)| t.id == tenant).map(|(k, _)| k.clone()).collect();
        for key in stale {
            keys.entries.pop(&key);
        }
    }
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
        let hash = hash_key(bearer(parts)?);
        let generation = match state.keys.get(&hash) {
            Ok(t) => return Ok(TenantAuth(t)),
            Err(generation) => generation,
        };
        match state.tenants.tenant_by_key(&hash).await? {
            Some(t) => {
                state.keys.put(hash, t.clone(), generation);
                Ok(TenantAuth(t))
            }
            None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown API key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> Tenant {
        Tenant { id: id.into(), name: id.into(), created_at: 0 }
    }

    #[test]
    fn a_rotated_tenant_is_forgotten_and_the_others_kept() {
        let cache = KeyCache::default();
        cache.put("h1".into(), tenant("a"), 0);
        cache.put("h2".into(), tenant("a"), 0);
        cache.put("h3".into(), tenant("b"), 0);
        cache.forget_tenant("a");
        assert!(cache.get("h1").is_err() && cache.get("h2").is_err());
        assert_eq!(cache.get("h3").map(|t| t.id), Ok("b".to_string()));
    }

    #[test]
    fn a_lookup_that_raced_a_rotation_is_not_cached() {
        let cache = KeyCache::default();
        let Err(generation) = cache.get("old") else { panic!("empty cache") };
        // The store said "old" belongs to `a`; meanwhile `a` rotated its key.
        cache.forget_tenant("a");
        cache.put("old".into(), tenant("a"), generation);
        assert!(cache.get("old").is_err());
    }
}
