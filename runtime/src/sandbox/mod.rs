//! The sandbox: runs one step attempt of a tenant's component with nothing ambient and hard limits.
//!
//! # Shape
//! One [`wasmtime::Engine`] (cranelift, pooling allocator, fuel, epoch interruption driven by one ticker
//! thread), one [`Linker`] holding WASI and the `alur:step/host` import, and a [`cache::ComponentCache`] of
//! pre-linked components. Every attempt gets a fresh [`Store`] with its own fuel, memory cap and deadline, so
//! nothing leaks from one attempt, step or tenant to the next.
//!
//! # Why guests never block the async runtime
//! Steps run on the tokio workers with `call_async`, and every store's epoch deadline is one tick: at each
//! tick ([`engine::EPOCH_TICK`]) the generated code calls back into the host, which checks the wall-clock
//! deadline and otherwise *yields* to the executor. A spinning guest thus holds a worker for at most one
//! tick at a time. Guest code runs only in turns handed out by the [`scheduler::Scheduler`]: at most one per
//! core, and long runners (an attempt one of whose turns lasted a whole tick) on at most `guest_cores` cores,
//! all but one by default; the next turn goes to the tenant that has had the least guest CPU, so a tenant whose
//! steps spin cannot make another tenant's short step wait for more than a tick. An attempt starts on the
//! server's worker that asked for it and stays there while it is short (most steps finish in their first
//! turn, and pay no hand-off between threads); a long runner moves to the guest threads ([`guests`], at a
//! lower OS priority), so it never holds the workers that answer HTTP and drive the executor. Compiles
//! (seconds for Python) go to the blocking pool. A host call that waits (a kv read from the database) is awaited,
//! and an attempt that waits sits under a tokio deadline too, as epochs cannot interrupt host calls.
//!
//! # Nothing ambient
//! WASI is linked so that ordinary guests (Rust std, Python, JS) instantiate, but grants nothing: no
//! preopened directories, no environment, no arguments, no sockets or name lookups, stdin empty, and
//! stdout/stderr captured into a bounded buffer that goes to the log.

pub mod bindings;
pub mod cache;
pub mod engine;
pub mod guests;
pub mod host;
pub mod http;
pub mod inspect;
pub mod kv;
pub mod limits;
pub mod outcome;
pub mod redact;
pub mod scheduler;
pub mod state;
pub mod stdio;

use crate::digest::Digest;
use bindings::StepPre;
use cache::{ComponentCache, Origin};
use engine::{EpochTicker, PoolConfig};
use host::{HostView, StepTags};
use kv::{KvLocks, KvOverlay, KvScope, KvStore};
use limits::{StepLimiter, StepLimits};
use outcome::{FaultKind, StepErrorKind, StepFailure, StepOutcome};
use scheduler::Scheduler;
use state::StepState;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

/// How to build a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where compiled components persist across restarts; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// How many prepared components stay in memory.
    pub prepared_capacity: usize,
    /// Instance pool sizing (and so the number of steps running at once).
    pub pool: PoolConfig,
    /// How many long-running guests may compute at once (each on a guest thread); short turns may use every
    /// core. See [`scheduler`].
    pub guest_cores: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            cache_dir: None,
            prepared_capacity: 1024,
            pool: PoolConfig::default(),
            guest_cores: Scheduler::default_cores(),
        }
    }
}

/// A component that was rejected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// Not a component at all.
    #[error("not a component: {0}")]
    NotAComponent(String),
    /// A component wasmtime cannot compile (malformed or uses unsupported features).
    #[error("invalid component: {0}")]
    Invalid(String),
    /// Imports something the host does not provide.
    #[error("component imports what the host does not provide: {0}")]
    Link(String),
    /// Does not export `run` the way the `alur:step` world says.
    #[error("component does not fit the alur:step world: {0}")]
    World(String),
    /// The runtime itself failed.
    #[error("internal error while loading a component: {0}")]
    Internal(String),
}

/// A component compiled and pre-linked against the host: ready to instantiate cheaply.
pub struct PreparedComponent {
    /// Its content digest.
    pub digest: Digest,
    /// The compiled component.
    pub component: Component,
    pre: StepPre<StepState>,
}

/// Who runs a step, for the guest's `context` and for log tags.
#[derive(Debug, Clone, Default)]
pub struct StepContext {
    /// Tenant id.
    pub tenant: String,
    /// Process name.
    pub process: String,
    /// Process version.
    pub process_version: u32,
    /// Instance id.
    pub instance_id: String,
    /// Step id.
    pub step_id: String,
    /// Attempt number, from 1.
    pub attempt: u32,
}

impl From<StepContext> for bindings::Context {
    fn from(c: StepContext) -> Self {
        bindings::Context {
            tenant: c.tenant,
            process: c.process,
            process_version: c.process_version,
            instance_id: c.instance_id,
            step_id: c.step_id,
            attempt: c.attempt,
        }
    }
}

