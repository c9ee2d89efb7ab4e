//! The journal writer of the SQLite store: one OS thread that owns the one writing connection and commits
//! instance work in groups, and one thread that checkpoints the WAL beside it.
//!
//! # Group commit
//! Callers queue their work on a channel; the writer thread takes the first request, drains whatever else is
//! queued (up to [`MAX_BATCH`]), applies all of it in one transaction, commits once (one fsync) and then
//! answers every caller. If any request fails (a taken journal seq, an unknown instance) or the transaction
//! itself is lost (SQLite rolled it back: an I/O error, a full disk, a `RAISE(ROLLBACK)`), the batch is rolled
//! back and applied again one request per transaction, so a bad request fails alone and the others are
//! stored; failures are rare, so the common batch pays for no savepoints. An idempotent start whose key is taken (by an earlier batch or earlier in
//! the same batch) answers [`Started::Existing`] and stores nothing. Once a request of an instance failed,
//! the instance's later requests are refused ([`Failed`]), so its journal never has a hole.
//!
//! A caller that stops waiting (its future dropped) after queueing does not withdraw its work: it is
//! committed all the same, nobody is told.
//!
//! # Why a thread of its own, and rusqlite
//! The writer is the one serial part of the node: every step of every instance passes through it. As a tokio
//! task on sqlx it took a cross-thread hand-off per statement (sqlx runs each connection on a worker thread)
//! and queued behind HTTP and guest tasks for a worker between them; under load a batch took ~4 ms, of which
//! ~1 ms was SQLite. Here a batch is one wake-up of this thread and straight calls into SQLite with cached
//! statements. The reads stay on the sqlx pool.
//!
//! # Checkpoints off the commit path
//! The writing connection has `wal_autocheckpoint` off, so no commit pays for copying the WAL into the
//! database (at the default of 1000 pages, every ~37th workflow did). The checkpoint thread runs a PASSIVE
//! checkpoint from its own connection whenever commits happened in the last [`CHECKPOINT_EVERY`], which
//! runs beside the writer and never blocks it. Should the WAL still grow past [`WAL_LIMIT_FRAMES`] (a
//! reader holding an old snapshot for long), the writer truncates it itself between two batches.

use super::{Millis, Started, StoreError};
use crate::sandbox::kv::{KvScope, KvWrites};
use crate::store::Result;
use lru::LruCache;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most requests the writer applies in one transaction.
pub const MAX_BATCH: usize = 512;
/// Requests that may wait for the writer before senders wait for room.
const QUEUE: usize = 4 * MAX_BATCH;
/// How often the checkpoint thread looks for new commits.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL frames beyond which the writer truncates the WAL itself (~256 MiB of 4 KiB pages).
const WAL_LIMIT_FRAMES: u64 = 65_536;

/// An instance row, encoded for SQL by the caller (so the writer only binds).
pub(super) struct InstanceRow {
    pub id: String,
    pub tenant: String,
    pub process: String,
    pub version: i64,
    pub status: &'static str,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
    pub parent: Option<String>,
    pub activity: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A journal entry, encoded by the caller (so the writer only binds).
pub(super) struct EntryRow {
    pub instance: String,
    pub seq: i64,
    pub at: i64,
    pub event: String,
}

/// A change to an instance row, encoded by the caller.
pub(super) struct UpdateRow {
    pub id: String,
    pub status: &'static str,
    pub output: Option<String>,
    pub error: Option<String>,
    pub activity: String,
    pub updated_at: i64,
}

/// What a caller queues.
pub(super) enum Work {
    Start { instance: Box<InstanceRow>, entries: Vec<EntryRow> },
    Commit { entries: Vec<EntryRow>, updates: Vec<UpdateRow>, kv: Vec<(KvScope, KvWrites)> },
}

impl Work {
    /// The instances whose rows or journals this work writes.
    fn instances(&self) -> impl Iterator<Item = &str> {
        let (first, entries, updates): (Option<&str>, &[EntryRow], &[UpdateRow]) = match self {
            Work::Start { instance, entries } => (Some(instance.id.as_str()), entries, &[]),
            Work::Commit { entries, updates, .. } => (None, entries, updates),
        };
        first
            .into_iter()
            .chain(entries.iter().map(|e| e.instance.as_str()))
            .chain(updates.iter().map(|u| u.id.as_str()))
    }
}

/// What the writer answers, once the work is committed.
pub(super) enum Done {
    Started(Started),
    Committed,
}

struct Request {
    work: Work,
    reply: oneshot::Sender<Result<Done>>,
}

/// The queue in front of the writer thread. The threads end when the last clone is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    requests: mpsc::Sender<Request>,
    committed: Arc<AtomicU64>,
}

