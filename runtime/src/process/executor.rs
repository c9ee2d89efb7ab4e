//! The driver of the state machine: it carries out [`Action`]s (steps through the sandbox, timers, signals,
//! sub-processes, cancellation), journals every event with its effects, and resumes unfinished instances
//! after a restart.
//!
//! # Concurrency
//! Each live instance has one async mutex around its [`Machine`]; an event is applied and its journal commit
//! awaited under it, so an instance's events are strictly ordered while any number of instances proceed in
//! parallel. Step attempts run as separate tasks, so a slow or spinning step holds only its own instance's
//! token (and one sandbox slot), never a lock.
//!
//! # Durability
//! A plugin step's `StepStarted` is journaled in the same commit as the event that led to the step (the
//! previous step's completion, the start), and its completion with its kv writes in one commit. After a
//! crash, [`Executor::recover`] replays each unfinished journal: completed steps are never run again, a
//! started step runs again as the next attempt, timers are re-armed (those due while down fire at once,
//! and once, as a fired timer is journaled and a stale one ignored), and awaited signals are awaited again.
//!
//! # Pipelined commits
//! The instance's lock is held while an event is applied and its commit *queued*, not while the commit is
//! fsynced: commits of one instance become durable in the order they were queued, so the next step may run
//! while the previous one's completion is being written. Nothing that anybody outside could see happens
//! before the events that caused it are durable:
//! - the instance's end (the `wait` answer, the parent's notification, the open-instance quota) waits for
//!   its last commit; a signal or cancel is acknowledged once its event is durable; a start once its
//!   instance is, and a start with an idempotency key runs nothing before it knows it created the instance;
//! - a step's kv writes are visible to the next attempt of its scope only once they are durable (the lease
//!   is held until then);
//! - a step that can reach the outside world (an HTTP grant) starts only once everything before it is
//!   durable, and so does the cancellation of a sub-process.
//!
//! A step that ran while the commit before it was not yet durable is not "completed" until its own commit
//! is, so a crash in between runs both again, which is what a crash during the step would do anyway. When a
//! commit fails, the store refuses the instance's later commits and the instance is dropped from memory: it
//! resumes from its last durable event after a restart.

