//! The embedded SQLite backend: WAL journal, `synchronous = FULL`, and group commit of instance work.
//!
//! # Connections
//! A pool of a few connections serves reads and the rare administrative writes (plugin uploads, deploys,
//! direct [`KvStore::commit`]s); WAL lets readers run beside the writer. [`InstanceStore::start`] and
//! [`InstanceStore::commit`] go to ONE writer thread with its own connection (see below). Administrative writes
//! use `BEGIN IMMEDIATE`, so they queue on the write lock (busy timeout 5 s) instead of failing when another
//! writer commits between their read and their write.
//!
//! # Group commit
//! [`writer`]: instance work is queued to one writer thread with its own connection, which commits whatever
//! is queued in one transaction (one fsync) and answers every caller; checkpoints run beside it.
//!
//! # Schema
//! The SQL migrations in `runtime/migrations/sqlite/` are embedded in the binary and applied at open.

use super::{
    Commit, Durable, InstanceFilter, InstanceRecord, InstanceStatus, InstanceStore, JournalEntry, Millis, PluginStore,
    PluginVersion, ProcessStore, ProcessVersion, Result, SecretInfo, SecretStore, Started, StoreError, Tenant,
    TenantStore, now_millis,
};
use crate::digest::Digest;
use crate::sandbox::kv::{KvError, KvScope, KvStore, KvWrites};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use writer::{Done, EntryRow, InstanceRow, UpdateRow, Work, Writer};

pub mod writer;

pub use writer::MAX_BATCH;

/// The embedded migrations.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Pooled connections for reads and administrative writes.
const READ_CONNECTIONS: u32 = 4;
/// How long a connection waits for another writer's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const INSTANCE_COLUMNS: &str = "id, tenant, process, version, status, input, output, error, idempotency_key, parent, \
                                activity, created_at, updated_at";
const PLUGIN_COLUMNS: &str = "name, version, digest, size, created_at";
const PROCESS_COLUMNS: &str = "name, version, document, plugins, created_at";
const TENANT_COLUMNS: &str = "id, name, created_at";