impl Writer {
    /// Opens the writing connection on `path` (migrated already) and starts the writer and checkpoint threads.
    pub fn start(path: &Path, synchronous_full: bool, busy_timeout: Duration) -> Result<Writer> {
        let conn = open(path, busy_timeout)?;
        let sql = |e: rusqlite::Error| StoreError::Database(format!("opening the journal writer: {e}"));
        conn.pragma_update(None, "synchronous", if synchronous_full { "FULL" } else { "OFF" }).map_err(sql)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(sql)?;
        // A statement that must be undone alone needs a statement journal: in memory, not a file created and
        // unlinked per transaction.
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(sql)?;
        let checkpointer = open(path, busy_timeout)?;
        let (requests, queue) = mpsc::channel(QUEUE);
        let committed = Arc::new(AtomicU64::new(0));
        let wal_frames = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let spawn_error = |e: std::io::Error| StoreError::Database(format!("starting the journal writer: {e}"));
        let (seen, frames) = (committed.clone(), wal_frames.clone());
        std::thread::Builder::new()
            .name("alur-checkpoint".into())
            .spawn(move || run_checkpoints(checkpointer, stopped, seen, frames))
            .map_err(spawn_error)?;
        let counter = committed.clone();
        std::thread::Builder::new()
            .name("alur-journal".into())
            .spawn(move || {
                run(conn, queue, counter, wal_frames);
                drop(stop);
            })
            .map_err(spawn_error)?;
        Ok(Writer { requests, committed })
    }

    /// Queues `work` behind everything queued before; the answer comes once its batch is committed.
    pub async fn queue(&self, work: Work) -> Result<oneshot::Receiver<Result<Done>>> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { work, reply }).await.map_err(|_| StoreError::Closed)?;
        Ok(answer)
    }

    /// Transactions committed so far (each holds one or more requests).
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// The counter itself, for tests that watch the writer end.
    #[cfg(test)]
    pub fn committed_counter(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }
}

fn open(path: &Path, busy_timeout: Duration) -> Result<Connection> {
    let sql = |e: rusqlite::Error| StoreError::Database(format!("opening {}: {e}", path.display()));
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    conn.busy_timeout(busy_timeout).map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sql)?;
    // Already WAL (the pool set it when it created the file); saying it again costs nothing.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
    Ok(conn)
}

/// Applies batches until every sender is gone.
fn run(mut conn: Connection, mut queue: mpsc::Receiver<Request>, committed: Arc<AtomicU64>, wal: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut failed = Failed::new();
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        match apply_batch(&mut conn, &batch, &mut failed) {
            Ok(results) => {
                committed.fetch_add(1, Ordering::Relaxed);
                for (request, result) in batch.drain(..).zip(results) {
                    // A caller that stopped waiting is not an error: its work is committed all the same.
                    let _ = request.reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, requests = batch.len(), "store: group commit failed");
                for request in batch.drain(..) {
                    failed.remember(&request.work);
                    let _ = request.reply.send(Err(StoreError::Database(error.clone())));
                }
            }
        }
        if wal.load(Ordering::Relaxed) > WAL_LIMIT_FRAMES {
            match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                Ok(()) => wal.store(0, Ordering::Relaxed),
                Err(e) => tracing::warn!(error = %e, "store: could not truncate the WAL"),
            }
        }
    }
}

