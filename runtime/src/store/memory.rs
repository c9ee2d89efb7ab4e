//! An in-memory store: every trait of [`crate::store`] plus [`KvStore`], with the same semantics as the SQLite
//! backend and no durability. For tests, and as the benchmark baseline that shows what durability costs.

use super::{
    Commit, Durable, InstanceFilter, InstanceRecord, InstanceStatus, InstanceStore, JournalEntry, PluginStore,
    PluginVersion, ProcessStore, ProcessVersion, Result, SecretInfo, SecretStore, Started, StoreError, Tenant,
    TenantStore, now_millis,
};
use crate::digest::Digest;
use crate::sandbox::kv::{KvError, KvScope, KvStore, KvWrites};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

/// Everything, in plain maps.
#[derive(Debug, Default)]
struct State {
    /// (tenant, name) to its versions, oldest first. Ordered so listings come out by name.
    plugins: BTreeMap<(String, String), Vec<PluginVersion>>,
    /// Content-addressed bytes, shared by tenants.
    blobs: HashMap<Digest, Vec<u8>>,
    /// (tenant, name) to its versions, oldest first.
    processes: BTreeMap<(String, String), Vec<ProcessVersion>>,
    /// By id; ids are UUID v7, so this is creation order.
    instances: BTreeMap<String, InstanceRecord>,
    /// (tenant, process, idempotency key) to the instance it started.
    idempotency: HashMap<(String, String, String), String>,
    /// Instance id to its journal by seq.
    journals: HashMap<String, BTreeMap<u64, JournalEntry>>,
    /// Plugin state.
    kv: HashMap<KvScope, BTreeMap<String, Vec<u8>>>,
    /// Tenants by id, with their quota overrides.
    tenants: HashMap<String, TenantEntry>,
    /// Tenant name to id.
    tenant_names: HashMap<String, String>,
    /// API key hash to the id of the tenant holding it.
    api_keys: HashMap<String, String>,
    /// Instances one of whose commits failed: their later commits fail too.
    failed: HashSet<String>,
    /// Sealed secrets and when they were set, by (tenant, name).
    secrets: BTreeMap<(String, String), (Vec<u8>, i64)>,
}

/// A tenant row.
#[derive(Debug)]
struct TenantEntry {
    tenant: Tenant,
    quota: Option<serde_json::Value>,
}

/// The in-memory backend.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // A std mutex, not a tokio one: every critical section is a few map operations, never held across an
    // await (the trait methods lock, work and unlock without awaiting), so it cannot block the runtime for long
    // and is cheaper than an async mutex.
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation validates first and then only inserts, so a panic while holding the lock (which could
        // only be an allocation failure) leaves no half-applied commit: the data is still good.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    /// Checks that `entries` can be appended: their instances exist (or are `starting`), no seq is taken.
    fn check_entries(&self, entries: &[JournalEntry], starting: Option<&str>) -> Result<()> {
        let mut seen = HashSet::new();
        for e in entries {
            let known = self.instances.contains_key(&e.instance) || starting == Some(e.instance.as_str());
            if !known {
                return Err(StoreError::Database(format!("journal entry for unknown instance {}", e.instance)));
            }
            let taken = self.journals.get(&e.instance).is_some_and(|j| j.contains_key(&e.seq));
            if taken || !seen.insert((e.instance.as_str(), e.seq)) {
                return Err(StoreError::Database(format!("journal entry {} of {} already exists", e.seq, e.instance)));
            }
        }
        Ok(())
    }

    fn append(&mut self, entries: Vec<JournalEntry>) {
        for e in entries {
            self.journals.entry(e.instance.clone()).or_default().insert(e.seq, e);
        }
    }

    fn apply_kv(&mut self, scope: &KvScope, writes: &KvWrites) {
        let map = self.kv.entry(scope.clone()).or_default();
        for (key, value) in writes {
            match value {
                Some(v) => map.insert(key.clone(), v.clone()),
                None => map.remove(key),
            };
        }
    }
}

#[async_trait]
impl PluginStore for MemoryStore {
    async fn put_plugin(
        &self,
        tenant: &str,
        name: &str,
        digest: Digest,
        bytes: &[u8],
    ) -> Result<(PluginVersion, bool)> {
        let mut state = self.lock();
        let versions = state.plugins.entry((tenant.to_string(), name.to_string())).or_default();
        if let Some(existing) = versions.iter().find(|v| v.digest == digest) {
            return Ok((existing.clone(), false));
        }
        let version = PluginVersion {
            name: name.to_string(),
            version: versions.last().map_or(1, |v| v.version + 1),
            digest,
            size: bytes.len() as u64,
            created_at: now_millis(),
        };
        versions.push(version.clone());
        state.blobs.entry(digest).or_insert_with(|| bytes.to_vec());
        Ok((version, true))
    }

    async fn plugin_versions(&self, tenant: &str, name: &str) -> Result<Vec<PluginVersion>> {
        Ok(self.lock().plugins.get(&(tenant.to_string(), name.to_string())).cloned().unwrap_or_default())
    }

    async fn list_plugins(&self, tenant: &str) -> Result<Vec<PluginVersion>> {
        let state = self.lock();
        Ok(state.plugins.iter().filter(|((t, _), _)| t == tenant).filter_map(|(_, v)| v.last().cloned()).collect())
    }

    async fn plugin_bytes(&self, digest: Digest) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().blobs.get(&digest).cloned())
    }

    /// Also drops the bytes of digests that no plugin version of any tenant names any more.
    async fn delete_plugin(&self, tenant: &str, name: &str) -> Result<bool> {
        let mut state = self.lock();
        let Some(removed) = state.plugins.remove(&(tenant.to_string(), name.to_string())) else {
            return Ok(false);
        };
        for gone in removed {
            let still_named = state.plugins.values().flatten().any(|v| v.digest == gone.digest);
            if !still_named {
                state.blobs.remove(&gone.digest);
            }
        }
        Ok(true)
    }
}

