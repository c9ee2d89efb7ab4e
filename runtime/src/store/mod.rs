//! Durable state: plugin versions, process versions, instances, their journals and plugin kv state.
//!
//! The traits are split by concern so a backend implements them one table group at a time and the executor
//! names only what it touches. Two backends: [`sqlite`] (embedded default, WAL, group commit) and
//! [`memory`] (tests and the benchmark baseline that shows what durability costs).
//!
//! # Durability guarantee (SQLite)
//! Every [`InstanceStore::commit`] and [`InstanceStore::start`] returns only after its transaction is
//! committed with `synchronous=FULL` in WAL mode, i.e. fsynced. Concurrent commits are batched into one
//! transaction (group commit): callers wait a little longer, the disk sees one fsync per batch instead of one
//! per event. So when a start or a step completion is acknowledged, its journal event, its instance status and
//! its kv writes are on disk together, or none of them is.
//!
//! [`InstanceStore::queue_commit`] and [`InstanceStore::queue_start`] split that in two: they return once the
//! work is queued, with a [`Durable`] that resolves when it is on disk. Work becomes durable in the order it
//! was queued, and once one commit of an instance fails, no later commit of that instance is stored: a
//! journal never has a hole.

pub mod memory;
pub mod sqlite;

use crate::digest::Digest;
use crate::sandbox::kv::{KvScope, KvWrites};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// Stored data did not decode.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The store is shutting down.
    #[error("store closed")]
    Closed,
}

/// Shorthand.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One stored version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersion {
    /// Plugin name.
    pub name: String,
    /// 1, 2, ... per (tenant, name).
    pub version: u32,
    /// Content digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// When it was uploaded.
    pub created_at: Millis,
}

/// Plugin versions and their bytes.
#[async_trait]
pub trait PluginStore: Send + Sync {
    /// Stores `bytes` as the next version of `name`, or returns the existing version with the same digest
    /// (`false` = it already existed).
    async fn put_plugin(&self, tenant: &str, name: &str, digest: Digest, bytes: &[u8])
    -> Result<(PluginVersion, bool)>;
    /// Every version of `name`, oldest first.
    async fn plugin_versions(&self, tenant: &str, name: &str) -> Result<Vec<PluginVersion>>;
    /// The newest version of every plugin of the tenant, by name.
    async fn list_plugins(&self, tenant: &str) -> Result<Vec<PluginVersion>>;
    /// The bytes of a digest, if any tenant stored them (content is shared, names are not).
    async fn plugin_bytes(&self, digest: Digest) -> Result<Option<Vec<u8>>>;
    /// Deletes every version of `name`; `false` if there was none.
    async fn delete_plugin(&self, tenant: &str, name: &str) -> Result<bool>;
}

/// One deployed version of a process definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessVersion {
    /// Process name.
    pub name: String,
    /// 1, 2, ... per (tenant, name).
    pub version: u32,
    /// The definition document as deployed (JSON form).
    pub document: serde_json::Value,
    /// Plugin name to the digest pinned at deploy time.
    pub plugins: BTreeMap<String, Digest>,
    /// When it was deployed.
    pub created_at: Millis,
}

/// Deployed process versions.
#[async_trait]
pub trait ProcessStore: Send + Sync {
    /// Stores the next version of `name` and returns it.
    async fn deploy(
        &self,
        tenant: &str,
        name: &str,
        document: &serde_json::Value,
        plugins: &BTreeMap<String, Digest>,
    ) -> Result<ProcessVersion>;
    /// A version, or the latest when `version` is `None`.
    async fn process_version(&self, tenant: &str, name: &str, version: Option<u32>) -> Result<Option<ProcessVersion>>;
    /// The latest version of every process of the tenant.
    async fn list_processes(&self, tenant: &str) -> Result<Vec<ProcessVersion>>;
    /// Every version number of `name`.
    async fn process_versions(&self, tenant: &str, name: &str) -> Result<Vec<u32>>;
    /// Whether any deployed version of any process of the tenant pins plugin `name`.
    async fn plugin_in_use(&self, tenant: &str, plugin: &str) -> Result<bool>;
    /// The distinct plugin digests pinned by the latest version of every process of every tenant, most
    /// recently deployed first, at most `limit` (what a restarted node will run first).
    async fn pinned_digests(&self, limit: usize) -> Result<Vec<Digest>>;
}