/// Checkpoints the WAL whenever commits happened since the last look, until the writer ends.
fn run_checkpoints(
    conn: Connection,
    writer: std::sync::mpsc::Receiver<()>,
    committed: Arc<AtomicU64>,
    wal: Arc<AtomicU64>,
) {
    let mut last = committed.load(Ordering::Relaxed);
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = writer.recv_timeout(CHECKPOINT_EVERY) {
        let now = committed.load(Ordering::Relaxed);
        if now == last {
            continue;
        }
        last = now;
        // (busy, frames in the WAL, frames checkpointed)
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))) {
            Ok((frames, _copied)) => wal.store(u64::try_from(frames).unwrap_or(0), Ordering::Relaxed),
            Err(e) => tracing::debug!(error = %e, "store: checkpoint skipped"),
        }
    }
}

/// Instances one of whose commits failed. Their later commits, queued before the failure was known, are
/// refused, so a journal never has a hole: the instance resumes from its last durable event after a restart.
/// Bounded: failures are rare, and an instance's queued commits are all refused within a few batches.
struct Failed(LruCache<String, ()>);

impl Failed {
    fn new() -> Self {
        Failed(LruCache::new(NonZeroUsize::new(65_536).unwrap_or(NonZeroUsize::MIN)))
    }

    fn refuses(&self, work: &Work) -> Option<StoreError> {
        let id = work.instances().find(|id| self.0.contains(*id))?;
        Some(StoreError::Database(format!("an earlier commit of instance {id} failed")))
    }

    fn remember(&mut self, work: &Work) {
        for id in work.instances() {
            self.0.put(id.to_string(), ());
        }
    }
}

/// Commits a batch: all of it in one transaction, or, if any part of that fails, one transaction per request,
/// so a bad request fails alone. `Err` = nothing could be done at all.
fn apply_batch(conn: &mut Connection, batch: &[Request], failed: &mut Failed) -> Result<Vec<Result<Done>>, String> {
    match apply_together(conn, batch, failed) {
        Ok(results) => Ok(results),
        Err(cause) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            tracing::debug!(%cause, requests = batch.len(), "store: batch failed as a whole; applying one by one");
            let mut results = Vec::with_capacity(batch.len());
            for request in batch {
                if let Some(refused) = failed.refuses(&request.work) {
                    results.push(Err(refused));
                    continue;
                }
                conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
                let result = apply(conn, &request.work, None);
                let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
                if let Err(e) = conn.execute_batch(end)
                    && result.is_ok()
                {
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    return Err(format!("{e} (the transaction was rolled back)"));
                }
                if result.is_err() {
                    failed.remember(&request.work);
                }
                results.push(result);
            }
            Ok(results)
        }
    }
}

/// The fast path of [`apply_batch`]: every request in one transaction, no savepoints (a savepoint makes SQLite
/// keep a statement journal of every page it changes). Any failure sends the whole batch to the slow path; the
/// transaction is left open for the caller to roll back.
fn apply_together(conn: &mut Connection, batch: &[Request], failed: &Failed) -> Result<Vec<Result<Done>>, String> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    let latest = Latest::of(batch.iter().map(|r| &r.work));
    let mut results = Vec::with_capacity(batch.len());
    for (n, request) in batch.iter().enumerate() {
        if failed.refuses(&request.work).is_some() {
            return Err(format!("request {} is of an instance with a failed commit", n + 1));
        }
        results
            .push(Ok(apply(conn, &request.work, Some((&latest, n))).map_err(|e| format!("request {}: {e}", n + 1))?));
    }
    conn.execute_batch("COMMIT").map_err(|e| e.to_string())?;
    Ok(results)
}