use super::definition::{self, Problem};
use super::event::{ErrorInfo, Event, TokenId};
use super::machine::{Action, Machine};
use super::model::{PluginCall, Process, StepIdx, StepKind};
use crate::digest::Digest;
use crate::quota::Quota;
use crate::sandbox::StepGrants;
use crate::sandbox::kv::{KvScope, KvWrites};
use crate::sandbox::limits::StepLimits;
use crate::sandbox::outcome::StepFailure;
use crate::sandbox::redact::Redactor;
use crate::sandbox::{LoadError, PreparedComponent, Sandbox, StepContext, StepRequest};
use crate::secrets::Secrets;
use crate::store::{
    Commit, Durable, InstanceRecord, InstanceStatus, InstanceStore, InstanceUpdate, JournalEntry, Millis, PluginStore,
    PluginVersion, ProcessStore, ProcessVersion, StoreError, now_millis,
};
use lru::LruCache;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// An executor failure, as the API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// No such process (or version) for this tenant.
    #[error("process `{0}` not found")]
    ProcessNotFound(String),
    /// No such instance for this tenant.
    #[error("instance not found")]
    InstanceNotFound,
    /// The definition is invalid.
    #[error("the definition has {} problem(s)", .0.len())]
    InvalidDefinition(Vec<Problem>),
    /// The instance input does not satisfy the process's input schema.
    #[error("the input does not satisfy the process's input schema")]
    InvalidInput(Vec<String>),
    /// The instance does not wait for this signal.
    #[error("the instance is not waiting for signal `{0}`")]
    NotWaiting(String),
    /// The instance is finished.
    #[error("the instance is already {0}")]
    Finished(&'static str),
    /// The tenant has as many open instances as its quota allows.
    #[error("the tenant already has {limit} open instances, its quota")]
    TooManyOpen {
        /// The quota.
        limit: usize,
    },
    /// The plugin was rejected.
    #[error(transparent)]
    Plugin(#[from] LoadError),
    /// The secrets could not be read.
    #[error("secrets: {0}")]
    Secrets(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = ExecutorError> = std::result::Result<T, E>;

/// How to start an instance.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// Tenant id.
    pub tenant: String,
    /// Process name.
    pub process: String,
    /// A version, or the latest.
    pub version: Option<u32>,
    /// The input.
    pub input: Value,
    /// Starting twice with the same key returns the first instance.
    pub idempotency_key: Option<String>,
}

/// A started (or found) instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    /// Its id.
    pub id: String,
    /// `false` when the idempotency key matched an existing instance.
    pub created: bool,
}

/// A deployed version, compiled.
struct Version {
    process: Arc<Process>,
    plugins: BTreeMap<String, Digest>,
    version: u32,
}

/// A running instance held in memory.
struct Live {
    record: InstanceRecord,
    parent: Option<(String, TokenId)>,
    version: Arc<Version>,
    state: tokio::sync::Mutex<LiveState>,
    /// Publishes how the instance ended, once that is durable (for `wait`).
    done: watch::Sender<Option<Ending>>,
    /// How far its journal is durable, for the actions that must wait for it.
    durable: watch::Sender<Durability>,
}

/// How a live instance left memory.
#[derive(Debug, Clone)]
enum Ending {
    /// It finished: its final record.
    Finished(Box<InstanceRecord>),
    /// A commit failed: the store has what is durable, and the instance resumes from it after a restart.
    Abandoned,
}

/// The journal's durable prefix.
#[derive(Debug, Clone, Copy, Default)]
struct Durability {
    /// Every event up to this seq is durable.
    seq: u64,
    /// A commit failed: nothing more will become durable.
    broken: bool,
}

/// What waits, outside the instance's lock, for a queued commit: its durability, then what only a durable
/// journal may cause.
#[must_use = "the commit's effects follow only once it is settled"]
struct Settle {
    durable: Durable,
    /// The last seq of the commit.
    seq: u64,
    /// The instance's final record, when the commit ends it.
    finished: Option<InstanceRecord>,
}

struct LiveState {
    machine: Machine,
    next_seq: u64,
}

struct Inner {
    sandbox: Arc<Sandbox>,
    instances: Arc<dyn InstanceStore>,
    processes: Arc<dyn ProcessStore>,
    plugins: Arc<dyn PluginStore>,
    defaults: StepLimits,
    // std mutexes: map lookups and inserts only, never held across an await.
    live: Mutex<HashMap<String, Arc<Live>>>,
    versions: Mutex<LruCache<(String, String, u32), Arc<Version>>>,
    /// The latest version number per (tenant, process), so a start does not read the store. Deploys through
    /// this executor update it; with several nodes sharing a database (PostgreSQL, later) it needs invalidation.
    latest: Mutex<HashMap<(String, String), u32>>,
    /// Step attempts running now, for the shutdown drain.
    in_flight: std::sync::atomic::AtomicUsize,
    /// Open (unfinished) instances per tenant, for the open-instance quota.
    open: Mutex<HashMap<String, usize>>,
    /// Where steps' `secrets:` come from; without it, a step that names a secret fails.
    secrets: std::sync::OnceLock<Secrets>,
}

/// The process executor of one runtime node.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

/// The stores the executor works on.
#[derive(Clone)]
pub struct Stores {
    /// Instances and journals.
    pub instances: Arc<dyn InstanceStore>,
    /// Process versions.
    pub processes: Arc<dyn ProcessStore>,
    /// Plugin versions and bytes.
    pub plugins: Arc<dyn PluginStore>,
}

impl Executor {
    /// An executor over `stores`, running steps in `sandbox` with `defaults` as per-step limits.
    pub fn new(sandbox: Arc<Sandbox>, stores: Stores, defaults: StepLimits) -> Self {
        Executor {
            inner: Arc::new(Inner {
                sandbox,
                instances: stores.instances,
                processes: stores.processes,
                plugins: stores.plugins,
                defaults,
                live: Mutex::new(HashMap::new()),
                versions: Mutex::new(LruCache::new(NonZeroUsize::new(4096).unwrap_or(NonZeroUsize::MIN))),
                latest: Mutex::new(HashMap::new()),
                in_flight: std::sync::atomic::AtomicUsize::new(0),
                open: Mutex::new(HashMap::new()),
                secrets: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Gives steps their `secrets:` from `secrets` (once; later calls are ignored).
    pub fn set_secrets(&self, secrets: Secrets) {
        let _ = self.inner.secrets.set(secrets);
    }

    /// Validates, compiles and stores a plugin version (the same bytes again return the existing version).
    pub async fn put_plugin(&self, tenant: &str, name: &str, bytes: Vec<u8>) -> Result<(PluginVersion, bool)> {
        let bytes: Arc<[u8]> = bytes.into();
        let prepared = self.inner.sandbox.load(bytes.clone()).await?;
        Ok(self.inner.plugins.put_plugin(tenant, name, prepared.digest, &bytes).await?)
    }

    /// Validates a definition, pins its plugins to their latest digests and stores it as the next version.
    pub async fn deploy(&self, tenant: &str, document: Value) -> Result<ProcessVersion> {
        self.deploy_within(tenant, document, &Quota::default()).await
    }

    /// [`Executor::deploy`], refusing plugin steps whose limits exceed the tenant's `quota` ceilings.
    pub async fn deploy_within(&self, tenant: &str, document: Value, quota: &Quota) -> Result<ProcessVersion> {
        let process = definition::compile(document.clone()).map_err(ExecutorError::InvalidDefinition)?;
        let mut pinned = BTreeMap::new();
        let mut problems = quota.check_steps(&process, &document, &self.inner.defaults);
        problems.extend(self.missing_secrets(tenant, &process, &document).await?);
        for name in process.plugins() {
            match self.inner.plugins.plugin_versions(tenant, name).await?.last() {
                Some(v) => {
                    pinned.insert(name.to_string(), v.digest);
                }
                None => problems.extend(plugin_paths(&document, name).into_iter().map(|path| Problem {
                    path,
                    message: format!("unknown plugin `{name}`: upload it before deploying"),
                })),
            }
        }
        if !problems.is_empty() {
            return Err(ExecutorError::InvalidDefinition(problems));
        }
        let deployed = self.inner.processes.deploy(tenant, &process.name, &document, &pinned).await?;
        self.inner
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((tenant.to_string(), deployed.name.clone()), deployed.version);
        Ok(deployed)
    }

    /// Every `secrets:` reference of `process` to a secret the tenant has not set.
    async fn missing_secrets(&self, tenant: &str, process: &Process, document: &Value) -> Result<Vec<Problem>> {
        let mut problems = Vec::new();
        let names = match self.inner.secrets.get() {
            Some(s) => s.list(tenant).await.map_err(|e| ExecutorError::Secrets(e.to_string()))?,
            None => Vec::new(),
        };
        for step in &process.steps {
            let StepKind::Plugin(call) = &step.kind else { continue };
            for (key, name) in &call.secrets {
                if !names.iter().any(|s| &s.name == name) {
                    problems.push(Problem {
                        path: format!("{}/secrets/{key}", crate::quota::step_path(document, &step.id)),
                        message: format!("secret `{name}` is not set: PUT /v1/secrets/{name} first"),
                    });
                }
            }
        }
        Ok(problems)
    }

    /// Starts an instance (or returns the one started before with the same idempotency key).
    pub async fn start(&self, req: StartRequest) -> Result<Started> {
        self.inner.clone().start(req, None, None).await
    }

    /// [`Executor::start`], refused with [`ExecutorError::TooManyOpen`] when the tenant already has `max_open`
    /// unfinished instances.
    pub async fn start_within(&self, req: StartRequest, max_open: usize) -> Result<Started> {
        self.inner.clone().start(req, None, Some(max_open)).await
    }

    /// How many unfinished instances `tenant` has on this node.
    pub fn open_instances(&self, tenant: &str) -> usize {
        self.inner.open.lock().unwrap_or_else(|p| p.into_inner()).get(tenant).copied().unwrap_or(0)
    }

    /// Delivers a signal to an instance waiting for it.
    pub async fn signal(&self, tenant: &str, id: &str, name: &str, payload: Value) -> Result<()> {
        let live = self.inner.live_of(tenant, id).await?;
        let settle = {
            let mut state = live.state.lock().await;
            if !state.machine.status().is_terminal() && !state.machine.waits_for(name) {
                return Err(ExecutorError::NotWaiting(name.to_string()));
            }
            let event = Event::SignalReceived { name: name.to_string(), payload };
            self.inner.clone().deliver(&live, &mut state, event, None).await?
        };
        self.inner.settle(&live, settle).await
    }

    /// Cancels an unfinished instance.
    pub async fn cancel(&self, tenant: &str, id: &str, reason: &str) -> Result<()> {
        let live = self.inner.live_of(tenant, id).await?;
        let settle = {
            let mut state = live.state.lock().await;
            let event = Event::CancelRequested { reason: reason.to_string() };
            self.inner.clone().deliver(&live, &mut state, event, None).await?
        };
        self.inner.settle(&live, settle).await
    }

    /// Waits up to `timeout` for an instance to finish; returns its record as it is then.
    pub async fn wait(&self, tenant: &str, id: &str, timeout: Duration) -> Result<InstanceRecord> {
        let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        if let Some(live) = live.filter(|l| l.record.tenant == tenant) {
            let mut rx = live.done.subscribe();
            let ending = match tokio::time::timeout(timeout, rx.wait_for(|r| r.is_some())).await {
                Ok(Ok(ending)) => ending.clone(),
                _ => None,
            };
            if let Some(Ending::Finished(record)) = ending {
                return Ok(*record);
            }
        }
        self.inner.instances.instance(tenant, id).await?.ok_or(ExecutorError::InstanceNotFound)
    }

    /// Resumes every unfinished instance from its journal. Call once at start, before serving.
    pub async fn recover(&self) -> Result<usize> {
        let unfinished = self.inner.instances.unfinished().await?;
        let mut resumed = Vec::new();
        for record in unfinished {
            let version = match self.inner.version(&record.tenant, &record.process, Some(record.version)).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(instance = %record.id, error = %e, "cannot resume: its process version is gone");
                    continue;
                }
            };
            let mut machine = Machine::new(version.process.clone());
            let journal = self.inner.instances.journal(&record.id).await?;
            let next_seq = journal.last().map(|e| e.seq + 1).unwrap_or(1);
            for entry in &journal {
                match serde_json::from_value::<Event>(entry.event.clone()) {
                    Ok(event) => {
                        machine.apply(&event, entry.at);
                    }
                    Err(e) => {
                        return Err(
                            StoreError::Corrupt(format!("instance {} event {}: {e}", record.id, entry.seq)).into()
                        );
                    }
                }
            }
            self.inner.reserve(&record.tenant, None)?;
            let live = self.inner.insert_live(record, version, machine, next_seq, next_seq - 1);
            resumed.push(live);
        }
        let count = resumed.len();
        for live in resumed {
            let settled = {
                let mut state = live.state.lock().await;
                let actions = state.machine.resume();
                self.inner.clone().carry_out(&live, &mut state, Vec::new(), actions, None).await
            };
            let settled = match settled {
                Ok(settle) => self.inner.settle(&live, settle).await,
                Err(e) => Err(e),
            };
            if let Err(e) = settled {
                tracing::error!(instance = %live.record.id, error = %e, "resuming failed");
            }
        }
        tracing::info!(count, "resumed unfinished instances");
        Ok(count)
    }

    /// Loads the compiled components that deployed processes pin (the latest versions', most recent first, at
    /// most `limit`), so that the first requests after a start do not wait for the disk cache; returns how many
    /// were loaded. A component that cannot be loaded is left for the request that needs it to report.
    pub async fn warm_up(&self, limit: usize) -> Result<usize> {
        let mut loaded = 0;
        for digest in self.inner.processes.pinned_digests(limit).await? {
            match self.inner.component(digest).await {
                Ok(_) => loaded += 1,
                Err(e) => tracing::debug!(%digest, error = %e, "not preloaded"),
            }
        }
        Ok(loaded)
    }

    /// How many step attempts are running now.
    pub fn steps_in_flight(&self) -> usize {
        self.inner.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many instances are live (unfinished) in memory.
    pub fn live_count(&self) -> usize {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One open-instance slot of a tenant, given back on drop unless disarmed.
struct Reservation<'a> {
    inner: &'a Inner,
    tenant: String,
    armed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.inner.release(&self.tenant);
        }
    }
}

impl Inner {
    async fn live_of(&self, tenant: &str, id: &str) -> Result<Arc<Live>> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        match live {
            Some(l) if l.record.tenant == tenant => Ok(l),
            _ => match self.instances.instance(tenant, id).await? {
                Some(r) => Err(ExecutorError::Finished(r.status.as_str())),
                None => Err(ExecutorError::InstanceNotFound),
            },
        }
    }

    async fn version(&self, tenant: &str, name: &str, version: Option<u32>) -> Result<Arc<Version>> {
        let key = (tenant.to_string(), name.to_string());
        let version = version.or_else(|| self.latest.lock().unwrap_or_else(|p| p.into_inner()).get(&key).copied());
        if let Some(v) = version {
            let key = (tenant.to_string(), name.to_string(), v);
            if let Some(found) = self.versions.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
                return Ok(found.clone());
            }
        }
        let stored = self
            .processes
            .process_version(tenant, name, version)
            .await?
            .ok_or_else(|| ExecutorError::ProcessNotFound(name.to_string()))?;
        if version.is_none() {
            self.latest
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((tenant.to_string(), name.to_string()), stored.version);
        }
        let key = (tenant.to_string(), name.to_string(), stored.version);
        if let Some(found) = self.versions.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(found.clone());
        }
        let process = definition::compile(stored.document).map_err(ExecutorError::InvalidDefinition)?;
        let compiled =
            Arc::new(Version { process: Arc::new(process), plugins: stored.plugins, version: stored.version });
        self.versions.lock().unwrap_or_else(|p| p.into_inner()).put(key, compiled.clone());
        Ok(compiled)
    }

    /// `durable`: how far its journal already is on disk.
    fn insert_live(
        &self,
        record: InstanceRecord,
        version: Arc<Version>,
        machine: Machine,
        next_seq: u64,
        durable: u64,
    ) -> Arc<Live> {
        let parent = record.parent.as_deref().and_then(parse_parent);
        let live = Arc::new(Live {
            parent,
            version,
            state: tokio::sync::Mutex::new(LiveState { machine, next_seq }),
            done: watch::channel(None).0,
            durable: watch::channel(Durability { seq: durable, broken: false }).0,
            record,
        });
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(live.record.id.clone(), live.clone());
        live
    }

    /// Counts one more open instance of `tenant`, unless it already has `max` of them.
    fn reserve(&self, tenant: &str, max: Option<usize>) -> Result<()> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(tenant.to_string()).or_insert(0);
        if let Some(limit) = max.filter(|&limit| *count >= limit) {
            return Err(ExecutorError::TooManyOpen { limit });
        }
        *count += 1;
        Ok(())
    }

    fn release(&self, tenant: &str) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(tenant);
            }
        }
    }

    async fn start(
        self: Arc<Self>,
        req: StartRequest,
        parent: Option<String>,
        max_open: Option<usize>,
    ) -> Result<Started> {
        self.reserve(&req.tenant, max_open)?;
        // Released when the instance leaves memory (it finished, or was abandoned); here only if it never
        // entered it (an error, an idempotent repeat, or the future dropped half-way).
        let mut reservation = Reservation { inner: &self, tenant: req.tenant.clone(), armed: true };
        self.clone().start_reserved(req, parent, &mut reservation).await
    }

    async fn start_reserved(
        self: Arc<Self>,
        req: StartRequest,
        parent: Option<String>,
        reservation: &mut Reservation<'_>,
    ) -> Result<Started> {
        let version = self.version(&req.tenant, &req.process, req.version).await?;
        if let Some(schema) = &version.process.input_schema {
            check_schema(schema, &req.input)?;
        }
        let now = now_millis();
        let id = uuid::Uuid::now_v7().to_string();
        let record = InstanceRecord {
            id: id.clone(),
            tenant: req.tenant.clone(),
            process: req.process.clone(),
            version: version.version,
            status: InstanceStatus::Running,
            input: req.input.clone(),
            output: None,
            error: None,
            idempotency_key: req.idempotency_key.clone(),
            parent,
            activity: Value::Null,
            created_at: now,
            updated_at: now,
        };
        let mut machine = Machine::new(version.process.clone());
        let started = Event::Started { input: req.input };
        let actions = machine.apply(&started, now);
        let (events, to_run) = plan(&mut machine, vec![started], actions, now);
        let entries = journal_entries(&id, 1, now, &events);
        let next_seq = entries.len() as u64 + 1;
        let mut record = record;
        update_of(&id, &machine, now).apply_to(&mut record);
        let finished = machine.status().is_terminal().then(|| record.clone());
        let keyed = record.idempotency_key.is_some();
        let mut durable = self.instances.queue_start(&record, entries).await?;
        if keyed {
            // Whether this start creates the instance is known only once it is durable: run nothing before.
            match durable.await? {
                crate::store::Started::Existing(existing) => return Ok(Started { id: existing, created: false }),
                crate::store::Started::Created => {}
            }
            durable = Durable::ready(Ok(crate::store::Started::Created));
        }
        let live = self.insert_live(record, version, machine, next_seq, 0);
        reservation.armed = false;
        {
            let mut state = live.state.lock().await;
            self.clone().execute(&live, &mut state, to_run);
        }
        let durable = Durable::new(async move {
            match durable.await? {
                crate::store::Started::Created => Ok(()),
                crate::store::Started::Existing(_) => {
                    Err(StoreError::Database("a start without an idempotency key found an existing instance".into()))
                }
            }
        });
        self.settle(&live, Settle { durable, seq: next_seq - 1, finished }).await?;
        Ok(Started { id, created: true })
    }

    /// Waits for a queued commit to be durable, then lets what depended on it happen: the actions waiting for
    /// the journal, and the instance's end. A failed commit abandons the instance.
    async fn settle(self: &Arc<Self>, live: &Arc<Live>, settle: Settle) -> Result<()> {
        match settle.durable.await {
            Ok(()) => {
                live.durable.send_if_modified(|d| {
                    let advanced = settle.seq > d.seq;
                    d.seq = d.seq.max(settle.seq);
                    advanced
                });
                if let Some(record) = settle.finished {
                    self.finish(live, record);
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(instance = %live.record.id, error = %e,
                    "journal commit failed; the instance resumes from its durable journal after a restart");
                self.abandon(live);
                Err(e.into())
            }
        }
    }

    /// Drops an instance whose journal cannot advance from memory (its steps' results are refused by the
    /// store), and tells its waiters.
    fn abandon(&self, live: &Arc<Live>) {
        live.durable.send_modify(|d| d.broken = true);
        if self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&live.record.id).is_some() {
            self.release(&live.record.tenant);
        }
        live.done.send_if_modified(|ending| {
            let first = ending.is_none();
            if first {
                *ending = Some(Ending::Abandoned);
            }
            first
        });
    }

    /// Applies an event, queues its journal commit with its records and effects, and carries out its actions;
    /// the caller settles the commit once it has let go of the instance's lock.
    async fn deliver(
        self: Arc<Self>,
        live: &Arc<Live>,
        state: &mut LiveState,
        event: Event,
        kv: Option<(KvScope, KvWrites)>,
    ) -> Result<Settle> {
        if state.machine.status().is_terminal() {
            return Err(ExecutorError::Finished(state.machine.status().as_str()));
        }
        if live.durable.borrow().broken {
            return Err(ExecutorError::Store(StoreError::Database("an earlier commit of this instance failed".into())));
        }
        let now = now_millis();
        let actions = state.machine.apply(&event, now);
        self.carry_out(live, state, vec![event], actions, kv).await
    }

    async fn carry_out(
        self: Arc<Self>,
        live: &Arc<Live>,
        state: &mut LiveState,
        events: Vec<Event>,
        actions: Vec<Action>,
        kv: Option<(KvScope, KvWrites)>,
    ) -> Result<Settle> {
        let now = now_millis();
        let (events, to_run) = plan(&mut state.machine, events, actions, now);
        let update = update_of(&live.record.id, &state.machine, now);
        let finished = state.machine.status().is_terminal().then(|| {
            let mut record = live.record.clone();
            update.clone().apply_to(&mut record);
            record
        });
        let durable = if events.is_empty() {
            Durable::ready(Ok(()))
        } else {
            let entries = journal_entries(&live.record.id, state.next_seq, now, &events);
            state.next_seq += entries.len() as u64;
            let commit =
                Commit { entries, updates: vec![update], kv: kv.into_iter().filter(|(_, w)| !w.is_empty()).collect() };
            self.instances.queue_commit(commit).await?
        };
        self.execute(live, state, to_run);
        Ok(Settle { durable, seq: state.next_seq - 1, finished })
    }

    /// Until the journal of `live` is durable up to `seq`; `false` if it never will be.
    async fn durable_to(live: &Live, seq: u64) -> bool {
        let mut rx = live.durable.subscribe();
        matches!(rx.wait_for(|d| d.seq >= seq || d.broken).await, Ok(d) if !d.broken)
    }

    /// Carries out the I/O of actions whose events are durable.
    ///
    /// Not async: it only spawns, and keeping it synchronous breaks the start -> execute -> start_child -> start
    /// cycle that would otherwise make the futures' `Send`-ness undecidable.
    fn execute(self: Arc<Self>, live: &Arc<Live>, state: &mut LiveState, actions: Vec<Action>) {
        // Everything queued so far, this action's own journal events included.
        let queued = state.next_seq - 1;
        for action in actions {
            match action {
                Action::RunStep { token, step, attempt, input } => {
                    let (inner, live) = (self.clone(), live.clone());
                    let reaches_out = matches!(&live.version.process.steps[step].kind,
                        StepKind::Plugin(call) if !call.http.is_empty());
                    self.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::spawn(async move {
                        if !reaches_out || Self::durable_to(&live, queued).await {
                            inner.clone().run_step(live, token, step, attempt, input).await;
                        }
                        inner.in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    });
                }
                Action::StartTimer { token, timer, due } => {
                    let (inner, live) = (self.clone(), live.clone());
                    tokio::spawn(async move {
                        let wait = (due - now_millis()).max(0) as u64;
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                        inner.deliver_later(&live, Event::TimerFired { token, timer }, None).await;
                    });
                }
                Action::StartChild { token, step, process, input } => {
                    let (inner, live) = (self.clone(), live.clone());
                    tokio::spawn(async move { inner.start_child(live, token, step, process, input).await });
                }
                Action::WatchChild { token, child } => {
                    let (inner, live) = (self.clone(), live.clone());
                    tokio::spawn(async move { inner.watch_child(live, token, child).await });
                }
                Action::CancelChild { child } => {
                    let (inner, live) = (self.clone(), live.clone());
                    tokio::spawn(async move {
                        if !Self::durable_to(&live, queued).await {
                            return;
                        }
                        let (exec, tenant) = (Executor { inner }, live.record.tenant.clone());
                        if let Err(e) = exec.cancel(&tenant, &child, "its parent ended").await {
                            tracing::debug!(%child, error = %e, "sub-process not cancelled");
                        }
                    });
                }
                Action::Record(_) => {}
            }
        }
    }

    /// The instance's end, once it is durable: out of memory, its quota slot back, its waiters and its parent
    /// told.
    fn finish(self: &Arc<Self>, live: &Arc<Live>, record: InstanceRecord) {
        if self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&live.record.id).is_some() {
            self.release(&live.record.tenant);
        }
        let finished = record.clone();
        live.done.send_replace(Some(Ending::Finished(Box::new(record))));
        if let Some((parent, token)) = live.parent.clone() {
            let inner = self.clone();
            tokio::spawn(async move { inner.notify_parent(&parent, token, &finished).await });
        }
    }

    async fn notify_parent(self: Arc<Self>, parent: &str, token: TokenId, child: &InstanceRecord) {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner()).get(parent).cloned();
        let Some(live) = live else { return };
        let (output, error) = match child.status {
            InstanceStatus::Completed => (child.output.clone(), None),
            _ => {
                let e = child.error.clone().and_then(|e| serde_json::from_value::<ErrorInfo>(e).ok()).unwrap_or_else(
                    || {
                        ErrorInfo::new(
                            "internal",
                            "sub-process-failed",
                            format!("sub-process {}", child.status.as_str()),
                        )
                    },
                );
                (
                    None,
                    Some(ErrorInfo { message: format!("sub-process `{}` failed: {}", child.process, e.message), ..e }),
                )
            }
        };
        let event = Event::ChildFinished { token, child: child.id.clone(), output, error };
        self.deliver_later(&live, event, None).await;
    }

    /// Delivers an event of the instance's own making (a step's result, a timer, a child) and waits until it
    /// is durable.
    async fn deliver_later(self: Arc<Self>, live: &Arc<Live>, event: Event, kv: Option<(KvScope, KvWrites)>) {
        let settle = {
            let mut state = live.state.lock().await;
            self.clone().deliver(live, &mut state, event, kv).await
        };
        match settle {
            // A failed commit is logged and abandons the instance in `settle`.
            Ok(settle) => {
                let _ = self.settle(live, settle).await;
            }
            Err(ExecutorError::Finished(_)) => {}
            Err(e) => {
                tracing::error!(instance = %live.record.id, error = %e, "event not delivered");
                self.abandon(live);
            }
        }
    }

    async fn component(&self, digest: Digest) -> Result<Arc<PreparedComponent>> {
        if let Some(c) = self.sandbox.cached(digest).await {
            return Ok(c);
        }
        let bytes = self.plugins.plugin_bytes(digest).await?.ok_or_else(|| {
            ExecutorError::Plugin(LoadError::Internal(format!("plugin content {digest} is missing from the store")))
        })?;
        Ok(self.sandbox.load(bytes).await?)
    }

    /// A step's config with its secrets filled in, and its grants (HTTP origins, the redactor of those secrets).
    /// Without secrets the step gets the definition's own map (shared, not copied per attempt).
    async fn grants(&self, tenant: &str, call: &PluginCall) -> Result<(Arc<BTreeMap<String, String>>, StepGrants)> {
        if call.secrets.is_empty() {
            return Ok((call.config.clone(), StepGrants { http: call.http.clone(), redactor: Redactor::default() }));
        }
        let mut config = BTreeMap::clone(&call.config);
        let mut values = Vec::new();
        let unavailable = |why: String| ExecutorError::Plugin(LoadError::Link(why));
        let secrets = self.secrets.get().ok_or_else(|| unavailable("this runtime keeps no secrets".into()))?;
        for (key, name) in &call.secrets {
            let value = secrets
                .get(tenant, name)
                .await
                .map_err(|e| unavailable(e.to_string()))?
                .ok_or_else(|| unavailable(format!("secret `{name}` is not set")))?;
            config.insert(key.clone(), value.clone());
            values.push(value);
        }
        let redactor = Redactor::new(values.iter().map(String::as_str));
        Ok((Arc::new(config), StepGrants { http: call.http.clone(), redactor }))
    }

    async fn run_step(self: Arc<Self>, live: Arc<Live>, token: TokenId, step: StepIdx, attempt: u32, input: Value) {
        let process = live.version.process.clone();
        let s = &process.steps[step];
        let StepKind::Plugin(call) = &s.kind else { return };
        let limits = StepLimits {
            fuel: call.fuel.unwrap_or(self.defaults.fuel),
            memory_bytes: call.memory.unwrap_or(self.defaults.memory_bytes),
            timeout: call.timeout.unwrap_or(self.defaults.timeout),
            max_output_bytes: self.defaults.max_output_bytes,
        };
        let digest = live.version.plugins.get(&call.plugin).copied();
        let granted = self.grants(&live.record.tenant, call).await;
        let outcome = match (digest, granted) {
            (_, Err(e)) => Err(e),
            (Some(digest), Ok((config, grants))) => match self.component(digest).await {
                Ok(component) => {
                    let input_text = input.to_string();
                    let out = self
                        .sandbox
                        .run_with(
                            StepRequest {
                                component: &component,
                                plugin: &call.plugin,
                                context: StepContext {
                                    tenant: live.record.tenant.clone(),
                                    process: live.record.process.clone(),
                                    process_version: live.record.version,
                                    instance_id: live.record.id.clone(),
                                    step_id: s.id.clone(),
                                    attempt,
                                },
                                input: &input_text,
                                config,
                                limits,
                            },
                            &grants,
                        )
                        .await;
                    Ok(out)
                }
                Err(e) => Err(e),
            },
            (None, _) => {
                Err(ExecutorError::Plugin(LoadError::Internal(format!("plugin `{}` is not pinned", call.plugin))))
            }
        };
        let now = now_millis();
        let mut lease = None;
        let (event, kv) = match outcome {
            Ok(mut out) => {
                lease = out.kv_lease.take();
                let (duration_ms, fuel) = (out.duration.as_millis() as u64, out.fuel_used);
                match out.result {
                    Ok(json) => match serde_json::from_str::<Value>(&json) {
                        Ok(output) => {
                            let scope = KvScope { tenant: live.record.tenant.clone(), plugin: call.plugin.clone() };
                            (
                                Event::StepCompleted { token, step: s.id.clone(), attempt, output, duration_ms, fuel },
                                Some((scope, out.kv_writes)),
                            )
                        }
                        Err(e) => {
                            let f =
                                StepFailure::fault(crate::sandbox::outcome::FaultKind::InvalidOutput, e.to_string());
                            (failed_event(&call.retry, token, s, attempt, &f, duration_ms, fuel, now), None)
                        }
                    },
                    Err(f) => (failed_event(&call.retry, token, s, attempt, &f, duration_ms, fuel, now), None),
                }
            }
            Err(e) => {
                let f = StepFailure::fault(crate::sandbox::outcome::FaultKind::LinkError, e.to_string());
                (failed_event(&call.retry, token, s, attempt, &f, 0, 0, now), None)
            }
        };
        self.deliver_later(&live, event, kv).await;
        // Only now may another attempt of this kv scope read: the writes are committed.
        drop(lease);
    }

    async fn start_child(
        self: Arc<Self>,
        live: Arc<Live>,
        token: TokenId,
        step: StepIdx,
        process: String,
        input: Value,
    ) {
        let step_id = live.version.process.steps[step].id.clone();
        let req = StartRequest {
            tenant: live.record.tenant.clone(),
            process,
            version: None,
            input,
            // A crash between starting the child and journaling it must not start a second child.
            idempotency_key: Some(format!("{}/{token}/{step_id}", live.record.id)),
        };
        let parent = Some(format!("{}#{token}", live.record.id));
        let event = match self.clone().start(req, parent, None).await {
            Ok(started) => Event::ChildStarted { token, step: step_id, child: started.id },
            Err(e) => {
                let error = ErrorInfo::new("invalid-input", "sub-process-not-started", e.to_string());
                Event::ChildFinished { token, child: String::new(), output: None, error: Some(error) }
            }
        };
        match &event {
            Event::ChildStarted { child, .. } => {
                let child = child.clone();
                self.clone().deliver_later(&live, event, None).await;
                // The child may have finished before its start was journaled here: look once more.
                self.watch_child(live, token, child).await;
            }
            _ => self.deliver_later(&live, event, None).await,
        }
    }

    async fn watch_child(self: Arc<Self>, live: Arc<Live>, token: TokenId, child: String) {
        let still_live = self.live.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&child);
        if still_live {
            return; // its `finish` notifies the parent
        }
        match self.instances.instance(&live.record.tenant, &child).await {
            Ok(Some(record)) if record.status.is_terminal() => {
                self.notify_parent(&live.record.id, token, &record).await
            }
            Ok(_) => {}
            Err(e) => tracing::error!(%child, error = %e, "cannot read sub-process"),
        }
    }
}

