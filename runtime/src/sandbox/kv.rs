//! Key-value state of plugins, scoped to (tenant, plugin name).
//!
//! A step reads through a [`KvOverlay`]: its own writes first, then the committed state in a [`KvStore`].
//! Writes are only buffered; the caller commits them with the step's completion (the process engine in the
//! same transaction as the journal event), so an attempt that fails, times out or is retried leaves nothing.
//!
//! # Concurrent attempts
//! Two attempts of the same scope that read, compute and write (a stock ledger, an id counter) would each
//! commit over the other's update. So an attempt takes its scope's lock at its first kv call and holds it, as a
//! [`KvLease`], until its writes are committed: attempts that use the same state run their read-modify-write one
//! after the other, while attempts that touch no kv never wait. The locks are a fixed set of stripes hashed by
//! scope (bounded memory for any number of tenants; two scopes sharing a stripe only wait for each other). An
//! attempt holds one lease at most, so leases cannot deadlock; one waiting too long runs into its own timeout.

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

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

/// The per-scope locks of one runtime node.
#[derive(Debug)]
pub struct KvLocks {
    stripes: Box<[Arc<tokio::sync::Mutex<()>>]>,
}

impl Default for KvLocks {
    fn default() -> Self {
        KvLocks::new(1024)
    }
}

impl KvLocks {
    /// `stripes` locks (at least one).
    pub fn new(stripes: usize) -> Self {
        KvLocks { stripes: (0..stripes.max(1)).map(|_| Arc::new(tokio::sync::Mutex::new(()))).collect() }
    }

    async fn lease(&self, scope: &KvScope) -> KvLease {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        scope.hash(&mut hasher);
        let stripe = (hasher.finish() % self.stripes.len() as u64) as usize;
        KvLease(self.stripes[stripe].clone().lock_owned().await)
    }
}

/// Exclusive use of a kv scope, from an attempt's first kv call until its writes are committed (drop it then).
#[derive(Debug)]
pub struct KvLease(#[allow(dead_code, reason = "held for its drop, which releases the scope")] OwnedMutexGuard<()>);

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
    store: Arc<dyn KvStore>,
    writes: KvWrites,
    locks: Arc<KvLocks>,
    lease: Option<KvLease>,
}

impl KvOverlay {
    /// A view of `scope` in `store` with no writes yet, leasing the scope from `locks` at its first use.
    pub fn new(scope: KvScope, store: Arc<dyn KvStore>, locks: Arc<KvLocks>) -> Self {
        KvOverlay { scope, store, writes: KvWrites::new(), locks, lease: None }
    }

    async fn lease(&mut self) {
        if self.lease.is_none() {
            self.lease = Some(self.locks.lease(&self.scope).await);
        }
    }

    /// Reads `key`, seeing this attempt's own writes.
    pub async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.lease().await;
        match self.writes.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => self.store.get(&self.scope, key).await,
        }
    }

    /// Buffers a write (`None` deletes).
    pub async fn put(&mut self, key: String, value: Option<Vec<u8>>) -> Result<(), KvMisuse> {
        self.lease().await;
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

    /// The buffered writes, for the caller to commit, and the scope's lease if the attempt used kv: hold it
    /// until the writes are committed.
    pub fn into_writes(self) -> (KvWrites, Option<KvLease>) {
        (self.writes, self.lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &str) -> KvScope {
        KvScope { tenant: t.into(), plugin: "p".into() }
    }

    fn overlay(t: &str, store: Arc<MemoryKv>, locks: &Arc<KvLocks>) -> KvOverlay {
        KvOverlay::new(scope(t), store, locks.clone())
    }

    #[tokio::test]
    async fn overlay_reads_its_writes_and_commits_nothing_by_itself() {
        let store = Arc::new(MemoryKv::default());
        let locks = Arc::new(KvLocks::default());
        store.commit(&scope("a"), &KvWrites::from([("k".to_string(), Some(b"old".to_vec()))])).await.unwrap();
        let mut view = overlay("a", store.clone(), &locks);
        assert_eq!(view.get("k").await.unwrap(), Some(b"old".to_vec()));
        view.put("k".into(), Some(b"new".to_vec())).await.unwrap();
        view.put("gone".into(), None).await.unwrap();
        assert_eq!(view.get("k").await.unwrap(), Some(b"new".to_vec()));
        assert_eq!(store.get(&scope("a"), "k").await.unwrap(), Some(b"old".to_vec()));
        let (writes, lease) = view.into_writes();
        assert!(lease.is_some(), "an attempt that used kv holds its scope");
        store.commit(&scope("a"), &writes).await.unwrap();
        assert_eq!(store.get(&scope("a"), "k").await.unwrap(), Some(b"new".to_vec()));
    }

    #[tokio::test]
    async fn tenants_do_not_share_state() {
        let store = Arc::new(MemoryKv::default());
        store.commit(&scope("a"), &KvWrites::from([("k".to_string(), Some(b"a".to_vec()))])).await.unwrap();
        assert_eq!(store.get(&scope("b"), "k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn oversized_writes_are_refused() {
        let mut view = overlay("a", Arc::new(MemoryKv::default()), &Arc::new(KvLocks::default()));
        assert!(matches!(view.put("x".repeat(MAX_KEY_BYTES + 1), None).await, Err(KvMisuse::KeyTooLong(_))));
        assert!(matches!(
            view.put("k".into(), Some(vec![0; MAX_VALUE_BYTES + 1])).await,
            Err(KvMisuse::ValueTooLarge(_))
        ));
    }

    /// Many attempts incrementing one counter at once: none may overwrite another's update.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_read_modify_writes_of_a_scope_lose_nothing() {
        let store = Arc::new(MemoryKv::default());
        let locks = Arc::new(KvLocks::new(1));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (store, locks) = (store.clone(), locks.clone());
                tokio::spawn(async move {
                    let mut view = overlay("a", store.clone(), &locks);
                    let n = view.get("n").await.unwrap().map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
                    tokio::task::yield_now().await;
                    view.put("n".into(), Some((n + 1).to_le_bytes().to_vec())).await.unwrap();
                    let (writes, _lease) = view.into_writes();
                    store.commit(&scope("a"), &writes).await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let n = store.get(&scope("a"), "n").await.unwrap().unwrap();
        assert_eq!(u64::from_le_bytes(n.try_into().unwrap()), 64);
    }

    #[tokio::test]
    async fn an_attempt_without_kv_takes_no_lease() {
        let locks = Arc::new(KvLocks::new(1));
        let held = locks.lease(&scope("a")).await;
        let view = overlay("a", Arc::new(MemoryKv::default()), &locks);
        let (writes, lease) = view.into_writes();
        assert!(writes.is_empty() && lease.is_none());
        drop(held);
    }
}