/// The last update of every instance in one batch. The batch is one transaction, so only the row an instance
/// has at its end matters: its earlier updates in the batch are skipped, and an instance started in the same
/// batch is inserted as its last update leaves it. Under load a workflow's start, steps and end often share a
/// batch, and each skipped `UPDATE` is a row rewritten for nothing.
struct Latest<'a> {
    /// Instance id -> (request, update) of its last update in the batch.
    last: HashMap<&'a str, (usize, usize)>,
    /// The instances the batch inserts (no idempotency key: a keyed start may turn out to insert nothing).
    started: HashSet<&'a str>,
    updates: Vec<&'a [UpdateRow]>,
}

impl<'a> Latest<'a> {
    fn of(works: impl Iterator<Item = &'a Work>) -> Self {
        let mut latest = Latest { last: HashMap::new(), started: HashSet::new(), updates: Vec::new() };
        for (n, work) in works.enumerate() {
            match work {
                Work::Start { instance, .. } => {
                    if instance.idempotency_key.is_none() {
                        latest.started.insert(instance.id.as_str());
                    }
                    latest.updates.push(&[]);
                }
                Work::Commit { updates, .. } => {
                    for (k, u) in updates.iter().enumerate() {
                        latest.last.insert(u.id.as_str(), (n, k));
                    }
                    latest.updates.push(updates);
                }
            }
        }
        latest
    }

    /// The update the insert of `id` should carry instead of its own fields, if the batch updates it later.
    fn for_insert(&self, id: &str) -> Option<&'a UpdateRow> {
        if !self.started.contains(id) {
            return None;
        }
        let &(n, k) = self.last.get(id)?;
        self.updates.get(n)?.get(k)
    }

    /// Whether update `k` of request `n` must be written: it is the last one of its instance, and the instance
    /// was not inserted in this batch (its insert carried it).
    fn writes(&self, id: &str, n: usize, k: usize) -> bool {
        !self.started.contains(id) && self.last.get(id) == Some(&(n, k))
    }
}

/// Applies one request; `latest` (with the request's place in the batch) lets it skip what a later request of
/// the same transaction overwrites.
fn apply(conn: &Connection, work: &Work, latest: Option<(&Latest<'_>, usize)>) -> Result<Done> {
    let db = |e: rusqlite::Error| StoreError::Database(e.to_string());
    match work {
        Work::Start { instance: i, entries } => {
            if let Some(key) = &i.idempotency_key {
                let existing: Option<String> = conn
                    .prepare_cached("SELECT id FROM instances WHERE tenant = ? AND process = ? AND idempotency_key = ?")
                    .and_then(|mut s| s.query_row(params![i.tenant, i.process, key], |r| r.get(0)).optional())
                    .map_err(db)?;
                if let Some(id) = existing {
                    return Ok(Done::Started(Started::Existing(id)));
                }
            }
            conn.prepare_cached(
                "INSERT INTO instances (id, tenant, process, version, status, input, output, error, idempotency_key, \
                 parent, activity, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                let last = latest.and_then(|(latest, _)| latest.for_insert(&i.id));
                let (status, output, error, activity, updated_at) = match last {
                    Some(u) => (u.status, &u.output, &u.error, &u.activity, u.updated_at),
                    None => (i.status, &i.output, &i.error, &i.activity, i.updated_at),
                };
                s.execute(params![
                    i.id,
                    i.tenant,
                    i.process,
                    i.version,
                    status,
                    i.input,
                    output,
                    error,
                    i.idempotency_key,
                    i.parent,
                    activity,
                    i.created_at,
                    updated_at
                ])
            })
            .map_err(db)?;
            insert_entries(conn, entries)?;
            Ok(Done::Started(Started::Created))
        }
        Work::Commit { entries, updates, kv } => {
            insert_entries(conn, entries)?;
            for (k, u) in updates.iter().enumerate() {
                if let Some((latest, n)) = latest
                    && !latest.writes(&u.id, n, k)
                {
                    continue;
                }
                // An instance is inserted running and never runs again once it ends, so an update that says
                // "running" leaves the status (and the two indexes on it) alone.
                let changed = if u.status == "running" {
                    conn.prepare_cached(
                        "UPDATE instances SET output = ?, error = ?, activity = ?, updated_at = ? WHERE id = ?",
                    )
                    .and_then(|mut s| s.execute(params![u.output, u.error, u.activity, u.updated_at, u.id]))
                } else {
                    conn.prepare_cached(
                        "UPDATE instances SET status = ?, output = ?, error = ?, activity = ?, updated_at = ? \
                         WHERE id = ?",
                    )
                    .and_then(|mut s| s.execute(params![u.status, u.output, u.error, u.activity, u.updated_at, u.id]))
                }
                .map_err(db)?;
                if changed == 0 {
                    return Err(StoreError::Database(format!("update of unknown instance {}", u.id)));
                }
            }
            for (scope, writes) in kv {
                apply_kv(conn, scope, writes).map_err(db)?;
            }
            Ok(Done::Committed)
        }
    }
}