#[async_trait]
impl ProcessStore for MemoryStore {
    async fn deploy(
        &self,
        tenant: &str,
        name: &str,
        document: &serde_json::Value,
        plugins: &BTreeMap<String, Digest>,
    ) -> Result<ProcessVersion> {
        let mut state = self.lock();
        let versions = state.processes.entry((tenant.to_string(), name.to_string())).or_default();
        let version = ProcessVersion {
            name: name.to_string(),
            version: versions.last().map_or(1, |v| v.version + 1),
            document: document.clone(),
            plugins: plugins.clone(),
            created_at: now_millis(),
        };
        versions.push(version.clone());
        Ok(version)
    }

    async fn process_version(&self, tenant: &str, name: &str, version: Option<u32>) -> Result<Option<ProcessVersion>> {
        let state = self.lock();
        let Some(versions) = state.processes.get(&(tenant.to_string(), name.to_string())) else {
            return Ok(None);
        };
        Ok(match version {
            None => versions.last().cloned(),
            Some(n) => versions.iter().find(|v| v.version == n).cloned(),
        })
    }

    async fn list_processes(&self, tenant: &str) -> Result<Vec<ProcessVersion>> {
        let state = self.lock();
        Ok(state.processes.iter().filter(|((t, _), _)| t == tenant).filter_map(|(_, v)| v.last().cloned()).collect())
    }

    async fn process_versions(&self, tenant: &str, name: &str) -> Result<Vec<u32>> {
        let state = self.lock();
        Ok(state
            .processes
            .get(&(tenant.to_string(), name.to_string()))
            .map(|versions| versions.iter().map(|v| v.version).collect())
            .unwrap_or_default())
    }

    async fn plugin_in_use(&self, tenant: &str, plugin: &str) -> Result<bool> {
        let state = self.lock();
        Ok(state
            .processes
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .flat_map(|(_, versions)| versions)
            .any(|v| v.plugins.contains_key(plugin)))
    }

    async fn pinned_digests(&self, limit: usize) -> Result<Vec<Digest>> {
        let state = self.lock();
        let mut latest: Vec<&ProcessVersion> = state.processes.values().filter_map(|v| v.last()).collect();
        latest.sort_by_key(|v| std::cmp::Reverse(v.created_at));
        let mut seen = HashSet::new();
        Ok(latest
            .into_iter()
            .flat_map(|v| v.plugins.values().copied())
            .filter(|d| seen.insert(*d))
            .take(limit)
            .collect())
    }
}

impl MemoryStore {
    fn apply_start(&self, record: &InstanceRecord, entries: Vec<JournalEntry>) -> Result<Started> {
        let mut state = self.lock();
        let key = record.idempotency_key.as_ref().map(|k| (record.tenant.clone(), record.process.clone(), k.clone()));
        if let Some(existing) = key.as_ref().and_then(|k| state.idempotency.get(k)) {
            return Ok(Started::Existing(existing.clone()));
        }
        if state.instances.contains_key(&record.id) {
            return Err(StoreError::Database(format!("instance {} already exists", record.id)));
        }
        if let Err(e) = state.check_entries(&entries, Some(&record.id)) {
            state.failed.insert(record.id.clone());
            return Err(e);
        }
        state.instances.insert(record.id.clone(), record.clone());
        if let Some(key) = key {
            state.idempotency.insert(key, record.id.clone());
        }
        state.append(entries);
        Ok(Started::Created)
    }

    /// All or nothing: an entry for an unknown instance or a taken seq, or an update of an unknown instance,
    /// fails the commit before anything is applied; and once a commit of an instance failed, so do its later
    /// ones, as with the SQLite writer.
    fn apply_commit(&self, commit: Commit) -> Result<()> {
        let mut state = self.lock();
        let touched: HashSet<String> = commit
            .entries
            .iter()
            .map(|e| e.instance.clone())
            .chain(commit.updates.iter().map(|u| u.id.clone()))
            .collect();
        if let Some(id) = touched.iter().find(|id| state.failed.contains(*id)) {
            return Err(StoreError::Database(format!("an earlier commit of instance {id} failed")));
        }
        let checked = state.check_entries(&commit.entries, None).and_then(|()| {
            match commit.updates.iter().find(|u| !state.instances.contains_key(&u.id)) {
                Some(missing) => Err(StoreError::Database(format!("update of unknown instance {}", missing.id))),
                None => Ok(()),
            }
        });
        if let Err(e) = checked {
            state.failed.extend(touched);
            return Err(e);
        }
        state.append(commit.entries);
        for u in commit.updates {
            if let Some(record) = state.instances.get_mut(&u.id) {
                record.status = u.status;
                record.output = u.output;
                record.error = u.error;
                record.activity = u.activity;
                record.updated_at = u.updated_at;
            }
        }
        for (scope, writes) in &commit.kv {
            state.apply_kv(scope, writes);
        }
        Ok(())
    }
}

#[async_trait]
impl InstanceStore for MemoryStore {
    async fn queue_start(&self, record: &InstanceRecord, entries: Vec<JournalEntry>) -> Result<Durable<Started>> {
        Ok(Durable::ready(self.apply_start(record, entries)))
    }

    async fn queue_commit(&self, commit: Commit) -> Result<Durable> {
        Ok(Durable::ready(self.apply_commit(commit)))
    }

    async fn instance(&self, tenant: &str, id: &str) -> Result<Option<InstanceRecord>> {
        Ok(self.lock().instances.get(id).filter(|r| r.tenant == tenant).cloned())
    }