/// The lifecycle of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceStatus {
    /// Started, not finished; may be running steps, waiting for a signal or sleeping.
    Running,
    /// Finished with an output.
    Completed,
    /// Finished with an error (after compensation, if any).
    Failed,
    /// Cancelled on request.
    Cancelled,
}

impl InstanceStatus {
    /// Whether it is finished.
    pub fn is_terminal(self) -> bool {
        !matches!(self, InstanceStatus::Running)
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Running => "running",
            InstanceStatus::Completed => "completed",
            InstanceStatus::Failed => "failed",
            InstanceStatus::Cancelled => "cancelled",
        }
    }
}

/// An instance row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Its id (a UUID v7, so ids sort by creation).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Process name.
    pub process: String,
    /// Process version it is pinned to.
    pub version: u32,
    /// Lifecycle status.
    pub status: InstanceStatus,
    /// The input.
    pub input: serde_json::Value,
    /// The output, once completed.
    pub output: Option<serde_json::Value>,
    /// The error `{kind, code, message}`, once failed.
    pub error: Option<serde_json::Value>,
    /// The idempotency key it was started with.
    pub idempotency_key: Option<String>,
    /// The parent instance and step, for sub-processes.
    pub parent: Option<String>,
    /// What it is doing now (current steps, awaited signal), for status queries; set by the executor.
    pub activity: serde_json::Value,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// One journal event of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The instance.
    pub instance: String,
    /// 1, 2, ... per instance, without gaps.
    pub seq: u64,
    /// When it was appended.
    pub at: Millis,
    /// The event, as the executor encodes it.
    pub event: serde_json::Value,
}

/// A change to an instance row, applied with the journal entries of the same commit.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceUpdate {
    /// The instance.
    pub id: String,
    /// New status.
    pub status: InstanceStatus,
    /// New output.
    pub output: Option<serde_json::Value>,
    /// New error.
    pub error: Option<serde_json::Value>,
    /// New activity.
    pub activity: serde_json::Value,
    /// When.
    pub updated_at: Millis,
}

impl InstanceUpdate {
    /// Applies the update to an in-memory copy of the row.
    pub fn apply_to(self, record: &mut InstanceRecord) {
        record.status = self.status;
        record.output = self.output;
        record.error = self.error;
        record.activity = self.activity;
        record.updated_at = self.updated_at;
    }
}

/// Everything that must become durable together.
#[derive(Debug, Default)]
pub struct Commit {
    /// Journal entries to append.
    pub entries: Vec<JournalEntry>,
    /// Instance rows to update.
    pub updates: Vec<InstanceUpdate>,
    /// Plugin kv writes of completed steps.
    pub kv: Vec<(KvScope, KvWrites)>,
}

/// The outcome of [`InstanceStore::start`].
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    /// The instance was created.
    Created,
    /// An instance with the same (tenant, process, idempotency key) exists: this is its id.
    Existing(String),
}

/// Filters for listing instances.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    /// Only this process.
    pub process: Option<String>,
    /// Only this status.
    pub status: Option<InstanceStatus>,
    /// At most this many (newest first).
    pub limit: u32,
    /// Only ids lower than this (the previous page's last id).
    pub before: Option<String>,
}

/// Work handed to the store: resolves once it is durable (or once it failed, and then nothing of it is stored).
#[must_use = "the work is durable only once this resolves"]
pub struct Durable<T = ()>(Pin<Box<dyn Future<Output = Result<T>> + Send>>);