/// What the machine knows of the instance (status, output, error, activity), as a row update.
fn update_of(id: &str, machine: &Machine, now: Millis) -> InstanceUpdate {
    InstanceUpdate {
        id: id.to_string(),
        status: machine.status(),
        output: machine.output().cloned(),
        error: machine.error().map(|e| serde_json::to_value(e).unwrap_or(Value::Null)),
        activity: machine.activity(),
        updated_at: now,
    }
}

/// Turns `RunStep` actions into journaled `StepStarted` events (applied to the machine at once), and
/// collects records; returns every event to journal and the actions to carry out after the commit.
fn plan(machine: &mut Machine, mut events: Vec<Event>, actions: Vec<Action>, now: Millis) -> (Vec<Event>, Vec<Action>) {
    let mut after = Vec::new();
    for action in actions {
        match action {
            Action::Record(e) => events.push(e),
            Action::RunStep { token, step, attempt, input } => {
                let started = Event::StepStarted { token, step: machine.process().steps[step].id.clone(), attempt };
                machine.apply(&started, now);
                events.push(started);
                after.push(Action::RunStep { token, step, attempt, input });
            }
            other => after.push(other),
        }
    }
    (events, after)
}

fn journal_entries(instance: &str, first_seq: u64, at: Millis, events: &[Event]) -> Vec<JournalEntry> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| JournalEntry {
            instance: instance.to_string(),
            seq: first_seq + i as u64,
            at,
            event: serde_json::to_value(e).unwrap_or(Value::Null),
        })
        .collect()
}