fn insert_entries(conn: &Connection, entries: &[EntryRow]) -> Result<()> {
    let mut insert = conn
        .prepare_cached("INSERT INTO journal (instance, seq, at, event) VALUES (?, ?, ?, ?)")
        .map_err(|e| StoreError::Database(e.to_string()))?;
    for e in entries {
        insert.execute(params![e.instance, e.seq, e.at, e.event]).map_err(|e| StoreError::Database(e.to_string()))?;
    }
    Ok(())
}

fn apply_kv(conn: &Connection, scope: &KvScope, writes: &KvWrites) -> Result<(), rusqlite::Error> {
    for (key, value) in writes {
        match value {
            Some(value) => {
                conn.prepare_cached(
                    "INSERT INTO kv (tenant, plugin, key, value) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (tenant, plugin, key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![scope.tenant, scope.plugin, key, value])?;
            }
            None => {
                conn.prepare_cached("DELETE FROM kv WHERE tenant = ? AND plugin = ? AND key = ?")?.execute(params![
                    scope.tenant,
                    scope.plugin,
                    key
                ])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(id: &str, key: Option<&str>) -> Work {
        let instance = Box::new(InstanceRow {
            id: id.into(),
            tenant: "t".into(),
            process: "p".into(),
            version: 1,
            status: "running",
            input: "{}".into(),
            output: None,
            error: None,
            idempotency_key: key.map(str::to_string),
            parent: None,
            activity: "{}".into(),
            created_at: 1,
            updated_at: 1,
        });
        Work::Start { instance, entries: Vec::new() }
    }

    fn commit(ids: &[&str]) -> Work {
        let update = |id: &&str| UpdateRow {
            id: id.to_string(),
            status: "running",
            output: None,
            error: None,
            activity: "{}".into(),
            updated_at: 2,
        };
        Work::Commit { entries: Vec::new(), updates: ids.iter().map(update).collect(), kv: Vec::new() }
    }

    #[test]
    fn only_the_last_update_of_an_instance_in_a_batch_is_written() {
        let batch = [start("a", None), commit(&["a", "b"]), start("k", Some("key")), commit(&["a"]), commit(&["k"])];
        let latest = Latest::of(batch.iter());
        // a: started here, so its last update rides on the insert and no UPDATE is written.
        assert!(latest.for_insert("a").is_some_and(|u| std::ptr::eq(u, batch_update(&batch, 3, 0))));
        assert!(!latest.writes("a", 1, 0) && !latest.writes("a", 3, 0));
        // b: started earlier; its one update is written.
        assert!(latest.for_insert("b").is_none() && latest.writes("b", 1, 1));
        // k: a keyed start may insert nothing, so its update is written as it is.
        assert!(latest.for_insert("k").is_none() && latest.writes("k", 4, 0));
    }

    fn batch_update(batch: &[Work], n: usize, k: usize) -> &UpdateRow {
        match &batch[n] {
            Work::Commit { updates, .. } => &updates[k],
            Work::Start { .. } => panic!("not a commit"),
        }
    }
}
