//! Key-value state of plugins, scoped to (tenant, plugin name).
//!
//! A step reads through a [`KvOverlay`]: its own writes first, then the committed state in a [`KvStore`].
//! Writes are only buffered; the caller commits them with the step's completion (the process engine in the
//! same transaction as the journal event), so an attempt that fails, times out or is retried leaves nothing.

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Longest key a step may use.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value a step may store under one key.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most keys one attempt may write.
pub const MAX_WRITES_PER_ATTEMPT: usize = 10_000;

/// Whose state: one tenant's plugin, by name (all versions of a plugin share state).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KvScope {
    /// The tenant's id.
    pub tenant: String,
    /// The plugin's name.
    pub plugin: String,
}

/// The writes of one attempt: `Some(value)` sets, `None` deletes.
pub type KvWrites = BTreeMap<String, Option<Vec<u8>>>;

/// A failure of the state backend.
#[derive(Debug, thiserror::Error)]
#[error("kv store: {0}")]
pub struct KvError(pub String);

/// Committed plugin state.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The committed value of `key` in `scope`.
    async fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Applies an attempt's writes atomically.
    async fn commit(&self, scope: &KvScope, writes: &KvWrites) -> Result<(), KvError>;
}

/// An in-memory [`KvStore`], for `alur step run` and tests.
#[derive(Debug, Default)]
pub struct MemoryKv {
    // A std mutex: every section is a map lookup or insert, never held across an await.
    data: Mutex<HashMap<KvScope, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryKv {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KvScope, BTreeMap<String, Vec<u8>>>> {
        // A panic while holding this lock cannot leave a map half-updated, so the data is still good.
        self.data.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lock().get(scope).and_then(|m| m.get(key).cloned()))
    }

    async fn commit(&self, scope: &KvScope, writes: &KvWrites) -> Result<(), KvError> {
        let mut data = self.lock();
        let map = data.entry(scope.clone()).or_default();
        for (key, value) in writes {
            match value {
                Some(v) => map.insert(key.clone(), v.clone()),
                None => map.remove(key),
            };
        }
        Ok(())
    }
}

/// A bad kv call by a guest: it becomes a trap, as there is no error in the WIT signature to return.
#[derive(Debug, thiserror::Error)]
pub enum KvMisuse {
    /// Key over [`MAX_KEY_BYTES`].
    #[error("kv key of {0} bytes is over the {MAX_KEY_BYTES}-byte limit")]
    KeyTooLong(usize),
    /// Value over [`MAX_VALUE_BYTES`].
    #[error("kv value of {0} bytes is over the {MAX_VALUE_BYTES}-byte limit")]
    ValueTooLarge(usize),
    /// More than [`MAX_WRITES_PER_ATTEMPT`] keys written.
    #[error("more than {MAX_WRITES_PER_ATTEMPT} kv keys written in one attempt")]
    TooManyWrites,
}

/// One attempt's view of its plugin's state: committed values overlaid with the attempt's own writes.
pub struct KvOverlay {
    scope: KvScope,
    store: std::sync::Arc<dyn KvStore>,
    writes: KvWrites,
}

impl KvOverlay {
    /// A view of `scope` in `store` with no writes yet.
    pub fn new(scope: KvScope, store: std::sync::Arc<dyn KvStore>) -> Self {
        KvOverlay { scope, store, writes: KvWrites::new() }
    }

    /// Reads `key`, seeing this attempt's own writes.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self.writes.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => self.store.get(&self.scope, key).await,
        }
    }

    /// Buffers a write (`None` deletes).
    pub fn put(&mut self, key: String, value: Option<Vec<u8>>) -> Result<(), KvMisuse> {
        if key.len() > MAX_KEY_BYTES {
            return Err(KvMisuse::KeyTooLong(key.len()));
        }
        if let Some(v) = &value
            && v.len() > MAX_VALUE_BYTES
        {
            return Err(KvMisuse::ValueTooLarge(v.len()));
        }
        if self.writes.len() >= MAX_WRITES_PER_ATTEMPT && !self.writes.contains_key(&key) {
            return Err(KvMisuse::TooManyWrites);
        }
        self.writes.insert(key, value);
        Ok(())
    }

    /// The buffered writes, for the caller to commit.
    pub fn into_writes(self) -> KvWrites {
        self.writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn scope(t: &str) -> KvScope {
        KvScope { tenant: t.into(), plugin: "p".into() }
    }

    #[tokio::test]
    async fn overlay_reads_its_writes_and_commits_nothing_by_itself() {
        let store = Arc::new(MemoryKv::default());
        store.commit(&scope("a"), &KvWrites::from([("k".to_string(), Some(b"old".to_vec()))])).await.unwrap();
        let mut view = KvOverlay::new(scope("a"), store.clone());
        assert_eq!(view.get("k").await.unwrap(), Some(b"old".to_vec()));
        view.put("k".into(), Some(b"new".to_vec())).unwrap();
        view.put("gone".into(), None).unwrap();
        assert_eq!(view.get("k").await.unwrap(), Some(b"new".to_vec()));
        assert_eq!(store.get(&scope("a"), "k").await.unwrap(), Some(b"old".to_vec()));
        let writes = view.into_writes();
        store.commit(&scope("a"), &writes).await.unwrap();
        assert_eq!(store.get(&scope("a"), "k").await.unwrap(), Some(b"new".to_vec()));
    }

    #[tokio::test]
    async fn tenants_do_not_share_state() {
        let store = Arc::new(MemoryKv::default());
        store.commit(&scope("a"), &KvWrites::from([("k".to_string(), Some(b"a".to_vec()))])).await.unwrap();
        assert_eq!(store.get(&scope("b"), "k").await.unwrap(), None);
    }

    #[test]
    fn oversized_writes_are_refused() {
        let mut view = KvOverlay::new(scope("a"), Arc::new(MemoryKv::default()));
        assert!(matches!(view.put("x".repeat(MAX_KEY_BYTES + 1), None), Err(KvMisuse::KeyTooLong(_))));
        assert!(matches!(view.put("k".into(), Some(vec![0; MAX_VALUE_BYTES + 1])), Err(KvMisuse::ValueTooLarge(_))));
    }
}