/// One attempt to run.
pub struct StepRequest<'a> {
    /// The component.
    pub component: &'a PreparedComponent,
    /// The plugin's name: with the tenant, the scope of its kv state.
    pub plugin: &'a str,
    /// Where it runs.
    pub context: StepContext,
    /// The JSON input.
    pub input: &'a str,
    /// The step's config map.
    pub config: Arc<BTreeMap<String, String>>,
    /// Its limits.
    pub limits: StepLimits,
}

/// What a step may do beyond the defaults: send HTTP to some origins; and the secret values it was given,
/// which are redacted from everything it leaves behind.
#[derive(Debug, Clone, Default)]
pub struct StepGrants {
    /// Origins the step may send HTTP requests to (none: no outbound HTTP).
    pub http: Arc<[http::HttpOrigin]>,
    /// Redacts the step's secret values.
    pub redactor: redact::Redactor,
}

/// `outcome` with the secrets redacted from its output and its failure's message.
fn redacted(mut outcome: StepOutcome, redactor: &redact::Redactor) -> StepOutcome {
    outcome.result = match outcome.result {
        Ok(json) => Ok(redactor.apply(&json).into_owned()),
        Err(failure) => Err(failure.redacted(redactor)),
    };
    outcome
}

/// The sandbox of one runtime node.
pub struct Sandbox {
    engine: Engine,
    cache: ComponentCache,
    kv: Arc<dyn KvStore>,
    kv_locks: Arc<KvLocks>,
    /// One permit per pooled instance slot: a step waits here rather than fail when the pool is full.
    slots: Arc<Semaphore>,
    /// Turns on the CPU for guest code, fair between tenants.
    scheduler: Arc<Scheduler>,
    /// The threads guest code runs on.
    guests: guests::GuestPool,
    ticker: EpochTicker,
}

/// A failure to build the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// wasmtime refused the configuration or linking.
    #[error("wasmtime: {0}")]
    Wasmtime(String),
    /// The cache directory or ticker thread.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<wasmtime::Error> for SandboxError {
    fn from(e: wasmtime::Error) -> Self {
        SandboxError::Wasmtime(format!("{e:#}"))
    }
}

impl Sandbox {
    /// Builds the engine, the linker and the cache; `kv` backs the guests' key-value state.
    pub fn new(config: SandboxConfig, kv: Arc<dyn KvStore>) -> Result<Self, SandboxError> {
        Self::with_engine(engine::build_engine(&config.pool)?, config, kv)
    }

