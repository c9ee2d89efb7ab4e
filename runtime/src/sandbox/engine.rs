//! The one wasmtime [`Engine`] of a runtime node and the epoch ticker that gives it a wall clock.
//!
//! Why one engine: compiled code, the instance pool and the epoch counter are per engine, and a component
//! compiled for one engine cannot run on another. Why one ticker thread per engine (and not a timer per
//! call, as Extism does): a message to a timer thread per step costs more than the step itself
//! (wasmtime #11814). Each store's deadline is then a number of ticks, checked by generated code at loop
//! back-edges and function entries for the price of a load and a compare.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// Bytes of a linear memory (and of a table) that are reset in place when an instance's slot is reused.
const KEEP_MEMORY_RESIDENT: usize = 1 << 20;
const KEEP_TABLE_RESIDENT: usize = 64 << 10;

/// How often the epoch advances. A spinning guest yields to the async executor (and has its deadline
/// checked) once per tick, so this bounds timeout precision, how long one guest holds a worker, and so how
/// long another tenant's step may wait for its turn (see `scheduler`). The ticker's cost is one wake-up per
/// tick for the whole node, whatever the number of guests.
pub const EPOCH_TICK: Duration = Duration::from_micros(250);

/// Sizing of the engine's instance pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Component instances alive at once, which is also how many steps run at once on this node.
    pub max_concurrent: u32,
    /// The largest linear memory any step may reach; a step's own cap (from its limits) is usually lower.
    pub max_memory_bytes: usize,
    /// Core instances in one component. Rust guests use a handful; Python (componentize-py) and
    /// JavaScript guests need dozens.
    pub max_core_instances_per_component: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig { max_concurrent: 256, max_memory_bytes: 512 << 20, max_core_instances_per_component: 64 }
    }
}

/// Makes the pool reset a finished instance's memory by rewriting only the pages it dirtied (found with
/// Linux's `PAGEMAP_SCAN`, kernel 6.7+), up to [`KEEP_MEMORY_RESIDENT`] bytes, instead of `madvise`-ing the
/// whole slot away. Why: by default every instance's end costs an `madvise`, whose TLB shootdown interrupts
/// every other core, and the next instance page-faults the same pages back in; in the end-to-end profile that
/// was a quarter of the server's CPU, and a no-op step's dispatch goes from ~23 to ~9 µs. The pages that stay
/// resident are those a slot's instances actually touch, at most 1 MiB per slot.
pub fn reset_dirty_pages_in_place(pooling: &mut PoolingAllocationConfig) -> &mut PoolingAllocationConfig {
    pooling
        .pagemap_scan(Enabled::Yes)
        .linear_memory_keep_resident(KEEP_MEMORY_RESIDENT)
        .table_keep_resident(KEEP_TABLE_RESIDENT)
}

/// Builds the engine: cranelift, fuel metering, epoch interruption and the pooling allocator, resetting slots
/// in place where the kernel allows it ([`reset_dirty_pages_in_place`]).
pub fn build_engine(pool: &PoolConfig) -> wasmtime::Result<Engine> {
    let pooling = pooling_config(pool);
    let mut in_place = pooling.clone();
    reset_dirty_pages_in_place(&mut in_place);
    match Engine::new(&engine_config(in_place)) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            // Without PAGEMAP_SCAN, keeping pages resident would mean a memset of the whole 1 MiB per reuse.
            tracing::info!(reason = %e, "no PAGEMAP_SCAN: instance slots are reset with madvise");
            Engine::new(&engine_config(pooling))
        }
    }
}

fn pooling_config(pool: &PoolConfig) -> PoolingAllocationConfig {
    let mut pooling = PoolingAllocationConfig::default();
    let per_component = pool.max_core_instances_per_component;
    pooling
        .total_component_instances(pool.max_concurrent)
        .total_core_instances(pool.max_concurrent.saturating_mul(4).max(per_component))
        .total_memories(pool.max_concurrent.saturating_mul(2).max(per_component))
        .total_tables(pool.max_concurrent.saturating_mul(4).max(per_component))
        .total_stacks(pool.max_concurrent)
        .max_core_instances_per_component(per_component)
        .max_memories_per_component(per_component)
        .max_tables_per_component(per_component)
        .max_memory_size(pool.max_memory_bytes)
        // Python guests carry large tables of function references.
        .table_elements(100_000)
        // Big interpreters (Python, JS) have large instance records (many globals and functions).
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(1 << 20);
    pooling
}

fn engine_config(pooling: PoolingAllocationConfig) -> Config {
    let mut config = Config::new();
    config
        .cranelift_opt_level(OptLevel::Speed)
        .consume_fuel(true)
        .epoch_interruption(true)
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling))
        // Deep recursion must end in a stack-overflow trap long before it could hurt the host.
        .max_wasm_stack(1 << 20)
        .async_stack_size(2 << 20);
    config
}