    /// A `limit` of 0 means no limit.
    async fn list_instances(&self, tenant: &str, filter: &InstanceFilter) -> Result<Vec<InstanceRecord>> {
        let state = self.lock();
        let limit = if filter.limit == 0 { usize::MAX } else { filter.limit as usize };
        let below = match &filter.before {
            Some(before) => state.instances.range::<str, _>((Bound::Unbounded, Bound::Excluded(before.as_str()))),
            None => state.instances.range::<str, _>(..),
        };
        Ok(below
            .rev()
            .map(|(_, r)| r)
            .filter(|r| r.tenant == tenant)
            .filter(|r| filter.process.as_ref().is_none_or(|p| &r.process == p))
            .filter(|r| filter.status.is_none_or(|s| r.status == s))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn journal(&self, id: &str) -> Result<Vec<JournalEntry>> {
        Ok(self.lock().journals.get(id).map(|j| j.values().cloned().collect()).unwrap_or_default())
    }

    /// Oldest first.
    async fn unfinished(&self) -> Result<Vec<InstanceRecord>> {
        Ok(self.lock().instances.values().filter(|r| r.status == InstanceStatus::Running).cloned().collect())
    }
}

#[async_trait]
impl KvStore for MemoryStore {
    async fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lock().kv.get(scope).and_then(|m| m.get(key).cloned()))
    }

    async fn commit(&self, scope: &KvScope, writes: &KvWrites) -> Result<(), KvError> {
        self.lock().apply_kv(scope, writes);
        Ok(())
    }
}

#[async_trait]
impl TenantStore for MemoryStore {
    /// A taken id or key hash is an error (as the SQLite primary keys make it), and nothing is stored.
    async fn create_tenant(&self, tenant: &Tenant, key_hash: &str) -> Result<Option<Tenant>> {
        let mut state = self.lock();
        if state.tenant_names.contains_key(&tenant.name) {
            return Ok(None);
        }
        if state.tenants.contains_key(&tenant.id) {
            return Err(StoreError::Database(format!("tenant {} already exists", tenant.id)));
        }
        if state.api_keys.contains_key(key_hash) {
            return Err(StoreError::Database("api key hash already exists".into()));
        }
        state.tenants.insert(tenant.id.clone(), TenantEntry { tenant: tenant.clone(), quota: None });
        state.tenant_names.insert(tenant.name.clone(), tenant.id.clone());
        state.api_keys.insert(key_hash.to_string(), tenant.id.clone());
        Ok(Some(tenant.clone()))
    }

    /// Oldest first; ties (same millisecond) by id, which is UUID v7 and so creation order too.
    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let state = self.lock();
        let mut tenants: Vec<Tenant> = state.tenants.values().map(|e| e.tenant.clone()).collect();
        tenants.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tenants)
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        Ok(self.lock().tenants.get(id).map(|e| e.tenant.clone()))
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        let state = self.lock();
        Ok(state.tenant_names.get(name).and_then(|id| state.tenants.get(id)).map(|e| e.tenant.clone()))
    }

    /// A hash that another tenant holds is an error, and nothing changes.
    async fn rotate_key(&self, id: &str, key_hash: &str) -> Result<bool> {
        let mut state = self.lock();
        if !state.tenants.contains_key(id) {
            return Ok(false);
        }
        if state.api_keys.get(key_hash).is_some_and(|owner| owner != id) {
            return Err(StoreError::Database("api key hash already exists".into()));
        }
        state.api_keys.retain(|_, owner| owner != id);
        state.api_keys.insert(key_hash.to_string(), id.to_string());
        Ok(true)
    }

    async fn tenant_by_key(&self, key_hash: &str) -> Result<Option<Tenant>> {
        let state = self.lock();
        Ok(state.api_keys.get(key_hash).and_then(|id| state.tenants.get(id)).map(|e| e.tenant.clone()))
    }

    /// `None` for an unknown tenant too.
    async fn quota(&self, id: &str) -> Result<Option<serde_json::Value>> {
        Ok(self.lock().tenants.get(id).and_then(|e| e.quota.clone()))
    }

    /// `false` (and nothing stored) if there is no such tenant.
    async fn set_quota(&self, id: &str, quota: &serde_json::Value) -> Result<bool> {
        let mut state = self.lock();
        let Some(entry) = state.tenants.get_mut(id) else {
            return Ok(false);
        };
        entry.quota = Some(quota.clone());
        Ok(true)
    }
}

/// Test bodies shared by both backends: each is written once against the traits and run for every backend
/// by [`conformance_tests!`](conformance::conformance_tests).
#[async_trait]
impl SecretStore for MemoryStore {
    async fn put_secret(&self, tenant: &str, name: &str, sealed: &[u8]) -> Result<bool> {
        let old = self.lock().secrets.insert((tenant.into(), name.into()), (sealed.to_vec(), now_millis()));
        Ok(old.is_none())
    }

    async fn secret(&self, tenant: &str, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().secrets.get(&(tenant.into(), name.into())).map(|(v, _)| v.clone()))
    }

    async fn list_secrets(&self, tenant: &str) -> Result<Vec<SecretInfo>> {
        let state = self.lock();
        let mine = state.secrets.iter().filter(|((t, _), _)| t == tenant);
        Ok(mine.map(|((_, name), (_, at))| SecretInfo { name: name.clone(), updated_at: *at }).collect())
    }

    async fn delete_secret(&self, tenant: &str, name: &str) -> Result<bool> {
        Ok(self.lock().secrets.remove(&(tenant.into(), name.into())).is_some())
    }
}

#[cfg(test)]
pub(crate) mod conformance {
    use super::super::*;
    use crate::digest::Digest;
    use crate::sandbox::kv::{KvScope, KvStore, KvWrites};
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// Every trait a backend implements.
    pub(crate) trait AllStores:
        PluginStore + ProcessStore + InstanceStore + KvStore + TenantStore + 'static
    {
    }
    impl<T: PluginStore + ProcessStore + InstanceStore + KvStore + TenantStore + 'static> AllStores for T {}

    /// A UUID-v7-shaped id whose order is the order of `n`.
    pub(crate) fn id(n: u32) -> String {
        format!("0190a1b2-c3d4-7000-8000-{n:012}")
    }