/// The SQLite backend. Cheap to clone (an `Arc` inside); the writer task ends when the last clone is dropped.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    writer: Writer,
    path: PathBuf,
    /// The directory of an [`SqliteStore::open_in_memory`] store, deleted with the last clone.
    _temp: Option<tempfile::TempDir>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("transactions_committed", &self.transactions_committed())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `path`, applies the pending migrations and starts the
    /// writer thread. Must be called inside a Tokio runtime (the read pool's).
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        Self::open_with(path, SqliteSynchronous::Full, None).await
    }

    /// A private, empty store for tests and benchmarks: a database file in a fresh temporary directory that is
    /// deleted when the last clone is dropped. It runs the same code as a file store (WAL, pool beside the
    /// writer, group commit), which a shared-cache `:memory:` database could not (no WAL, table locks instead),
    /// but with `synchronous = OFF`, as nothing in it is meant to outlive the process.
    pub async fn open_in_memory() -> Result<SqliteStore> {
        let dir = tempfile::Builder::new()
            .prefix("alur-store-")
            .tempdir()
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let path = dir.path().join("alur.db");
        Self::open_with(&path, SqliteSynchronous::Off, Some(dir)).await
    }

    async fn open_with(path: &Path, synchronous: SqliteSynchronous, temp: Option<tempfile::TempDir>) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(format!("migrating {}: {e}", path.display())))?;
        // Every read connection opened now rather than by the first requests after a restart (~1 ms each), all
        // at once: each opens on its own worker thread.
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..READ_CONNECTIONS {
            let pool = pool.clone();
            opening.spawn(async move { pool.acquire().await });
        }
        let mut opened = Vec::new();
        while let Some(connection) = opening.join_next().await {
            opened.push(connection.map_err(|e| StoreError::Database(e.to_string()))?.map_err(db)?);
        }
        drop(opened);
        let full = matches!(synchronous, SqliteSynchronous::Full);
        let writer = Writer::start(path, full, BUSY_TIMEOUT)?;
        Ok(SqliteStore { inner: Arc::new(Inner { pool, writer, path: path.to_path_buf(), _temp: temp }) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many group-commit transactions the writer has committed (each holds one or more starts/commits).
    pub fn transactions_committed(&self) -> u64 {
        self.inner.writer.committed()
    }

    fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// Hands `work` to the writer, behind everything handed to it before; the answer comes once its batch is
    /// committed.
    async fn queue(&self, work: Work) -> Result<tokio::sync::oneshot::Receiver<Result<Done>>> {
        self.inner.writer.queue(work).await
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding and decoding.

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

fn corrupt(what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn to_json(value: &serde_json::Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(format!("encoding json: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("json: {e}")))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    column: &str,
) -> Result<T> {
    row.try_get(column).map_err(|e| corrupt(format!("column {column}: {e}")))
}

fn status_from_str(s: &str) -> Result<InstanceStatus> {
    [InstanceStatus::Running, InstanceStatus::Completed, InstanceStatus::Failed, InstanceStatus::Cancelled]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| corrupt(format!("instance status {s:?}")))
}

fn version_from(n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|_| corrupt(format!("version {n}")))
}

fn digest_from(text: &str) -> Result<Digest> {
    text.parse().map_err(corrupt)
}

fn plugin_from_row(row: &SqliteRow) -> Result<PluginVersion> {
    Ok(PluginVersion {
        name: get(row, "name")?,
        version: version_from(get(row, "version")?)?,
        digest: digest_from(&get::<String>(row, "digest")?)?,
        size: u64::try_from(get::<i64>(row, "size")?).map_err(corrupt)?,
        created_at: get(row, "created_at")?,
    })
}

fn process_from_row(row: &SqliteRow) -> Result<ProcessVersion> {
    Ok(ProcessVersion {
        name: get(row, "name")?,
        version: version_from(get(row, "version")?)?,
        document: from_json(&get::<String>(row, "document")?)?,
        plugins: from_json(&get::<String>(row, "plugins")?)?,
        created_at: get(row, "created_at")?,
    })
}

fn instance_from_row(row: &SqliteRow) -> Result<InstanceRecord> {
    let optional_json = |column: &str| -> Result<Option<serde_json::Value>> {
        get::<Option<String>>(row, column)?.map(|text| from_json(&text)).transpose()
    };
    Ok(InstanceRecord {
        id: get(row, "id")?,
        tenant: get(row, "tenant")?,
        process: get(row, "process")?,
        version: version_from(get(row, "version")?)?,
        status: status_from_str(&get::<String>(row, "status")?)?,
        input: from_json(&get::<String>(row, "input")?)?,
        output: optional_json("output")?,
        error: optional_json("error")?,
        idempotency_key: get(row, "idempotency_key")?,
        parent: get(row, "parent")?,
        activity: from_json(&get::<String>(row, "activity")?)?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn entry_from_row(row: &SqliteRow) -> Result<JournalEntry> {
    Ok(JournalEntry {
        instance: get(row, "instance")?,
        seq: u64::try_from(get::<i64>(row, "seq")?).map_err(corrupt)?,
        at: get(row, "at")?,
        event: from_json(&get::<String>(row, "event")?)?,
    })
}

fn tenant_from_row(row: &SqliteRow) -> Result<Tenant> {
    Ok(Tenant { id: get(row, "id")?, name: get(row, "name")?, created_at: get(row, "created_at")? })
}

fn encode_entries(entries: &[JournalEntry]) -> Result<Vec<EntryRow>> {
    entries
        .iter()
        .map(|e| {
            Ok(EntryRow {
                instance: e.instance.clone(),
                seq: i64::try_from(e.seq).map_err(|_| StoreError::Database(format!("journal seq {}", e.seq)))?,
                at: e.at,
                event: to_json(&e.event)?,
            })
        })
        .collect()
}

fn encode_optional(value: &Option<serde_json::Value>) -> Result<Option<String>> {
    value.as_ref().map(to_json).transpose()
}

// ---------------------------------------------------------------------------------------------------------------
// The traits.

#[async_trait]
impl PluginStore for SqliteStore {
    async fn put_plugin(
        &self,
        tenant: &str,
        name: &str,
        digest: Digest,
        bytes: &[u8],
    ) -> Result<(PluginVersion, bool)> {
        let digest_text = digest.to_string();
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let existing =
            sqlx::query(&format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE tenant = ? AND name = ? AND digest = ?"))
                .bind(tenant)
                .bind(name)
                .bind(&digest_text)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if let Some(row) = existing {
            return Ok((plugin_from_row(&row)?, false));
        }
        let next: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM plugins WHERE tenant = ? AND name = ?")
                .bind(tenant)
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let version = PluginVersion {
            name: name.to_string(),
            version: version_from(next)?,
            digest,
            size: bytes.len() as u64,
            created_at: now_millis(),
        };
        sqlx::query("INSERT INTO plugin_blobs (digest, bytes) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING")
            .bind(&digest_text)
            .bind(bytes)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO plugins (tenant, name, version, digest, size, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(tenant)
            .bind(name)
            .bind(next)
            .bind(&digest_text)
            .bind(bytes.len() as i64)
            .bind(version.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok((version, true))
    }

    async fn plugin_versions(&self, tenant: &str, name: &str) -> Result<Vec<PluginVersion>> {
        let rows = sqlx::query(&format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins WHERE tenant = ? AND name = ? ORDER BY version"
        ))
        .bind(tenant)
        .bind(name)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(plugin_from_row).collect()
    }

    async fn list_plugins(&self, tenant: &str) -> Result<Vec<PluginVersion>> {
        let rows = sqlx::query(&format!(
            "SELECT {PLUGIN_COLUMNS} FROM plugins p WHERE tenant = ? AND version = \
             (SELECT MAX(version) FROM plugins q WHERE q.tenant = p.tenant AND q.name = p.name) ORDER BY name"
        ))
        .bind(tenant)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(plugin_from_row).collect()
    }

    async fn plugin_bytes(&self, digest: Digest) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT bytes FROM plugin_blobs WHERE digest = ?")
            .bind(digest.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(db)
    }

    /// Also drops the bytes of digests that no plugin version of any tenant names any more.
    async fn delete_plugin(&self, tenant: &str, name: &str) -> Result<bool> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let digests: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT digest FROM plugins WHERE tenant = ? AND name = ?")
                .bind(tenant)
                .bind(name)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        if digests.is_empty() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM plugins WHERE tenant = ? AND name = ?")
            .bind(tenant)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for digest in &digests {
            sqlx::query(
                "DELETE FROM plugin_blobs WHERE digest = ? AND NOT EXISTS (SELECT 1 FROM plugins WHERE digest = ?)",
            )
            .bind(digest)
            .bind(digest)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}

#[async_trait]
impl ProcessStore for SqliteStore {
    async fn deploy(
        &self,
        tenant: &str,
        name: &str,
        document: &serde_json::Value,
        plugins: &BTreeMap<String, Digest>,
    ) -> Result<ProcessVersion> {
        let document_text = to_json(document)?;
        let plugins_text =
            serde_json::to_string(plugins).map_err(|e| StoreError::Database(format!("encoding json: {e}")))?;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let next: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM processes WHERE tenant = ? AND name = ?")
                .bind(tenant)
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let created_at = now_millis();
        sqlx::query(
            "INSERT INTO processes (tenant, name, version, document, plugins, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant)
        .bind(name)
        .bind(next)
        .bind(&document_text)
        .bind(&plugins_text)
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for plugin in plugins.keys() {
            sqlx::query("INSERT INTO process_plugins (tenant, plugin, process, version) VALUES (?, ?, ?, ?)")
                .bind(tenant)
                .bind(plugin)
                .bind(name)
                .bind(next)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(ProcessVersion {
            name: name.to_string(),
            version: version_from(next)?,
            document: document.clone(),
            plugins: plugins.clone(),
            created_at,
        })
    }

    async fn process_version(&self, tenant: &str, name: &str, version: Option<u32>) -> Result<Option<ProcessVersion>> {
        let row = match version {
            None => sqlx::query(&format!(
                "SELECT {PROCESS_COLUMNS} FROM processes WHERE tenant = ? AND name = ? ORDER BY version DESC LIMIT 1"
            ))
            .bind(tenant)
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?,
            Some(n) => sqlx::query(&format!(
                "SELECT {PROCESS_COLUMNS} FROM processes WHERE tenant = ? AND name = ? AND version = ?"
            ))
            .bind(tenant)
            .bind(name)
            .bind(i64::from(n))
            .fetch_optional(self.pool())
            .await
            .map_err(db)?,
        };
        row.as_ref().map(process_from_row).transpose()
    }

    async fn list_processes(&self, tenant: &str) -> Result<Vec<ProcessVersion>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROCESS_COLUMNS} FROM processes p WHERE tenant = ? AND version = \
             (SELECT MAX(version) FROM processes q WHERE q.tenant = p.tenant AND q.name = p.name) ORDER BY name"
        ))
        .bind(tenant)
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        rows.iter().map(process_from_row).collect()
    }

    async fn process_versions(&self, tenant: &str, name: &str) -> Result<Vec<u32>> {
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM processes WHERE tenant = ? AND name = ? ORDER BY version")
                .bind(tenant)
                .bind(name)
                .fetch_all(self.pool())
                .await
                .map_err(db)?;
        versions.into_iter().map(version_from).collect()
    }

    async fn plugin_in_use(&self, tenant: &str, plugin: &str) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM process_plugins WHERE tenant = ? AND plugin = ? LIMIT 1")
                .bind(tenant)
                .bind(plugin)
                .fetch_optional(self.pool())
                .await
                .map_err(db)?;
        Ok(found.is_some())
    }

    async fn pinned_digests(&self, limit: usize) -> Result<Vec<Digest>> {
        let digests: Vec<String> = sqlx::query_scalar(
            "SELECT pin.value FROM processes p, json_each(p.plugins) pin \
             WHERE p.version = (SELECT MAX(version) FROM processes q WHERE q.tenant = p.tenant AND q.name = p.name) \
             GROUP BY pin.value ORDER BY MAX(p.created_at) DESC LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        digests.iter().map(|d| digest_from(d)).collect()
    }
}

#[async_trait]
impl InstanceStore for SqliteStore {
    async fn queue_start(&self, record: &InstanceRecord, entries: Vec<JournalEntry>) -> Result<Durable<Started>> {
        let instance = Box::new(InstanceRow {
            id: record.id.clone(),
            tenant: record.tenant.clone(),
            process: record.process.clone(),
            version: i64::from(record.version),
            status: record.status.as_str(),
            input: to_json(&record.input)?,
            output: encode_optional(&record.output)?,
            error: encode_optional(&record.error)?,
            idempotency_key: record.idempotency_key.clone(),
            parent: record.parent.clone(),
            activity: to_json(&record.activity)?,
            created_at: record.created_at,
            updated_at: record.updated_at,
        });
        let entries = encode_entries(&entries)?;
        let answer = self.queue(Work::Start { instance, entries }).await?;
        Ok(Durable::new(async move {
            match answer.await.map_err(|_| StoreError::Closed)?? {
                Done::Started(started) => Ok(started),
                Done::Committed => Err(StoreError::Database("writer answered a start with a commit".into())),
            }
        }))
    }

    /// All or nothing: an entry for an unknown instance or a taken seq, or an update of an unknown instance,
    /// fails this commit (and, of its batch, only this one and the later ones of the same instances).
    async fn queue_commit(&self, commit: Commit) -> Result<Durable> {
        let entries = encode_entries(&commit.entries)?;
        let updates = commit
            .updates
            .iter()
            .map(|u| {
                Ok(UpdateRow {
                    id: u.id.clone(),
                    status: u.status.as_str(),
                    output: encode_optional(&u.output)?,
                    error: encode_optional(&u.error)?,
                    activity: to_json(&u.activity)?,
                    updated_at: u.updated_at,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let answer = self.queue(Work::Commit { entries, updates, kv: commit.kv }).await?;
        Ok(Durable::new(async move { answer.await.map_err(|_| StoreError::Closed)?.map(|_| ()) }))
    }

    async fn instance(&self, tenant: &str, id: &str) -> Result<Option<InstanceRecord>> {
        let row = sqlx::query(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ? AND tenant = ?"))
            .bind(id)
            .bind(tenant)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(instance_from_row).transpose()
    }

    /// A `limit` of 0 means no limit.
    async fn list_instances(&self, tenant: &str, filter: &InstanceFilter) -> Result<Vec<InstanceRecord>> {
        let mut sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE tenant = ?");
        if filter.process.is_some() {
            sql.push_str(" AND process = ?");
        }
        if filter.status.is_some() {
            sql.push_str(" AND status = ?");
        }
        if filter.before.is_some() {
            sql.push_str(" AND id < ?");
        }
        sql.push_str(" ORDER BY id DESC");
        if filter.limit > 0 {
            sql.push_str(" LIMIT ?");
        }
        let mut query = sqlx::query(&sql).bind(tenant);
        if let Some(process) = &filter.process {
            query = query.bind(process);
        }
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        if let Some(before) = &filter.before {
            query = query.bind(before);
        }
        if filter.limit > 0 {
            query = query.bind(i64::from(filter.limit));
        }
        let rows = query.fetch_all(self.pool()).await.map_err(db)?;
        rows.iter().map(instance_from_row).collect()
    }

    async fn journal(&self, id: &str) -> Result<Vec<JournalEntry>> {
        let rows = sqlx::query("SELECT instance, seq, at, event FROM journal WHERE instance = ? ORDER BY seq")
            .bind(id)
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Oldest first.
    async fn unfinished(&self) -> Result<Vec<InstanceRecord>> {
        let rows = sqlx::query(&unfinished_query()).fetch_all(self.pool()).await.map_err(db)?;
        rows.iter().map(instance_from_row).collect()
    }
}

/// The unfinished instances, oldest first. The status is a literal, not a bound parameter: only then may SQLite
/// use the partial index `instances_running`.
fn unfinished_query() -> String {
    format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE status = 'running' ORDER BY id")
}

#[async_trait]
impl KvStore for SqliteStore {
    async fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        sqlx::query_scalar("SELECT value FROM kv WHERE tenant = ? AND plugin = ? AND key = ?")
            .bind(&scope.tenant)
            .bind(&scope.plugin)
            .bind(key)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| KvError(e.to_string()))
    }

    /// Through the writer, as a commit of its own; the engine normally passes kv writes inside a [`Commit`].
    async fn commit(&self, scope: &KvScope, writes: &KvWrites) -> Result<(), KvError> {
        let work = Work::Commit { entries: Vec::new(), updates: Vec::new(), kv: vec![(scope.clone(), writes.clone())] };
        let answer = self.queue(work).await.map_err(|e| KvError(e.to_string()))?;
        match answer.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(KvError(e.to_string())),
            Err(_) => Err(KvError(StoreError::Closed.to_string())),
        }
    }
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, tenant: &Tenant, key_hash: &str) -> Result<Option<Tenant>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tenants WHERE name = ?")
            .bind(&tenant.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if taken.is_some() {
            return Ok(None);
        }
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)")
            .bind(&tenant.id)
            .bind(&tenant.name)
            .bind(tenant.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("INSERT INTO api_keys (key_hash, tenant, created_at) VALUES (?, ?, ?)")
            .bind(key_hash)
            .bind(&tenant.id)
            .bind(tenant.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(tenant.clone()))
    }

    /// Oldest first; ties (same millisecond) by id, which is UUID v7 and so creation order too.
    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY created_at, id"))
            .fetch_all(self.pool())
            .await
            .map_err(db)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let row = sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        let row = sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE name = ?"))
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// A hash that another tenant holds is an error, and nothing changes.
    async fn rotate_key(&self, id: &str, key_hash: &str) -> Result<bool> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tenants WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if known.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM api_keys WHERE tenant = ?").bind(id).execute(&mut *tx).await.map_err(db)?;
        sqlx::query("INSERT INTO api_keys (key_hash, tenant, created_at) VALUES (?, ?, ?)")
            .bind(key_hash)
            .bind(id)
            .bind(now_millis())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn tenant_by_key(&self, key_hash: &str) -> Result<Option<Tenant>> {
        let row = sqlx::query(
            "SELECT t.id, t.name, t.created_at FROM api_keys k JOIN tenants t ON t.id = k.tenant WHERE k.key_hash = ?",
        )
        .bind(key_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// `None` for an unknown tenant too.
    async fn quota(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let quota: Option<Option<String>> = sqlx::query_scalar("SELECT quota FROM tenants WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        quota.flatten().map(|text| from_json(&text)).transpose()
    }

    /// `false` (and nothing stored) if there is no such tenant.
    async fn set_quota(&self, id: &str, quota: &serde_json::Value) -> Result<bool> {
        let text = to_json(quota)?;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let changed = sqlx::query("UPDATE tenants SET quota = ? WHERE id = ?")
            .bind(&text)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if changed.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret(&self, tenant: &str, name: &str, sealed: &[u8]) -> Result<bool> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let existed: Option<i64> = sqlx::query_scalar("SELECT 1 FROM secrets WHERE tenant = ? AND name = ?")
            .bind(tenant)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO secrets (tenant, name, sealed, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (tenant, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(tenant)
        .bind(name)
        .bind(sealed)
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(existed.is_none())
    }

    async fn secret(&self, tenant: &str, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT sealed FROM secrets WHERE tenant = ? AND name = ?")
            .bind(tenant)
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db)
    }

    async fn list_secrets(&self, tenant: &str) -> Result<Vec<SecretInfo>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, updated_at FROM secrets WHERE tenant = ? ORDER BY name")
                .bind(tenant)
                .fetch_all(self.pool())
                .await
                .map_err(db)?;
        Ok(rows.into_iter().map(|(name, updated_at)| SecretInfo { name, updated_at }).collect())
    }

    async fn delete_secret(&self, tenant: &str, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM secrets WHERE tenant = ? AND name = ?")
            .bind(tenant)
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::InstanceUpdate;
    use crate::store::memory::conformance::{self, entry, record, tenant};
    use serde_json::json;

    conformance::conformance_tests!(Arc::new(SqliteStore::open_in_memory().await.unwrap()));

    #[test]
    fn is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<SqliteStore>();
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested.db");
        let digest = Digest::of(b"bytes");
        let r = record("t", "order", 1, Some("k"));
        let acme = tenant(1, "acme", 1_000);
        {
            let store = SqliteStore::open(&path).await.unwrap();
            store.put_plugin("t", "p", digest, b"bytes").await.unwrap();
            let pins = BTreeMap::from([("p".to_string(), digest)]);
            store.deploy("t", "order", &json!({"a": 1}), &pins).await.unwrap();
            store.start(&r, vec![entry(&r.id, 1)]).await.unwrap();
            let kv = vec![(
                KvScope { tenant: "t".into(), plugin: "p".into() },
                KvWrites::from([("k".into(), Some(vec![7]))]),
            )];
            InstanceStore::commit(&store, Commit { entries: vec![entry(&r.id, 2)], kv, ..Commit::default() })
                .await
                .unwrap();
            store.create_tenant(&acme, "key").await.unwrap().unwrap();
            assert!(store.set_quota(&acme.id, &json!({"max_instances": 3})).await.unwrap());
        }
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.plugin_versions("t", "p").await.unwrap().len(), 1);
        assert_eq!(store.plugin_bytes(digest).await.unwrap().as_deref(), Some(b"bytes".as_slice()));
        assert_eq!(store.process_version("t", "order", None).await.unwrap().unwrap().document, json!({"a": 1}));
        assert!(store.plugin_in_use("t", "p").await.unwrap());
        assert_eq!(store.instance("t", &r.id).await.unwrap(), Some(r.clone()));
        assert_eq!(store.journal(&r.id).await.unwrap().len(), 2);
        let scope = KvScope { tenant: "t".into(), plugin: "p".into() };
        assert_eq!(store.get(&scope, "k").await.unwrap(), Some(vec![7]));
        let again = store.start(&record("t", "order", 2, Some("k")), vec![]).await.unwrap();
        assert_eq!(again, Started::Existing(r.id.clone()), "idempotency keys survive too");
        assert_eq!(store.tenant_by_key("key").await.unwrap(), Some(acme.clone()));
        assert_eq!(store.quota(&acme.id).await.unwrap(), Some(json!({"max_instances": 3})));
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(store.pool()).await.unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(store.pool()).await.unwrap();
        assert_eq!(sync, 2, "synchronous = FULL");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_commits_are_group_committed() {
        // A file store with synchronous = FULL: each transaction is an fsync, as in production.
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("alur.db")).await.unwrap();
        let r = record("t", "order", 1, None);
        store.start(&r, vec![entry(&r.id, 1)]).await.unwrap();
        let before = store.transactions_committed();
        let tasks: Vec<_> = (2..=201)
            .map(|seq| {
                let store = store.clone();
                let id = r.id.clone();
                tokio::spawn(async move {
                    InstanceStore::commit(&store, Commit { entries: vec![entry(&id, seq)], ..Commit::default() }).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let transactions = store.transactions_committed() - before;
        let journal = store.journal(&r.id).await.unwrap();
        assert_eq!(journal.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=201).collect::<Vec<_>>());
        assert!((1..200).contains(&transactions), "200 commits took {transactions} transactions");
        eprintln!("200 concurrent commits took {transactions} transactions");
    }

    /// Queues a commit that keeps the writer busy for a while (thousands of journal rows), so that what is
    /// queued next lands in one batch however the writer thread is scheduled. Its transaction is one more.
    async fn busy_writer(store: &SqliteStore) -> Durable {
        let blocker = record("t", "blocker", 900, None);
        store.start(&blocker, Vec::new()).await.unwrap();
        let entries = (1..=20_000).map(|seq| entry(&blocker.id, seq)).collect();
        store.queue_commit(Commit { entries, ..Commit::default() }).await.unwrap()
    }

    /// Spawns every commit before yielding, behind [`busy_writer`], so they all queue before the writer takes
    /// its next batch, and land in it together.
    async fn commit_together(store: &SqliteStore, commits: Vec<Commit>) -> Vec<Result<()>> {
        let busy = busy_writer(store).await;
        let tasks: Vec<_> = commits
            .into_iter()
            .map(|commit| {
                let store = store.clone();
                tokio::spawn(async move { InstanceStore::commit(&store, commit).await })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        busy.await.unwrap();
        results
    }

    #[tokio::test]
    async fn a_failing_request_fails_alone_in_its_batch_with_the_later_ones_of_its_instance() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let (r, q) = (record("t", "order", 1, None), record("t", "order", 2, None));
        store.start(&r, vec![entry(&r.id, 1)]).await.unwrap();
        store.start(&q, vec![entry(&q.id, 1)]).await.unwrap();
        let before = store.transactions_committed();
        let scope = KvScope { tenant: "t".into(), plugin: "p".into() };
        let bad = Commit {
            entries: vec![entry(&r.id, 3), entry(&r.id, 1)],
            kv: vec![(scope.clone(), KvWrites::from([("bad".into(), Some(vec![1]))]))],
            ..Commit::default()
        };
        let commits = vec![
            Commit { entries: vec![entry(&r.id, 2)], ..Commit::default() },
            bad,
            Commit { entries: vec![entry(&q.id, 2)], ..Commit::default() },
            // Queued behind the failed one: storing it would leave a hole in the journal.
            Commit { entries: vec![entry(&r.id, 4)], ..Commit::default() },
        ];
        let results = commit_together(&store, commits).await;
        assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok(), "{results:?}");
        assert!(matches!(&results[3], Err(StoreError::Database(m)) if m.contains("earlier commit")), "{results:?}");
        assert_eq!(store.transactions_committed() - before, 3, "the blocker's start and commit, then one batch");
        let seqs = |id: String| {
            let store = store.clone();
            async move { store.journal(&id).await.unwrap().into_iter().map(|e| e.seq).collect::<Vec<_>>() }
        };
        assert_eq!(seqs(r.id.clone()).await, vec![1, 2], "the failed request's seq 3 is rolled back with it");
        assert_eq!(seqs(q.id.clone()).await, vec![1, 2]);
        assert_eq!(store.get(&scope, "bad").await.unwrap(), None);
        // And in later batches too.
        let later = InstanceStore::commit(&store, Commit { entries: vec![entry(&r.id, 3)], ..Commit::default() });
        assert!(later.await.is_err());
    }

    #[tokio::test]
    async fn an_instance_started_and_updated_in_one_batch_ends_as_its_last_update_says() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let (r, q) = (record("t", "order", 1, None), record("t", "order", 2, None));
        store.start(&q, vec![entry(&q.id, 1)]).await.unwrap();
        let update = |id: &str, status, n: i64| InstanceUpdate {
            id: id.into(),
            status,
            output: (status == InstanceStatus::Completed).then(|| json!({"done": n})),
            error: (status == InstanceStatus::Failed).then(|| json!({"code": "e"})),
            activity: json!({"steps": [format!("step {n}")]}),
            updated_at: 2_000 + n,
        };
        let commit = |id: &str, seq, status, n| Commit {
            entries: vec![entry(id, seq)],
            updates: vec![update(id, status, n)],
            ..Commit::default()
        };
        // Queued behind a busy writer, so that they share a batch.
        let before = store.transactions_committed();
        let busy = busy_writer(&store).await;
        let started = store.queue_start(&r, vec![entry(&r.id, 1)]).await.unwrap();
        let mut queued = Vec::new();
        for c in [
            commit(&r.id, 2, InstanceStatus::Running, 1),
            commit(&q.id, 2, InstanceStatus::Running, 2),
            commit(&r.id, 3, InstanceStatus::Running, 3),
            commit(&r.id, 4, InstanceStatus::Completed, 4),
            commit(&q.id, 3, InstanceStatus::Failed, 5),
        ] {
            queued.push(store.queue_commit(c).await.unwrap());
        }
        assert_eq!(started.await.unwrap(), Started::Created);
        for d in queued {
            d.await.unwrap();
        }
        busy.await.unwrap();
        assert_eq!(store.transactions_committed() - before, 3, "the blocker's start and commit, then one batch");
        let mut expect_r = r.clone();
        update(&r.id, InstanceStatus::Completed, 4).apply_to(&mut expect_r);
        let mut expect_q = q.clone();
        update(&q.id, InstanceStatus::Failed, 5).apply_to(&mut expect_q);
        assert_eq!(store.instance("t", &r.id).await.unwrap(), Some(expect_r));
        assert_eq!(store.instance("t", &q.id).await.unwrap(), Some(expect_q));
        assert_eq!(store.journal(&r.id).await.unwrap().len(), 4);
        let open: Vec<_> = store.unfinished().await.unwrap().into_iter().map(|i| i.id).collect();
        assert!(!open.contains(&r.id) && !open.contains(&q.id), "both ended, and the status indexes say so: {open:?}");
    }

    #[tokio::test]
    async fn resuming_finds_the_unfinished_instances_through_their_partial_index() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        // The rows of EXPLAIN QUERY PLAN are (id, parent, notused, detail).
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", unfinished_query()))
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(3))
            .collect();
        assert!(plan.iter().any(|d| d.contains("instances_running")), "{plan:?}");
    }

    #[tokio::test]
    async fn a_database_of_the_first_schemas_is_upgraded_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let (r, done) = (record("t", "order", 1, Some("k")), record("t", "order", 2, None));
        {
            // The schema as the first three migrations left it, with an instance running and one finished.
            let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true).foreign_keys(true);
            let pool = SqlitePool::connect_with(options).await.unwrap();
            let mut old = sqlx::migrate!("./migrations/sqlite");
            old.migrations = old.migrations.iter().filter(|m| m.version <= 3).cloned().collect::<Vec<_>>().into();
            old.run(&pool).await.unwrap();
            for (i, status) in [(&r, "running"), (&done, "completed")] {
                sqlx::query(
                    "INSERT INTO instances (id, tenant, process, version, status, input, idempotency_key, activity, \
                     created_at, updated_at) VALUES (?, 't', 'order', 1, ?, '{}', ?, '{}', 1, 1)",
                )
                .bind(&i.id)
                .bind(status)
                .bind(&i.idempotency_key)
                .execute(&pool)
                .await
                .unwrap();
                for seq in 1..=3 {
                    sqlx::query("INSERT INTO journal (instance, seq, at, event) VALUES (?, ?, 5, '{\"type\":\"e\"}')")
                        .bind(&i.id)
                        .bind(seq)
                        .execute(&pool)
                        .await
                        .unwrap();
                }
            }
            pool.close().await;
        }
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.journal(&r.id).await.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(store.journal(&done.id).await.unwrap().len(), 3);
        let unfinished: Vec<_> = store.unfinished().await.unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(unfinished, std::slice::from_ref(&r.id));
        // The journal grows, still belongs to its instance, and a seq is still taken once.
        InstanceStore::commit(&store, Commit { entries: vec![entry(&r.id, 4)], ..Commit::default() }).await.unwrap();
        assert_eq!(store.journal(&r.id).await.unwrap().len(), 4);
        let taken = InstanceStore::commit(&store, Commit { entries: vec![entry(&done.id, 3)], ..Commit::default() });
        assert!(taken.await.is_err());
        let orphan = InstanceStore::commit(&store, Commit { entries: vec![entry("nobody", 1)], ..Commit::default() });
        assert!(orphan.await.is_err());
        // Idempotency keys survive the upgrade.
        let again = store.start(&record("t", "order", 3, Some("k")), vec![]).await.unwrap();
        assert_eq!(again, Started::Existing(r.id.clone()));
        let without: String = sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE name = 'journal'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(without.contains("WITHOUT ROWID"), "{without}");
    }

    #[tokio::test]
    async fn two_starts_with_one_key_in_one_batch() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let (a, b) = (record("t", "order", 1, Some("k")), record("t", "order", 2, Some("k")));
        let before = store.transactions_committed();
        let busy = busy_writer(&store).await;
        let spawn = |r: InstanceRecord| {
            let store = store.clone();
            tokio::spawn(async move { store.start(&r, vec![entry(&r.id, 1)]).await.unwrap() })
        };
        let (ha, hb) = (spawn(a.clone()), spawn(b.clone()));
        assert_eq!(ha.await.unwrap(), Started::Created);
        assert_eq!(hb.await.unwrap(), Started::Existing(a.id.clone()));
        busy.await.unwrap();
        assert_eq!(store.transactions_committed() - before, 3, "the blocker's start and commit, then one batch");
        assert!(store.journal(&b.id).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_request_that_makes_sqlite_roll_back_fails_alone() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let (r, q) = (record("t", "order", 1, None), record("t", "order", 2, None));
        store.start(&r, vec![entry(&r.id, 1)]).await.unwrap();
        store.start(&q, vec![entry(&q.id, 1)]).await.unwrap();
        // An error that makes SQLite roll back the whole transaction, as a full disk or an I/O error would.
        sqlx::query(
            "CREATE TRIGGER boom BEFORE INSERT ON journal WHEN NEW.event = '\"boom\"' \
             BEGIN SELECT RAISE(ROLLBACK, 'boom'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let before = store.transactions_committed();
        let boom = JournalEntry { event: json!("boom"), ..entry(&r.id, 3) };
        let done = InstanceUpdate {
            id: q.id.clone(),
            status: InstanceStatus::Completed,
            output: Some(json!(1)),
            error: None,
            activity: json!(null),
            updated_at: 1,
        };
        let commits = vec![
            Commit { entries: vec![entry(&r.id, 2)], ..Commit::default() },
            Commit { entries: vec![boom], ..Commit::default() },
            Commit { updates: vec![done], ..Commit::default() },
        ];
        let results = commit_together(&store, commits).await;
        assert!(matches!(&results[1], Err(StoreError::Database(m)) if m.contains("boom")), "{results:?}");
        assert!(results[0].is_ok() && results[2].is_ok(), "the others are applied on their own: {results:?}");
        assert!(store.transactions_committed() > before);
        assert_eq!(store.journal(&r.id).await.unwrap().len(), 2, "the boom entry is not stored");
        assert_eq!(store.instance("t", &q.id).await.unwrap().unwrap().status, InstanceStatus::Completed);

        // The writer goes on with the next batch, for every instance but the one whose commit failed.
        InstanceStore::commit(&store, Commit { entries: vec![entry(&q.id, 2)], ..Commit::default() }).await.unwrap();
        assert_eq!(store.journal(&q.id).await.unwrap().len(), 2);
        let refused = InstanceStore::commit(&store, Commit { entries: vec![entry(&r.id, 3)], ..Commit::default() });
        assert!(refused.await.is_err());
        let started = store.start(&record("t", "order", 3, None), vec![]).await.unwrap();
        assert_eq!(started, Started::Created);
    }

    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let r = record("t", "order", 1, None);
        store.start(&r, vec![entry(&r.id, 1)]).await.unwrap();
        let before = std::fs::metadata(store.path()).unwrap().len();
        let big = json!({"payload": "x".repeat(4000)});
        for seq in 2..200 {
            let e = JournalEntry { event: big.clone(), ..entry(&r.id, seq) };
            InstanceStore::commit(&store, Commit { entries: vec![e], ..Commit::default() }).await.unwrap();
        }
        // The writer never checkpoints (wal_autocheckpoint is off on its connection): the checkpoint thread
        // copies the journal into the database file on its own within a few of its rounds.
        for _ in 0..500 {
            if std::fs::metadata(store.path()).unwrap().len() > before + 500 * 1024 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the database file did not grow: no checkpoint ran");
    }

    #[tokio::test]
    async fn the_writer_ends_with_the_last_clone() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let counter = store.inner.writer.committed_counter();
        let other = store.clone();
        drop(store);
        other.start(&record("t", "p", 1, None), vec![]).await.unwrap();
        assert_eq!(Arc::strong_count(&counter), 4, "the store, the writer and the checkpointer still hold it");
        drop(other);
        for _ in 0..500 {
            if Arc::strong_count(&counter) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the writer and checkpoint threads did not end");
    }
}
