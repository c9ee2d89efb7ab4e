//! Tenants' secrets: set through the API (write-only), sealed at rest, opened only to hand a value to the step
//! whose definition names it in `secrets:`.
//!
//! Sealing is ChaCha20-Poly1305 under a node key kept in the data directory (`secrets.key`, mode 0600), with the
//! tenant id and secret name as associated data, so a sealed value copied to another row (another tenant) does not
//! open. The database file alone, a backup of it or a stolen copy, does not reveal the values.

use crate::store::{SecretInfo, SecretStore, StoreError};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::Path;
use std::sync::Arc;

/// Largest secret value.
pub const MAX_SECRET_BYTES: usize = 16 << 10;

/// A secrets failure.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored value does not open under this node's key (another key file, or tampering).
    #[error("secret `{0}` cannot be opened with this node's key")]
    Unsealable(String),
    /// The key file could not be read or written.
    #[error("secrets key: {0}")]
    Key(String),
}

/// The secrets of every tenant, sealed in a [`SecretStore`].
#[derive(Clone)]
pub struct Secrets {
    store: Arc<dyn SecretStore>,
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets")
    }
}

impl Secrets {
    /// Secrets in `store` sealed with a 32-byte `key`.
    pub fn new(store: Arc<dyn SecretStore>, key: &[u8; 32]) -> Self {
        Secrets { store, cipher: ChaCha20Poly1305::new(Key::from_slice(key)) }
    }

    /// Secrets sealed with the key in `data/secrets.key`, created at first use.
    pub fn open(store: Arc<dyn SecretStore>, data: &Path) -> Result<Self, SecretsError> {
        let path = data.join("secrets.key");
        let key: [u8; 32] = match std::fs::read(&path) {
            Ok(bytes) => {
                bytes.try_into().map_err(|_| SecretsError::Key(format!("{} is not 32 bytes", path.display())))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| SecretsError::Key(e.to_string()))?;
                std::fs::write(&path, key).map_err(|e| SecretsError::Key(format!("{}: {e}", path.display())))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| SecretsError::Key(e.to_string()))?;
                }
                key
            }
            Err(e) => return Err(SecretsError::Key(format!("{}: {e}", path.display()))),
        };
        Ok(Secrets::new(store, &key))
    }

    fn aad(tenant: &str, name: &str) -> Vec<u8> {
        format!("alur-secret\0{tenant}\0{name}").into_bytes()
    }

    /// Sets a secret; `true` if it is new.
    pub async fn put(&self, tenant: &str, name: &str, value: &str) -> Result<bool, SecretsError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| SecretsError::Key(e.to_string()))?;
        let aad = Self::aad(tenant, name);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: &aad })
            .map_err(|_| SecretsError::Key("sealing failed".into()))?;
        let mut row = nonce.to_vec();
        row.extend_from_slice(&sealed);
        Ok(self.store.put_secret(tenant, name, &row).await?)
    }

    /// A secret's value, if set.
    pub async fn get(&self, tenant: &str, name: &str) -> Result<Option<String>, SecretsError> {
        let Some(row) = self.store.secret(tenant, name).await? else { return Ok(None) };
        let unsealable = || SecretsError::Unsealable(name.to_string());
        if row.len() < 12 {
            return Err(unsealable());
        }
        let (nonce, sealed) = row.split_at(12);
        let aad = Self::aad(tenant, name);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: &aad })
            .map_err(|_| unsealable())?;
        String::from_utf8(plain).map(Some).map_err(|_| unsealable())
    }

    /// The tenant's secret names.
    pub async fn list(&self, tenant: &str) -> Result<Vec<SecretInfo>, SecretsError> {
        Ok(self.store.list_secrets(tenant).await?)
    }

    /// Deletes a secret; `false` if there was none.
    pub async fn delete(&self, tenant: &str, name: &str) -> Result<bool, SecretsError> {
        Ok(self.store.delete_secret(tenant, name).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn values_are_sealed_at_rest_and_bound_to_their_row() {
        let store = Arc::new(MemoryStore::new());
        let secrets = Secrets::new(store.clone(), &[7; 32]);
        assert!(secrets.put("t1", "api", "hunter2-token").await.unwrap());
        assert!(!secrets.put("t1", "api", "hunter3-token").await.unwrap(), "a second put replaces");
        assert_eq!(secrets.get("t1", "api").await.unwrap().as_deref(), Some("hunter3-token"));
        let row = store.secret("t1", "api").await.unwrap().unwrap();
        assert!(!row.windows(7).any(|w| w == b"hunter3"), "the store never sees the value");
        // The same sealed bytes under another tenant's row do not open.
        store.put_secret("t2", "api", &row).await.unwrap();
        assert!(matches!(secrets.get("t2", "api").await, Err(SecretsError::Unsealable(_))));
        // Nor under another key.
        let other = Secrets::new(store.clone(), &[8; 32]);
        assert!(other.get("t1", "api").await.is_err());
        assert_eq!(secrets.list("t1").await.unwrap().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["api"]);
        assert!(secrets.delete("t1", "api").await.unwrap());
        assert_eq!(secrets.get("t1", "api").await.unwrap(), None);
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MemoryStore::new());
        Secrets::open(store.clone(), dir.path()).unwrap();
        let key = std::fs::read(dir.path().join("secrets.key")).unwrap();
        Secrets::open(store, dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("secrets.key")).unwrap(), key);
    }
}