    pub(crate) fn record(tenant: &str, process: &str, n: u32, key: Option<&str>) -> InstanceRecord {
        InstanceRecord {
            id: id(n),
            tenant: tenant.into(),
            process: process.into(),
            version: 1,
            status: InstanceStatus::Running,
            input: json!({"n": n}),
            output: None,
            error: None,
            idempotency_key: key.map(str::to_string),
            parent: None,
            activity: json!({"steps": ["first"]}),
            created_at: 1_000 + i64::from(n),
            updated_at: 1_000 + i64::from(n),
        }
    }

    pub(crate) fn entry(instance: &str, seq: u64) -> JournalEntry {
        JournalEntry { instance: instance.into(), seq, at: 5_000 + seq as i64, event: json!({"type": "e", "seq": seq}) }
    }

    pub(crate) fn tenant(n: u32, name: &str, created_at: Millis) -> Tenant {
        Tenant { id: id(n), name: name.into(), created_at }
    }

    fn scope(tenant: &str) -> KvScope {
        KvScope { tenant: tenant.into(), plugin: "counter".into() }
    }

    fn seqs(journal: &[JournalEntry]) -> Vec<u64> {
        journal.iter().map(|e| e.seq).collect()
    }

    pub(crate) async fn plugin_versioning_and_dedupe(store: Arc<impl AllStores>) {
        let (a, b) = (b"component a".as_slice(), b"component b!".as_slice());
        let (v1, new1) = store.put_plugin("t", "score", Digest::of(a), a).await.unwrap();
        assert!(new1);
        assert_eq!((v1.version, v1.size, v1.digest), (1, a.len() as u64, Digest::of(a)));
        let (v2, new2) = store.put_plugin("t", "score", Digest::of(b), b).await.unwrap();
        assert!(new2);
        assert_eq!(v2.version, 2);
        let (again, new_again) = store.put_plugin("t", "score", Digest::of(a), a).await.unwrap();
        assert!(!new_again, "same digest re-uploaded is the existing version");
        assert_eq!(again, v1);
        assert_eq!(store.plugin_versions("t", "score").await.unwrap(), vec![v1.clone(), v2.clone()]);
        assert_eq!(store.plugin_bytes(Digest::of(a)).await.unwrap().as_deref(), Some(a));
        assert_eq!(store.plugin_bytes(Digest::of(b"nothing")).await.unwrap(), None);
        store.put_plugin("t", "audit", Digest::of(a), a).await.unwrap();
        let listed = store.list_plugins("t").await.unwrap();
        let names: Vec<_> = listed.iter().map(|p| (p.name.as_str(), p.version)).collect();
        assert_eq!(names, vec![("audit", 1), ("score", 2)]);
        assert!(store.plugin_versions("t", "nope").await.unwrap().is_empty());
    }

    pub(crate) async fn plugin_versions_per_tenant(store: Arc<impl AllStores>) {
        let (a, b) = (b"aaa".as_slice(), b"bbb".as_slice());
        store.put_plugin("t1", "p", Digest::of(a), a).await.unwrap();
        store.put_plugin("t1", "p", Digest::of(b), b).await.unwrap();
        let (other, new) = store.put_plugin("t2", "p", Digest::of(b), b).await.unwrap();
        assert!(new, "another tenant's upload of the same bytes is new for this tenant");
        assert_eq!(other.version, 1);
        assert_eq!(store.plugin_versions("t1", "p").await.unwrap().len(), 2);
        assert_eq!(store.plugin_versions("t2", "p").await.unwrap().len(), 1);
        assert!(store.list_plugins("t3").await.unwrap().is_empty());
    }

    pub(crate) async fn plugin_delete(store: Arc<impl AllStores>) {
        let (a, b) = (b"shared".as_slice(), b"own".as_slice());
        store.put_plugin("t1", "p", Digest::of(a), a).await.unwrap();
        store.put_plugin("t1", "p", Digest::of(b), b).await.unwrap();
        store.put_plugin("t2", "q", Digest::of(a), a).await.unwrap();
        assert!(store.delete_plugin("t1", "p").await.unwrap());
        assert!(!store.delete_plugin("t1", "p").await.unwrap());
        assert!(store.plugin_versions("t1", "p").await.unwrap().is_empty());
        assert!(store.list_plugins("t1").await.unwrap().is_empty());
        assert_eq!(store.plugin_bytes(Digest::of(a)).await.unwrap().as_deref(), Some(a), "t2 still names it");
        assert_eq!(store.plugin_bytes(Digest::of(b)).await.unwrap(), None, "nobody names it any more");
        let (again, new) = store.put_plugin("t1", "p", Digest::of(b), b).await.unwrap();
        assert!(new);
        assert_eq!(again.version, 1, "a deleted plugin starts over");
    }

    pub(crate) async fn process_deploy_versions(store: Arc<impl AllStores>) {
        let pins = BTreeMap::from([("score".to_string(), Digest::of(b"x"))]);
        let v1 = store.deploy("t", "order", &json!({"steps": 1}), &pins).await.unwrap();
        let v2 = store.deploy("t", "order", &json!({"steps": 2}), &BTreeMap::new()).await.unwrap();
        store.deploy("t", "billing", &json!({}), &BTreeMap::new()).await.unwrap();
        store.deploy("other", "order", &json!({}), &BTreeMap::new()).await.unwrap();
        assert_eq!((v1.version, v2.version), (1, 2));
        assert_eq!(store.process_version("t", "order", None).await.unwrap(), Some(v2.clone()));
        let first = store.process_version("t", "order", Some(1)).await.unwrap().unwrap();
        assert_eq!(first, v1);
        assert_eq!(first.document, json!({"steps": 1}));
        assert_eq!(first.plugins, pins);
        assert_eq!(store.process_version("t", "order", Some(3)).await.unwrap(), None);
        assert_eq!(store.process_version("t", "nope", None).await.unwrap(), None);
        assert_eq!(store.process_versions("t", "order").await.unwrap(), vec![1, 2]);
        let latest: Vec<_> =
            store.list_processes("t").await.unwrap().into_iter().map(|p| (p.name, p.version)).collect();
        assert_eq!(latest, vec![("billing".to_string(), 1), ("order".to_string(), 2)]);
    }