/// How long the ticker keeps ticking after the last guest finished, before it parks. Why not park at once:
/// waking a parked thread is a futex call per idle-to-busy switch, and a node whose steps come one after
/// another (a workflow's three steps, a benchmark's loop) switches at every step; 4000 wake-ups of one thread
/// for a tenth of a second after the last step cost less.
pub const IDLE_BEFORE_PARKING: Duration = Duration::from_millis(100);

/// Advances the engine's epoch every [`EPOCH_TICK`] on a dedicated thread while any guest runs ([`Ticking`]
/// guards are alive) and for [`IDLE_BEFORE_PARKING`] after, and sleeps otherwise: an idle node does not wake
/// up 4000 times a second.
pub struct EpochTicker {
    shared: Arc<TickerState>,
    thread: Option<JoinHandle<()>>,
}

struct TickerState {
    stop: AtomicBool,
    /// Guests running now.
    running: AtomicUsize,
    /// The ticker waits on `wake` (or is about to): a guest that starts must notify it.
    parked: AtomicBool,
    // A std mutex + condvar for the ticker's sleep while nothing runs; never held across an await.
    idle: Mutex<()>,
    wake: Condvar,
}

impl EpochTicker {
    /// Starts ticking `engine`.
    pub fn start(engine: Engine) -> std::io::Result<Self> {
        let shared = Arc::new(TickerState {
            stop: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            parked: AtomicBool::new(false),
            idle: Mutex::new(()),
            wake: Condvar::new(),
        });
        let state = shared.clone();
        let thread = std::thread::Builder::new().name("alur-epoch".into()).spawn(move || {
            // Parked from the start: a node that has run no guest yet has nothing to tick for.
            let mut idle_since: Option<Instant> = Instant::now().checked_sub(IDLE_BEFORE_PARKING);
            while !state.stop.load(Ordering::Acquire) {
                if state.running.load(Ordering::SeqCst) > 0 {
                    idle_since = None;
                } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= IDLE_BEFORE_PARKING {
                    let guard = state.idle.lock().unwrap_or_else(|p| p.into_inner());
                    // `parked` is set before `running` is read again, and `Ticking::new` increments `running`
                    // before it reads `parked` (both SeqCst): one of the two sees the other, so no wake-up is
                    // lost; the notify is sent under the lock, after this thread waits.
                    state.parked.store(true, Ordering::SeqCst);
                    if state.running.load(Ordering::SeqCst) == 0 && !state.stop.load(Ordering::Acquire) {
                        drop(state.wake.wait(guard).unwrap_or_else(|p| p.into_inner()));
                    }
                    state.parked.store(false, Ordering::SeqCst);
                    idle_since = None;
                    continue;
                }
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker { shared, thread: Some(thread) })
    }

    /// Keeps the epoch advancing until the guard is dropped; take one for every guest that runs.
    pub fn ticking(&self) -> Ticking {
        if self.shared.running.fetch_add(1, Ordering::SeqCst) == 0 && self.shared.parked.load(Ordering::SeqCst) {
            let _guard = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.wake.notify_one();
        }
        Ticking(self.shared.clone())
    }
}

/// See [`EpochTicker::ticking`].
pub struct Ticking(Arc<TickerState>);

impl Drop for Ticking {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _guard = self.shared.idle.lock().unwrap_or_else(|p| p.into_inner());
            self.shared.wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut config = Config::new();
        config.epoch_interruption(true);
        Engine::new(&config).unwrap()
    }

    /// The engine's current epoch, read the only way wasmtime offers: a store's deadline is set relative
    /// to it, so no ticks = no epoch change is seen as the deadline staying ahead.
    fn ticks_within(ticker: &EpochTicker, engine: &Engine, wait: Duration, guard: bool) -> bool {
        // The ticker parks once it has been idle for a while; a tick under way then lands at most one later.
        std::thread::sleep(IDLE_BEFORE_PARKING * 2);
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(1);
        let _ticking = guard.then(|| ticker.ticking());
        // (module (func (export "f"))), in binary: the engine is built without the text format.
        let wasm = [
            0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, b'f', 0, 0, 0x0a, 4, 1, 2, 0,
            0x0b,
        ];
        let module = wasmtime::Module::new(engine, wasm).unwrap();
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let f = instance.get_typed_func::<(), ()>(&mut store, "f").unwrap();
        std::thread::sleep(wait);
        // A function entry checks the deadline: it traps once the epoch moved past it.
        f.call(&mut store, ()).is_err()
    }

    #[test]
    fn the_epoch_advances_only_while_a_guest_runs() {
        let engine = engine();
        let ticker = EpochTicker::start(engine.clone()).unwrap();
        assert!(!ticks_within(&ticker, &engine, Duration::from_millis(50), false), "idle: no ticks");
        assert!(ticks_within(&ticker, &engine, Duration::from_millis(50), true), "running: ticks");
        assert!(!ticks_within(&ticker, &engine, Duration::from_millis(50), false), "idle again");
        drop(ticker);
    }
}