impl<T: Send + 'static> Durable<T> {
    /// Durable once `until` resolves.
    pub fn new(until: impl Future<Output = Result<T>> + Send + 'static) -> Self {
        Durable(Box::pin(until))
    }

    /// Already settled.
    pub fn ready(result: Result<T>) -> Self {
        Durable::new(std::future::ready(result))
    }
}

impl<T> Future for Durable<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        self.0.as_mut().poll(cx)
    }
}

impl<T> std::fmt::Debug for Durable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Durable")
    }
}

/// Instances and their journals.
#[async_trait]
pub trait InstanceStore: Send + Sync {
    /// Queues the creation of the instance with its first journal entries, behind everything queued before;
    /// returns once queued. What it resolves to says whether it was created, or an instance with the same
    /// idempotency key existed (then nothing was stored).
    async fn queue_start(&self, record: &InstanceRecord, entries: Vec<JournalEntry>) -> Result<Durable<Started>>;
    /// Queues a commit behind everything queued before it (so commits queued one after the other become durable
    /// in that order, group-committed with concurrent ones); returns once queued.
    async fn queue_commit(&self, commit: Commit) -> Result<Durable>;
    /// Creates the instance with its first journal entries, unless its idempotency key was used before; returns
    /// once that is durable.
    async fn start(&self, record: &InstanceRecord, entries: Vec<JournalEntry>) -> Result<Started> {
        self.queue_start(record, entries).await?.await
    }
    /// Makes a commit durable.
    async fn commit(&self, commit: Commit) -> Result<()> {
        self.queue_commit(commit).await?.await
    }
    /// One instance of a tenant.
    async fn instance(&self, tenant: &str, id: &str) -> Result<Option<InstanceRecord>>;
    /// Instances of a tenant, newest first.
    async fn list_instances(&self, tenant: &str, filter: &InstanceFilter) -> Result<Vec<InstanceRecord>>;
    /// An instance's journal, in order.
    async fn journal(&self, id: &str) -> Result<Vec<JournalEntry>>;
    /// Every instance that is not finished (to resume at start).
    async fn unfinished(&self) -> Result<Vec<InstanceRecord>>;
}

/// A tenant: the unit of isolation. API keys are stored only as hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id (UUID v7).
    pub id: String,
    /// A unique, human-readable name.
    pub name: String,
    /// When it was created.
    pub created_at: Millis,
}

/// A secret's name and age; its value is never listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    /// The name a definition's `secrets:` refers to.
    pub name: String,
    /// When it was last set.
    pub updated_at: Millis,
}

/// Tenants' secrets, as sealed bytes (sealing is the caller's: [`crate::secrets`]).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Sets a secret; `true` if it is new.
    async fn put_secret(&self, tenant: &str, name: &str, sealed: &[u8]) -> Result<bool>;
    /// A secret's sealed bytes.
    async fn secret(&self, tenant: &str, name: &str) -> Result<Option<Vec<u8>>>;
    /// The tenant's secrets, by name.
    async fn list_secrets(&self, tenant: &str) -> Result<Vec<SecretInfo>>;
    /// Deletes a secret; `false` if there was none.
    async fn delete_secret(&self, tenant: &str, name: &str) -> Result<bool>;
}

/// Tenants and their API keys.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant with one API key hash; `None` if the name is taken.
    async fn create_tenant(&self, tenant: &Tenant, key_hash: &str) -> Result<Option<Tenant>>;
    /// All tenants, oldest first.
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    /// One tenant by id.
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>>;
    /// One tenant by name.
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>>;
    /// Replaces every key of a tenant with this one; `false` if there is no such tenant.
    async fn rotate_key(&self, id: &str, key_hash: &str) -> Result<bool>;
    /// The tenant owning a key hash.
    async fn tenant_by_key(&self, key_hash: &str) -> Result<Option<Tenant>>;
    /// The tenant's quota overrides (a JSON object; the API applies defaults), if any.
    async fn quota(&self, id: &str) -> Result<Option<serde_json::Value>>;
    /// Stores the tenant's quota overrides.
    async fn set_quota(&self, id: &str, quota: &serde_json::Value) -> Result<bool>;
}