    pub(crate) async fn plugin_in_use(store: Arc<impl AllStores>) {
        let pins = BTreeMap::from([("score".to_string(), Digest::of(b"x"))]);
        store.deploy("t", "order", &json!({}), &pins).await.unwrap();
        store.deploy("t", "order", &json!({}), &BTreeMap::new()).await.unwrap();
        assert!(store.plugin_in_use("t", "score").await.unwrap(), "an old version still pins it");
        assert!(!store.plugin_in_use("t", "audit").await.unwrap());
        assert!(!store.plugin_in_use("other", "score").await.unwrap());
    }

    pub(crate) async fn pinned_digests(store: Arc<impl AllStores>) {
        let (a, b, c) = (Digest::of(b"a"), Digest::of(b"b"), Digest::of(b"c"));
        store.deploy("t", "order", &json!({}), &BTreeMap::from([("p".to_string(), a)])).await.unwrap();
        // A newer version pins b instead of a; another tenant pins b and c.
        store.deploy("t", "order", &json!({}), &BTreeMap::from([("p".to_string(), b)])).await.unwrap();
        let pins = BTreeMap::from([("p".to_string(), b), ("q".to_string(), c)]);
        store.deploy("u", "order", &json!({}), &pins).await.unwrap();
        let mut pinned = store.pinned_digests(10).await.unwrap();
        pinned.sort();
        let mut expected = vec![b, c];
        expected.sort();
        assert_eq!(pinned, expected, "latest versions only, each digest once");
        assert_eq!(store.pinned_digests(1).await.unwrap().len(), 1);
    }

    pub(crate) async fn start_and_journal_order(store: Arc<impl AllStores>) {
        let r = record("t", "order", 1, None);
        let started = store.start(&r, vec![entry(&r.id, 1), entry(&r.id, 2)]).await.unwrap();
        assert_eq!(started, Started::Created);
        InstanceStore::commit(&*store, Commit { entries: vec![entry(&r.id, 4), entry(&r.id, 3)], ..Commit::default() })
            .await
            .unwrap();
        InstanceStore::commit(&*store, Commit { entries: vec![entry(&r.id, 5)], ..Commit::default() }).await.unwrap();
        let journal = store.journal(&r.id).await.unwrap();
        assert_eq!(seqs(&journal), vec![1, 2, 3, 4, 5]);
        assert_eq!(journal[2], entry(&r.id, 3));
        assert_eq!(store.instance("t", &r.id).await.unwrap(), Some(r.clone()));
        assert_eq!(store.instance("other", &r.id).await.unwrap(), None, "another tenant's instance is invisible");
        assert!(store.journal(&id(99)).await.unwrap().is_empty());
        let duplicate =
            InstanceStore::commit(&*store, Commit { entries: vec![entry(&r.id, 5)], ..Commit::default() }).await;
        assert!(duplicate.is_err(), "a taken seq is refused");
    }

    pub(crate) async fn idempotent_start(store: Arc<impl AllStores>) {
        let first = record("t", "order", 1, Some("k"));
        assert_eq!(store.start(&first, vec![entry(&first.id, 1)]).await.unwrap(), Started::Created);
        let second = record("t", "order", 2, Some("k"));
        let again = store.start(&second, vec![entry(&second.id, 1)]).await.unwrap();
        assert_eq!(again, Started::Existing(first.id.clone()));
        assert_eq!(store.instance("t", &second.id).await.unwrap(), None);
        assert!(store.journal(&second.id).await.unwrap().is_empty(), "the loser's entries are not stored");
        let other_process = record("t", "billing", 3, Some("k"));
        assert_eq!(store.start(&other_process, vec![]).await.unwrap(), Started::Created);
        let other_tenant = record("u", "order", 4, Some("k"));
        assert_eq!(store.start(&other_tenant, vec![]).await.unwrap(), Started::Created);
        let no_key = record("t", "order", 5, None);
        assert_eq!(store.start(&no_key, vec![]).await.unwrap(), Started::Created);
        let no_key_too = record("t", "order", 6, None);
        assert_eq!(store.start(&no_key_too, vec![]).await.unwrap(), Started::Created);

        // Two concurrent starts with the same new key: exactly one creates, the other gets its id.
        let (a, b) = (record("t", "order", 7, Some("race")), record("t", "order", 8, Some("race")));
        let spawn = |r: InstanceRecord| {
            let store = store.clone();
            tokio::spawn(async move {
                let entries = vec![entry(&r.id, 1)];
                (r.id.clone(), store.start(&r, entries).await.unwrap())
            })
        };
        let (ha, hb) = (spawn(a), spawn(b));
        let results = [ha.await.unwrap(), hb.await.unwrap()];
        let created: Vec<_> = results.iter().filter(|(_, s)| *s == Started::Created).map(|(id, _)| id).collect();
        assert_eq!(created.len(), 1, "{results:?}");
        let winner = created[0].clone();
        for (id, started) in &results {
            if *id != winner {
                assert_eq!(*started, Started::Existing(winner.clone()));
                assert_eq!(store.instance("t", id).await.unwrap(), None);
            }
        }
        assert_eq!(seqs(&store.journal(&winner).await.unwrap()), vec![1]);
    }