    /// [`Sandbox::new`] around an engine built by [`engine::build_engine`] from `config.pool`: building it
    /// takes milliseconds (the pool reserves and guards every slot), so a server builds it while it opens its
    /// store.
    pub fn with_engine(engine: Engine, config: SandboxConfig, kv: Arc<dyn KvStore>) -> Result<Self, SandboxError> {
        let mut linker: Linker<StepState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::add_to_linker::<_, HasSelf<HostView>>(&mut linker, |s| &mut s.host)?;
        let capacity = NonZeroUsize::new(config.prepared_capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        let cache = ComponentCache::new(engine.clone(), Arc::new(linker), config.cache_dir.as_deref(), capacity)?;
        let ticker = EpochTicker::start(engine.clone())?;
        let slots = Arc::new(Semaphore::new(config.pool.max_concurrent as usize));
        let scheduler = Scheduler::new(Scheduler::node_cores().max(config.guest_cores), config.guest_cores);
        let guests = guests::GuestPool::new(config.guest_cores)?;
        Ok(Sandbox { engine, cache, kv, kv_locks: Default::default(), slots, scheduler, guests, ticker })
    }

    /// The engine, for tools that inspect components.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Validates, compiles (or loads from cache) and pre-links a component.
    pub async fn load(&self, wasm: impl Into<Arc<[u8]>>) -> Result<Arc<PreparedComponent>, LoadError> {
        self.cache.load(wasm.into()).await.map(|(p, _)| p)
    }

    /// Like [`Sandbox::load`], also telling where the component came from.
    pub async fn load_traced(&self, wasm: impl Into<Arc<[u8]>>) -> Result<(Arc<PreparedComponent>, Origin), LoadError> {
        self.cache.load(wasm.into()).await
    }

    /// The prepared component for a digest if memory or the disk cache has it.
    pub async fn cached(&self, digest: Digest) -> Option<Arc<PreparedComponent>> {
        self.cache.cached(digest).await
    }

    /// Runs one attempt with no capability. Never panics on guest behaviour: every way a guest can fail is an
    /// outcome.
    pub async fn run(&self, req: StepRequest<'_>) -> StepOutcome {
        self.run_with(req, &StepGrants::default()).await
    }

    /// Runs one attempt with the capabilities of `grants`.
    pub async fn run_with(&self, req: StepRequest<'_>, grants: &StepGrants) -> StepOutcome {
        let outcome = self.run_attempt(req, grants).await;
        if grants.redactor.is_empty() { outcome } else { redacted(outcome, &grants.redactor) }
    }

    async fn run_attempt(&self, req: StepRequest<'_>, grants: &StepGrants) -> StepOutcome {
        // The semaphore is never closed, so acquiring only fails if that invariant is broken.
        let _permit = self.slots.clone().acquire_owned().await.ok();
        let started = Instant::now();
        let limits = req.limits;
        let deadline = started + limits.timeout;

        let output = stdio::CapturedOutput::default();
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(output.clone())
            .stderr(output.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let tags = Arc::new(StepTags {
            tenant: req.context.tenant.clone(),
            process: req.context.process.clone(),
            instance: req.context.instance_id.clone(),
            step: req.context.step_id.clone(),
        });
        let scope = KvScope { tenant: req.context.tenant.clone(), plugin: req.plugin.to_string() };
        let state = StepState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            host: HostView::new(
                tags.clone(),
                req.config,
                KvOverlay::new(scope, self.kv.clone(), self.kv_locks.clone()),
                grants.redactor.clone(),
            ),
            http_ctx: wasmtime_wasi_http::WasiHttpCtx::new(),
            http: http::HttpGrant::new(grants.http.clone()),
            limiter: StepLimiter::new(limits.memory_bytes),
            output,
            timed_out: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        if let Err(e) = store.set_fuel(limits.fuel) {
            return failed(StepFailure::fault(FaultKind::Trap, format!("cannot set fuel: {e}")), started);
        }
        store.set_epoch_deadline(1);
        let clock = Arc::new(scheduler::TurnClock::default());
        let turn = clock.clone();
        store.epoch_deadline_callback(move |mut ctx| {
            if Instant::now() >= deadline {
                ctx.data_mut().timed_out = true;
                Err(wasmtime::Error::msg("the step's wall-clock deadline passed"))
            } else if turn.age().is_some_and(|age| age < engine::EPOCH_TICK / 2) {
                Ok(UpdateDeadline::Continue(1))
            } else {
                // The end of this turn: the next goes to whoever has had the least (see `scheduler`).
                turn.ran_out();
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let tenant: Arc<str> = Arc::from(req.context.tenant.as_str());
        let wit_ctx = bindings::Context::from(req.context);
        let (pre, input, scheduler) = (req.component.pre.clone(), req.input.to_string(), self.scheduler.clone());
        let ticking = self.ticker.ticking();
        let long = clock.clone();
        let attempt = async move {
            let _ticking = ticking;
            let called = {
                let guest = scheduler.run(tenant, clock, async {
                    let instance = pre.instantiate_async(&mut store).await?;
                    instance.call_run(&mut store, &wit_ctx, &input).await
                });
                let mut guest = std::pin::pin!(guest);
                // The first turn needs no timer: the epoch callback holds guest code to the deadline, and most
                // steps end in their first turn. Only an attempt that waits (for a turn, a host call, the next
                // tick) is put under a tokio deadline, which a host call that blocks needs. A timer per step
                // was a lock of the runtime's timer wheel to take and give back.
                match std::future::poll_fn(|cx| Poll::Ready(guest.as_mut().poll(cx))).await {
                    Poll::Ready(done) => Ok(done),
                    Poll::Pending => tokio::time::timeout_at(deadline.into(), guest).await,
                }
            };
            (called, store)
        };
        // Where it runs: here, on the server's worker, as long as its turns end before a tick (a short step,
        // the common case, costs no hand-off to another thread); once a turn lasts a tick it is a long runner,
        // and the rest of it runs on the guest threads, below the server's priority (see `guests`).
        let mut attempt = Some(Box::pin(attempt));
        let here = std::future::poll_fn(|cx| match attempt.as_mut().map(|a| a.as_mut().poll(cx)) {
            Some(Poll::Ready(done)) => Poll::Ready(Some(done)),
            Some(Poll::Pending) if !long.is_long() => Poll::Pending,
            _ => Poll::Ready(None),
        })
        .await;
        let (called, store) = match (here, attempt.take()) {
            (Some(done), _) => done,
            (None, Some(rest)) => match self.guests.spawn(rest).await {
                Ok(done) => done,
                Err(e) => {
                    return failed(
                        StepFailure::fault(FaultKind::Trap, format!("the step's task failed: {e}")),
                        started,
                    );
                }
            },
            (None, None) => return failed(StepFailure::fault(FaultKind::Trap, "the step's task was lost"), started),
        };

        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let duration = started.elapsed();
        let (guest_output, dropped) = store.data().output.take();
        if !guest_output.is_empty() {
            let text = grants.redactor.apply(guest_output.trim_end());
            tracing::info!(target: "alur::guest::stdio", tenant = %tags.tenant, process = %tags.process,
                instance = %tags.instance, step = %tags.step, dropped_bytes = dropped, "{text}");
        }

        let result = match called {
            Err(_elapsed) => Err(timeout_failure(limits.timeout)),
            Ok(Err(trap)) => Err(classify_trap(&trap, store.data(), &limits, &guest_output)),
            Ok(Ok(Err(e))) => Err(StepFailure::Step { kind: kind_of(e.kind), code: e.code, message: e.message }),
            Ok(Ok(Ok(json))) => validate_output(json, limits.max_output_bytes),
        };
        // A failed attempt leaves no state, and drops its lease here.
        let (kv_writes, kv_lease) = match &result {
            Ok(_) => store.into_data().host.kv.into_writes(),
            Err(_) => Default::default(),
        };
        StepOutcome { result, kv_writes, kv_lease, fuel_used, duration }
    }
}

fn failed(failure: StepFailure, started: Instant) -> StepOutcome {
    StepOutcome {
        result: Err(failure),
        kv_writes: Default::default(),
        kv_lease: None,
        fuel_used: 0,
        duration: started.elapsed(),
    }
}

fn kind_of(kind: bindings::ErrorKind) -> StepErrorKind {
    match kind {
        bindings::ErrorKind::InvalidInput => StepErrorKind::InvalidInput,
        bindings::ErrorKind::Business => StepErrorKind::Business,
        bindings::ErrorKind::Transient => StepErrorKind::Transient,
        bindings::ErrorKind::Internal => StepErrorKind::Internal,
    }
}

fn timeout_failure(timeout: Duration) -> StepFailure {
    StepFailure::fault(
        FaultKind::Timeout,
        format!("the step did not finish within its {} timeout", humantime::format_duration(timeout)),
    )
}

/// Names the fault behind a failed instantiation or call. The store's own flags come first: a guest that
/// turns a refused allocation into a trap of its own still hit the memory limit.
fn classify_trap(err: &wasmtime::Error, state: &StepState, limits: &StepLimits, guest_output: &str) -> StepFailure {
    if state.timed_out {
        return timeout_failure(limits.timeout);
    }
    if state.limiter.memory_refused {
        return StepFailure::fault(
            FaultKind::MemoryLimit,
            format!("the step tried to use more than its {} of memory", bytesize::ByteSize(limits.memory_bytes as u64)),
        );
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            StepFailure::fault(FaultKind::OutOfFuel, format!("the step used up its fuel budget of {}", limits.fuel))
        }
        Some(Trap::StackOverflow) => {
            StepFailure::fault(FaultKind::Trap, "the step overflowed its stack (runaway recursion)")
        }
        Some(trap) => {
            StepFailure::fault(FaultKind::Trap, with_guest_tail(format!("the step trapped: {trap}"), guest_output))
        }
        None => StepFailure::fault(FaultKind::Trap, with_guest_tail(format!("the step failed: {err}"), guest_output)),
    }
}

/// Appends the end of what the guest printed (a Rust panic message, a Python traceback) to a trap message.
fn with_guest_tail(message: String, guest_output: &str) -> String {
    let tail = guest_output.trim_end();
    if tail.is_empty() {
        return message;
    }
    let mut start = tail.len().saturating_sub(600);
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    format!("{message}; guest output: {}", &tail[start..])
}

fn validate_output(json: String, max_bytes: usize) -> Result<String, StepFailure> {
    if json.len() > max_bytes {
        return Err(StepFailure::fault(
            FaultKind::InvalidOutput,
            format!("the step's output of {} bytes is over the {max_bytes}-byte limit", json.len()),
        ));
    }
    match serde_json::from_str::<serde::de::IgnoredAny>(&json) {
        Ok(_) => Ok(json),
        Err(e) => Err(StepFailure::fault(FaultKind::InvalidOutput, format!("the step's output is not JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_validation_tells_size_from_syntax() {
        assert!(validate_output("{\"a\":1}".into(), 100).is_ok());
        let too_big = validate_output("\"xxxxxxxx\"".into(), 4).unwrap_err();
        assert!(matches!(too_big, StepFailure::Fault { kind: FaultKind::InvalidOutput, .. }));
        assert!(too_big.message().contains("over the 4-byte limit"));
        let not_json = validate_output("hello".into(), 100).unwrap_err();
        assert!(not_json.message().contains("not JSON"));
    }

    #[test]
    fn guest_tail_is_cut_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let m = with_guest_tail("trap".into(), &long);
        assert!(m.starts_with("trap; guest output: é"));
    }
}