#[expect(clippy::too_many_arguments, reason = "one event built from the attempt's parts")]
fn failed_event(
    policy: &super::model::RetryPolicy,
    token: TokenId,
    step: &super::model::Step,
    attempt: u32,
    failure: &StepFailure,
    duration_ms: u64,
    fuel: u64,
    now: Millis,
) -> Event {
    let retry_at = (failure.is_retryable() && attempt < policy.max_attempts)
        .then(|| now + policy.delay(attempt, rand_unit()).as_millis() as Millis);
    Event::StepFailed {
        token,
        step: step.id.clone(),
        attempt,
        error: ErrorInfo::new(failure.kind_str(), failure.code(), failure.message()),
        duration_ms,
        fuel,
        retry_at,
    }
}

/// A number in [0, 1) for retry jitter; decided once and journaled, so replay is deterministic.
fn rand_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn parse_parent(text: &str) -> Option<(String, TokenId)> {
    let (id, token) = text.rsplit_once('#')?;
    Some((id.to_string(), token.parse().ok()?))
}

fn check_schema(schema: &Value, input: &Value) -> Result<()> {
    let validator = jsonschema::validator_for(schema).map_err(|e| ExecutorError::InvalidInput(vec![e.to_string()]))?;
    let errors: Vec<String> = validator.iter_errors(input).map(|e| format!("{}: {e}", e.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(ExecutorError::InvalidInput(errors)) }
}

/// JSON-pointer paths of the steps that call `plugin`, for deploy errors.
fn plugin_paths(doc: &Value, plugin: &str) -> Vec<String> {
    fn walk(v: &Value, path: String, plugin: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if map.get("plugin").and_then(Value::as_str) == Some(plugin) {
                    out.push(format!("{path}/plugin"));
                }
                for (k, child) in map {
                    walk(child, format!("{path}/{k}"), plugin, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, format!("{path}/{i}"), plugin, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, String::new(), plugin, &mut out);
    if out.is_empty() {
        out.push("/steps".into());
    }
    out
}