    pub(crate) async fn list_filters_and_cursor(store: Arc<impl AllStores>) {
        for n in 1..=6 {
            let process = if n % 2 == 0 { "even" } else { "odd" };
            store.start(&record("t", process, n, None), vec![]).await.unwrap();
        }
        store.start(&record("other", "odd", 7, None), vec![]).await.unwrap();
        let done = InstanceUpdate {
            id: id(3),
            status: InstanceStatus::Completed,
            output: Some(json!(1)),
            error: None,
            activity: json!(null),
            updated_at: 9_000,
        };
        InstanceStore::commit(&*store, Commit { updates: vec![done], ..Commit::default() }).await.unwrap();
        let ids = |v: Vec<InstanceRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();

        let all = store.list_instances("t", &InstanceFilter::default()).await.unwrap();
        assert_eq!(ids(all), (1..=6).rev().map(id).collect::<Vec<_>>(), "newest first; limit 0 is no limit");
        let odd = InstanceFilter { process: Some("odd".into()), ..InstanceFilter::default() };
        assert_eq!(ids(store.list_instances("t", &odd).await.unwrap()), vec![id(5), id(3), id(1)]);
        let completed = InstanceFilter { status: Some(InstanceStatus::Completed), ..InstanceFilter::default() };
        assert_eq!(ids(store.list_instances("t", &completed).await.unwrap()), vec![id(3)]);
        let odd_running =
            InstanceFilter { process: Some("odd".into()), status: Some(InstanceStatus::Running), ..odd.clone() };
        assert_eq!(ids(store.list_instances("t", &odd_running).await.unwrap()), vec![id(5), id(1)]);

        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let filter = InstanceFilter { limit: 4, before: before.clone(), ..InstanceFilter::default() };
            let page = ids(store.list_instances("t", &filter).await.unwrap());
            if page.is_empty() {
                break;
            }
            before = page.last().cloned();
            pages.push(page);
        }
        assert_eq!(pages, vec![vec![id(6), id(5), id(4), id(3)], vec![id(2), id(1)]]);
        let filter = InstanceFilter { limit: 1, before: Some(id(5)), ..odd };
        assert_eq!(ids(store.list_instances("t", &filter).await.unwrap()), vec![id(3)]);
        assert_eq!(ids(store.list_instances("other", &InstanceFilter::default()).await.unwrap()), vec![id(7)]);
    }

    pub(crate) async fn unfinished(store: Arc<impl AllStores>) {
        for (n, tenant) in [(1, "t"), (2, "u"), (3, "t")] {
            store.start(&record(tenant, "p", n, None), vec![]).await.unwrap();
        }
        let failed = InstanceUpdate {
            id: id(1),
            status: InstanceStatus::Failed,
            output: None,
            error: Some(json!({"kind": "step", "code": "x", "message": "no"})),
            activity: json!(null),
            updated_at: 9_000,
        };
        InstanceStore::commit(&*store, Commit { updates: vec![failed], ..Commit::default() }).await.unwrap();
        let running: Vec<_> = store.unfinished().await.unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(running, vec![id(2), id(3)]);
        let stored = store.instance("t", &id(1)).await.unwrap().unwrap();
        assert_eq!(stored.status, InstanceStatus::Failed);
        assert_eq!(stored.error, Some(json!({"kind": "step", "code": "x", "message": "no"})));
    }

    pub(crate) async fn commit_is_atomic(store: Arc<impl AllStores>) {
        let r = record("t", "order", 1, None);
        store.start(&r, vec![entry(&r.id, 1)]).await.unwrap();
        KvStore::commit(&*store, &scope("t"), &KvWrites::from([("gone".to_string(), Some(b"x".to_vec()))]))
            .await
            .unwrap();
        let update = InstanceUpdate {
            id: r.id.clone(),
            status: InstanceStatus::Completed,
            output: Some(json!({"ok": true})),
            error: None,
            activity: json!({"done": true}),
            updated_at: 7_777,
        };
        let writes = KvWrites::from([("count".to_string(), Some(b"1".to_vec())), ("gone".to_string(), None)]);
        let commit =
            Commit { entries: vec![entry(&r.id, 2)], updates: vec![update.clone()], kv: vec![(scope("t"), writes)] };
        InstanceStore::commit(&*store, commit).await.unwrap();
        assert_eq!(seqs(&store.journal(&r.id).await.unwrap()), vec![1, 2]);
        let stored = store.instance("t", &r.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.status, stored.output, stored.activity, stored.updated_at),
            (InstanceStatus::Completed, Some(json!({"ok": true})), json!({"done": true}), 7_777)
        );
        assert_eq!(store.get(&scope("t"), "count").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.get(&scope("t"), "gone").await.unwrap(), None);
        assert_eq!(store.get(&scope("u"), "count").await.unwrap(), None, "scopes are per tenant");

        // A commit with one bad part (seq 2 is taken) applies nothing at all.
        let failing = Commit {
            entries: vec![entry(&r.id, 3), entry(&r.id, 2)],
            updates: vec![InstanceUpdate { status: InstanceStatus::Failed, ..update }],
            kv: vec![(scope("t"), KvWrites::from([("count".to_string(), Some(b"2".to_vec()))]))],
        };
        assert!(InstanceStore::commit(&*store, failing).await.is_err());
        assert_eq!(seqs(&store.journal(&r.id).await.unwrap()), vec![1, 2]);
        assert_eq!(store.instance("t", &r.id).await.unwrap().unwrap().status, InstanceStatus::Completed);
        assert_eq!(store.get(&scope("t"), "count").await.unwrap(), Some(b"1".to_vec()));

        let unknown = Commit { entries: vec![entry(&id(42), 1)], ..Commit::default() };
        assert!(InstanceStore::commit(&*store, unknown).await.is_err(), "entries need their instance");
    }

    pub(crate) async fn queued_commits_land_in_order_and_stop_at_a_failure(store: Arc<impl AllStores>) {
        let (r, q) = (record("t", "order", 1, None), record("t", "order", 2, None));
        let started = store.queue_start(&r, vec![entry(&r.id, 1)]).await.unwrap();
        // Queued behind the start, before it is known to be durable.
        let mut pending = Vec::new();
        for seq in 2..=5 {
            pending.push(store.queue_commit(Commit { entries: vec![entry(&r.id, seq)], ..Commit::default() }).await);
        }
        assert_eq!(started.await.unwrap(), Started::Created);
        for p in pending {
            p.unwrap().await.unwrap();
        }
        assert_eq!(seqs(&store.journal(&r.id).await.unwrap()), vec![1, 2, 3, 4, 5]);

        // After a failed commit (seq 5 again), a later one of the same instance is refused, not stored with a
        // hole before it; other instances go on.
        store.start(&q, vec![entry(&q.id, 1)]).await.unwrap();
        let taken = store.queue_commit(Commit { entries: vec![entry(&r.id, 5)], ..Commit::default() }).await.unwrap();
        let after = store.queue_commit(Commit { entries: vec![entry(&r.id, 7)], ..Commit::default() }).await.unwrap();
        let other = store.queue_commit(Commit { entries: vec![entry(&q.id, 2)], ..Commit::default() }).await.unwrap();
        assert!(taken.await.is_err());
        assert!(after.await.is_err());
        other.await.unwrap();
        assert_eq!(seqs(&store.journal(&r.id).await.unwrap()), vec![1, 2, 3, 4, 5]);
        assert_eq!(seqs(&store.journal(&q.id).await.unwrap()), vec![1, 2]);
    }

    pub(crate) async fn kv_store(store: Arc<impl AllStores>) {
        let s = scope("t");
        assert_eq!(store.get(&s, "k").await.unwrap(), None);
        let writes = KvWrites::from([("k".to_string(), Some(b"v1".to_vec())), ("j".to_string(), Some(vec![]))]);
        KvStore::commit(&*store, &s, &writes).await.unwrap();
        assert_eq!(store.get(&s, "k").await.unwrap(), Some(b"v1".to_vec()));
        assert_eq!(store.get(&s, "j").await.unwrap(), Some(vec![]), "an empty value is a value");
        let writes = KvWrites::from([("k".to_string(), Some(b"v2".to_vec())), ("j".to_string(), None)]);
        KvStore::commit(&*store, &s, &writes).await.unwrap();
        assert_eq!(store.get(&s, "k").await.unwrap(), Some(b"v2".to_vec()));
        assert_eq!(store.get(&s, "j").await.unwrap(), None);
        let other_plugin = KvScope { tenant: "t".into(), plugin: "other".into() };
        assert_eq!(store.get(&other_plugin, "k").await.unwrap(), None);
    }

    pub(crate) async fn tenant_create_and_duplicate_name(store: Arc<impl AllStores>) {
        let acme = tenant(1, "acme", 1_000);
        assert_eq!(store.create_tenant(&acme, "hash-a").await.unwrap(), Some(acme.clone()));
        let same_name = tenant(2, "acme", 2_000);
        assert_eq!(store.create_tenant(&same_name, "hash-b").await.unwrap(), None, "the name is taken");
        assert_eq!(store.tenant(&same_name.id).await.unwrap(), None, "the loser is not stored");
        assert_eq!(store.tenant_by_key("hash-b").await.unwrap(), None, "nor is its key");
        assert_eq!(store.list_tenants().await.unwrap(), vec![acme.clone()]);

        // A taken id or key hash is an error, and stores nothing.
        assert!(store.create_tenant(&tenant(1, "other", 3_000), "hash-c").await.is_err(), "id taken");
        assert!(store.create_tenant(&tenant(3, "third", 3_000), "hash-a").await.is_err(), "key taken");
        assert_eq!(store.tenant_by_name("other").await.unwrap(), None);
        assert_eq!(store.tenant_by_name("third").await.unwrap(), None);
        assert_eq!(store.tenant_by_key("hash-c").await.unwrap(), None);
        assert_eq!(store.tenant_by_key("hash-a").await.unwrap(), Some(acme.clone()));
        let fresh = tenant(3, "third", 3_000);
        assert_eq!(store.create_tenant(&fresh, "hash-c").await.unwrap(), Some(fresh.clone()));
        assert_eq!(store.list_tenants().await.unwrap(), vec![acme, fresh]);
    }

    pub(crate) async fn tenant_list_order(store: Arc<impl AllStores>) {
        assert!(store.list_tenants().await.unwrap().is_empty());
        let (late, tie_high, tie_low) = (tenant(1, "late", 3_000), tenant(3, "c", 1_000), tenant(2, "b", 1_000));
        for (t, key) in [(&late, "k1"), (&tie_high, "k3"), (&tie_low, "k2")] {
            store.create_tenant(t, key).await.unwrap().unwrap();
        }
        assert_eq!(store.list_tenants().await.unwrap(), vec![tie_low, tie_high, late], "oldest first, then by id");
    }

    pub(crate) async fn tenant_lookups(store: Arc<impl AllStores>) {
        let (a, b) = (tenant(1, "alpha", 1_000), tenant(2, "beta", 2_000));
        store.create_tenant(&a, "key-a").await.unwrap().unwrap();
        store.create_tenant(&b, "key-b").await.unwrap().unwrap();
        assert_eq!(store.tenant(&a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(store.tenant(&b.id).await.unwrap(), Some(b.clone()));
        assert_eq!(store.tenant_by_name("alpha").await.unwrap(), Some(a.clone()));
        assert_eq!(store.tenant_by_name("beta").await.unwrap(), Some(b.clone()));
        assert_eq!(store.tenant_by_key("key-a").await.unwrap(), Some(a.clone()));
        assert_eq!(store.tenant_by_key("key-b").await.unwrap(), Some(b));
        assert_eq!(store.tenant(&id(99)).await.unwrap(), None);
        assert_eq!(store.tenant(&a.name).await.unwrap(), None, "a name is not an id");
        assert_eq!(store.tenant_by_name("gamma").await.unwrap(), None);
        assert_eq!(store.tenant_by_name(&a.id).await.unwrap(), None, "an id is not a name");
        assert_eq!(store.tenant_by_key("key-c").await.unwrap(), None);
        assert_eq!(store.tenant_by_key(&a.id).await.unwrap(), None, "an id is not a key");
    }

    pub(crate) async fn tenant_rotate_key(store: Arc<impl AllStores>) {
        let (a, b) = (tenant(1, "alpha", 1_000), tenant(2, "beta", 2_000));
        store.create_tenant(&a, "old-a").await.unwrap().unwrap();
        store.create_tenant(&b, "old-b").await.unwrap().unwrap();
        assert!(store.rotate_key(&a.id, "new-a").await.unwrap());
        assert_eq!(store.tenant_by_key("old-a").await.unwrap(), None, "the old key no longer resolves");
        assert_eq!(store.tenant_by_key("new-a").await.unwrap(), Some(a.clone()));
        assert_eq!(store.tenant_by_key("old-b").await.unwrap(), Some(b.clone()), "other tenants keep theirs");
        assert!(store.rotate_key(&a.id, "newer-a").await.unwrap());
        assert_eq!(store.tenant_by_key("new-a").await.unwrap(), None);
        assert_eq!(store.tenant_by_key("newer-a").await.unwrap(), Some(a.clone()));
        assert!(store.rotate_key(&a.id, "newer-a").await.unwrap(), "rotating to the key it holds");
        assert_eq!(store.tenant_by_key("newer-a").await.unwrap(), Some(a.clone()));

        // Another tenant's key is refused and nothing changes.
        assert!(store.rotate_key(&a.id, "old-b").await.is_err());
        assert_eq!(store.tenant_by_key("newer-a").await.unwrap(), Some(a.clone()));
        assert_eq!(store.tenant_by_key("old-b").await.unwrap(), Some(b));

        assert!(!store.rotate_key(&id(99), "ghost").await.unwrap(), "unknown tenant");
        assert_eq!(store.tenant_by_key("ghost").await.unwrap(), None, "nothing stored for it");
        assert_eq!(store.tenant(&a.id).await.unwrap(), Some(a), "rotation leaves the tenant as it was");
    }

    pub(crate) async fn tenant_quota(store: Arc<impl AllStores>) {
        let (a, b) = (tenant(1, "alpha", 1_000), tenant(2, "beta", 2_000));
        store.create_tenant(&a, "key-a").await.unwrap().unwrap();
        store.create_tenant(&b, "key-b").await.unwrap().unwrap();
        assert_eq!(store.quota(&a.id).await.unwrap(), None, "no overrides yet");
        let quota = json!({"max_instances": 100, "plugins": {"max_bytes": 1_048_576}, "note": "é"});
        assert!(store.set_quota(&a.id, &quota).await.unwrap());
        assert_eq!(store.quota(&a.id).await.unwrap(), Some(quota));
        assert_eq!(store.quota(&b.id).await.unwrap(), None, "per tenant");
        let smaller = json!({"max_instances": 5});
        assert!(store.set_quota(&a.id, &smaller).await.unwrap());
        assert_eq!(store.quota(&a.id).await.unwrap(), Some(smaller), "replaced, not merged");
        assert!(store.set_quota(&a.id, &json!({})).await.unwrap());
        assert_eq!(store.quota(&a.id).await.unwrap(), Some(json!({})));
        assert_eq!(store.tenant(&a.id).await.unwrap(), Some(a), "the tenant itself is unchanged");

        assert!(!store.set_quota(&id(99), &json!({"max_instances": 1})).await.unwrap(), "unknown tenant");
        assert_eq!(store.quota(&id(99)).await.unwrap(), None);
        assert!(store.list_tenants().await.unwrap().iter().all(|t| t.id != id(99)), "no tenant appears");
    }

    /// One `#[tokio::test]` per shared body, each on a fresh store made by `$make` (an expression that may
    /// `.await` and yields an `Arc` of the backend).
    macro_rules! conformance_tests {
        ($make:expr) => {
            mod shared {
                #[allow(unused_imports, reason = "the store constructor expression may name items of the parent")]
                use super::*;
                use $crate::store::memory::conformance as c;

                #[tokio::test]
                async fn plugin_versioning_and_dedupe() {
                    c::plugin_versioning_and_dedupe($make).await;
                }
                #[tokio::test]
                async fn plugin_versions_per_tenant() {
                    c::plugin_versions_per_tenant($make).await;
                }
                #[tokio::test]
                async fn plugin_delete() {
                    c::plugin_delete($make).await;
                }
                #[tokio::test]
                async fn process_deploy_versions() {
                    c::process_deploy_versions($make).await;
                }
                #[tokio::test]
                async fn plugin_in_use() {
                    c::plugin_in_use($make).await;
                }
                #[tokio::test]
                async fn pinned_digests() {
                    c::pinned_digests($make).await;
                }
                #[tokio::test]
                async fn start_and_journal_order() {
                    c::start_and_journal_order($make).await;
                }
                #[tokio::test]
                async fn idempotent_start() {
                    c::idempotent_start($make).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn idempotent_start_multi_thread() {
                    c::idempotent_start($make).await;
                }
                #[tokio::test]
                async fn queued_commits_land_in_order_and_stop_at_a_failure() {
                    c::queued_commits_land_in_order_and_stop_at_a_failure($make).await;
                }
                #[tokio::test]
                async fn list_filters_and_cursor() {
                    c::list_filters_and_cursor($make).await;
                }
                #[tokio::test]
                async fn unfinished() {
                    c::unfinished($make).await;
                }
                #[tokio::test]
                async fn commit_is_atomic() {
                    c::commit_is_atomic($make).await;
                }
                #[tokio::test]
                async fn kv_store() {
                    c::kv_store($make).await;
                }
                #[tokio::test]
                async fn tenant_create_and_duplicate_name() {
                    c::tenant_create_and_duplicate_name($make).await;
                }
                #[tokio::test]
                async fn tenant_list_order() {
                    c::tenant_list_order($make).await;
                }
                #[tokio::test]
                async fn tenant_lookups() {
                    c::tenant_lookups($make).await;
                }
                #[tokio::test]
                async fn tenant_rotate_key() {
                    c::tenant_rotate_key($make).await;
                }
                #[tokio::test]
                async fn tenant_quota() {
                    c::tenant_quota($make).await;
                }
            }
        };
    }
    pub(crate) use conformance_tests;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    conformance::conformance_tests!(Arc::new(MemoryStore::new()));

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<MemoryStore>();
    }
}
