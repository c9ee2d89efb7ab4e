//! Turns on the CPU for guest code: at most as many guests compute at once as the node has cores, long
//! runners on at most `cores - 1` of them, and when more want to, the next turn goes to the tenant that has had
//! the least guest CPU time lately.
//!
//! # Why
//! Steps run on the same tokio workers as HTTP requests, the executor and the journal's acknowledgements. A
//! guest that spins until its timeout yields at every epoch tick, but tokio's run queue is first come, first
//! served: with 8 spinning tenants on 2 workers, every wake-up of anybody else's task queued behind ~4 ticks of
//! spinning, and a quiet tenant's three-step workflow took 200 ms instead of 2 (BENCHMARKS.md, noisy
//! neighbours). With turns,
//! - long runners (a guest one of whose turns lasted a whole tick) never occupy more than `long_cores` cores
//!   (by default all but one), so a short step always finds a turn that no spinner can take;
//! - short turns (the first turn of every attempt, and the later turns of one that never ran a whole tick)
//!   may use every core: most steps finish inside their first turn, and capping them at `cores - 1` as well
//!   made two workers' steps wait for each other (in process, 16 concurrent three-step workflows did 3400/s
//!   with one turn at a time and 5900/s with two);
//! - a quiet tenant's step waits for at most one tick of somebody else's guest, however many tenants spin.
//!
//! # How
//! [`Scheduler::run`] wraps the future of one step attempt (instantiate + call). Every poll of that future is
//! one turn: the wrapper takes a turn before polling and gives it back when the poll returns, which is at the
//! latest at the next epoch tick (the store's deadline callback yields) or when the guest waits on a host call.
//! A turn given back goes to the waiting tenant with the least *virtual time* (nanoseconds of turns it was
//! charged) that may take it (a long runner only while fewer than `long_cores` run), first come first served
//! within a tenant: start-time fair queueing by tenant, the way CFS picks the task with the least virtual
//! runtime. A tenant that becomes busy again starts no lower than the least virtual time of the busy tenants
//! minus one tick, so past idleness is not a credit it can spend to starve others, and a short step of an idle
//! tenant goes before the spinners.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The advance a tenant that becomes busy gets over the least-served busy tenant: one epoch tick, so that
/// it goes first, but cannot bank more than a turn.
const WAKE_CREDIT: Duration = super::engine::EPOCH_TICK;
/// Every this many turns, idle tenants are forgotten whose virtual time no longer matters, or who have not had
/// a turn in that many turns (a tenant that idles that long loses the debt of its earlier turns).
const PRUNE_EVERY: u64 = 1024;

/// The guest-CPU scheduler of one node. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Scheduler {
    // A std mutex: every section is a few map and set operations, never held across an await.
    state: Mutex<State>,
}

impl Scheduler {
    /// A scheduler letting `cores` guests compute at once, long runners on at most `long_cores` of them (each
    /// at least one, and `long_cores` at most `cores`).
    pub fn new(cores: usize, long_cores: usize) -> Arc<Self> {
        let cores = cores.max(1);
        Arc::new(Scheduler { state: Mutex::new(State::new(cores, long_cores.clamp(1, cores))) })
    }

    /// The node's cores.
    pub fn node_cores() -> usize {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    }

    /// The default number of cores for long runners: all but one, so that the rest of the node always has one.
    pub fn default_cores() -> usize {
        Self::node_cores().saturating_sub(1).max(1)
    }

    /// How many guests may compute at once, and how many of them long runners.
    pub fn cores(&self) -> (usize, usize) {
        let state = self.lock();
        (state.cores, state.long_cores)
    }

    /// Runs `future` (one step attempt of `tenant`) in turns, telling `clock` when each turn begins.
    pub fn run<F: Future>(self: &Arc<Self>, tenant: Arc<str>, clock: Arc<TurnClock>, future: F) -> Scheduled<F> {
        Scheduled { scheduler: self.clone(), tenant, clock, future, ticket: None, kind: Kind::Short }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// When the current turn of one attempt began. Its store's epoch callback reads it: a store's deadline is set
/// in ticks of the engine-wide epoch, so a guest whose turn began just before a tick would otherwise yield at
/// once and wait a second time; one whose turn is younger than half a tick runs on to the next.
///
/// It also remembers whether a turn ever ended at a tick: the attempt is then a long runner, which the
/// sandbox moves to the guest threads (short steps finish inside their first turn, where they started).
#[derive(Debug)]
pub struct TurnClock {
    origin: Instant,
    /// Nanoseconds from `origin` to the start of the current turn; `u64::MAX` before the first.
    began: AtomicU64,
    ran_out: AtomicBool,
}

impl Default for TurnClock {
    fn default() -> Self {
        TurnClock { origin: Instant::now(), began: AtomicU64::new(u64::MAX), ran_out: AtomicBool::new(false) }
    }
}

impl TurnClock {
    /// Records that a turn ended because it lasted a tick (the epoch callback yields).
    pub fn ran_out(&self) {
        self.ran_out.store(true, Ordering::Relaxed);
    }

    /// Whether any turn of the attempt lasted a tick.
    pub fn is_long(&self) -> bool {
        self.ran_out.load(Ordering::Relaxed)
    }

    /// How long the current turn has lasted (`None` before the first).
    pub fn age(&self) -> Option<Duration> {
        let began = self.began.load(Ordering::Relaxed);
        (began != u64::MAX).then(|| self.origin.elapsed().saturating_sub(Duration::from_nanos(began)))
    }

    fn begin(&self, at: Instant) {
        let since = at.saturating_duration_since(self.origin).as_nanos();
        self.began.store(u64::try_from(since).unwrap_or(u64::MAX - 1), Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A future that is polled only during its turns; see [`Scheduler::run`].
    pub struct Scheduled<F> {
        scheduler: Arc<Scheduler>,
        tenant: Arc<str>,
        clock: Arc<TurnClock>,
        // The place in the queue while waiting for a turn.
        ticket: Option<u64>,
        // The kind of turn asked for by the current poll.
        kind: Kind,
        #[pin]
        future: F,
    }

    impl<F> PinnedDrop for Scheduled<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped while waiting (a timeout, a cancelled request): leave the queue, or pass on a turn that
            // was granted but never used.
            let this = this.project();
            if let Some(ticket) = this.ticket.take() {
                this.scheduler.lock().cancel(this.tenant, ticket);
            }
        }
    }
}

impl<F: Future> Future for Scheduled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        {
            let mut state = this.scheduler.lock();
            let turn = match *this.ticket {
                None => {
                    // What kind of turn this poll needs; it cannot change while the attempt waits for one.
                    *this.kind = if this.clock.is_long() { Kind::Long } else { Kind::Short };
                    state.acquire(this.tenant, *this.kind, cx.waker())
                }
                Some(ticket) => state.poll_ticket(ticket, cx.waker()),
            };
            match turn {
                Turn::Granted => *this.ticket = None,
                Turn::Queued(ticket) => {
                    *this.ticket = Some(ticket);
                    return Poll::Pending;
                }
            }
        }
        let started = Instant::now();
        this.clock.begin(started);
        let polled = this.future.poll(cx);
        let used = started.elapsed();
        this.scheduler.lock().release(this.tenant, *this.kind, used);
        polled
    }
}

/// A turn's kind: long runners' turns are held to `long_cores`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every turn of an attempt until one of them lasts a whole tick.
    Short,
    /// The turns after that.
    Long,
}

#[derive(Debug, PartialEq, Eq)]
enum Turn {
    Granted,
    Queued(u64),
}

#[derive(Debug)]
enum Ticket {
    Waiting(Waker, Kind),
    /// Holds a turn for the ticket's future, which has been woken and will poll.
    Granted(Kind),
}

#[derive(Debug, Default)]
struct Tenant {
    /// Nanoseconds of turns charged, on the scheduler's virtual clock.
    vtime: u64,
    /// Turns held now.
    running: usize,
    /// Tickets waiting for a short turn, oldest first.
    waiting: VecDeque<u64>,
    /// Tickets waiting for a long runner's turn, oldest first.
    waiting_long: VecDeque<u64>,
    /// This tenant's entry in `State::queue` while it has waiting tickets.
    queued: Option<(u64, u64)>,
    /// `State::turns` when it last gave a turn back.
    last_turn: u64,
}

impl Tenant {
    fn has_waiting(&self) -> bool {
        !self.waiting.is_empty() || !self.waiting_long.is_empty()
    }

    fn busy(&self) -> bool {
        self.running > 0 || self.has_waiting()
    }

    /// Its first ticket that may take a turn now: short ones first, long ones if `long_ok`.
    fn next_ticket(&self, long_ok: bool) -> Option<(u64, Kind)> {
        match self.waiting.front() {
            Some(&ticket) => Some((ticket, Kind::Short)),
            None if long_ok => self.waiting_long.front().map(|&ticket| (ticket, Kind::Long)),
            None => None,
        }
    }
}

#[derive(Debug)]
struct State {
    cores: usize,
    long_cores: usize,
    /// Turns nobody holds.
    free: usize,
    /// Turns held by long runners.
    long_running: usize,
    /// Tickets waiting for a short turn, over all tenants.
    short_waiting: usize,
    /// The least virtual time of the busy tenants, as last seen; it only grows.
    floor: u64,
    tenants: HashMap<Arc<str>, Tenant>,
    /// Tenants with waiting tickets, by (virtual time, arrival).
    queue: BTreeSet<(u64, u64, Arc<str>)>,
    tickets: HashMap<u64, Ticket>,
    next_id: u64,
    turns: u64,
}

impl State {
    fn new(cores: usize, long_cores: usize) -> Self {
        State {
            cores,
            long_cores,
            free: cores,
            long_running: 0,
            short_waiting: 0,
            floor: 0,
            tenants: HashMap::new(),
            queue: BTreeSet::new(),
            tickets: HashMap::new(),
            next_id: 0,
            turns: 0,
        }
    }

    fn may_run(&self, kind: Kind) -> bool {
        self.free > 0 && (kind == Kind::Short || self.long_running < self.long_cores)
    }

    /// A turn now if one this kind may take is free (then no waiter could take it: a turn given back goes to
    /// the waiters that may take it first), else a ticket.
    fn acquire(&mut self, tenant: &Arc<str>, kind: Kind, waker: &Waker) -> Turn {
        let start_at = self.start_at();
        let may_run = self.may_run(kind);
        let t = self.tenants.entry(tenant.clone()).or_insert_with(|| Tenant { vtime: start_at, ..Tenant::default() });
        if !t.busy() {
            t.vtime = t.vtime.max(start_at);
        }
        if may_run {
            t.running += 1;
            self.take(kind);
            return Turn::Granted;
        }
        self.next_id += 1;
        let ticket = self.next_id;
        match kind {
            Kind::Short => {
                t.waiting.push_back(ticket);
                self.short_waiting += 1;
            }
            Kind::Long => t.waiting_long.push_back(ticket),
        }
        self.tickets.insert(ticket, Ticket::Waiting(waker.clone(), kind));
        self.requeue(tenant);
        Turn::Queued(ticket)
    }

    fn take(&mut self, kind: Kind) {
        self.free -= 1;
        if kind == Kind::Long {
            self.long_running += 1;
        }
    }

    fn give_back(&mut self, kind: Kind) {
        self.free += 1;
        if kind == Kind::Long {
            self.long_running = self.long_running.saturating_sub(1);
        }
    }

    fn poll_ticket(&mut self, ticket: u64, waker: &Waker) -> Turn {
        match self.tickets.get_mut(&ticket) {
            Some(Ticket::Granted(_)) => {
                self.tickets.remove(&ticket);
                Turn::Granted
            }
            Some(Ticket::Waiting(w, _)) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                Turn::Queued(ticket)
            }
            // Not reachable: a ticket leaves the map only through this function or `cancel`.
            None => Turn::Granted,
        }
    }

    /// Gives a turn of `kind` back, charging `used` to `tenant`, and hands it on to the next waiter.
    fn release(&mut self, tenant: &Arc<str>, kind: Kind, used: Duration) {
        self.turns += 1;
        self.give_back(kind);
        let mut charged = None;
        if let Some(t) = self.tenants.get_mut(tenant) {
            t.vtime = t.vtime.saturating_add(used.as_nanos() as u64);
            t.running = t.running.saturating_sub(1);
            t.last_turn = self.turns;
            charged = Some(t.vtime);
            if t.queued.is_some() {
                self.requeue(tenant);
            }
        }
        self.hand_on();
        // The tenant that just gave its turn back counts as busy: a guest that yields at a tick asks again at
        // once, and the floor must follow a tenant that spins alone.
        self.raise_floor(charged);
        if self.turns.is_multiple_of(PRUNE_EVERY) {
            // A forgotten tenant comes back at `floor - WAKE_CREDIT`, which is where one whose virtual time is
            // no higher would be placed anyway.
            let (fresh, recent) = (self.start_at(), self.turns.saturating_sub(PRUNE_EVERY));
            self.tenants.retain(|_, t| t.busy() || (t.vtime > fresh && t.last_turn > recent));
        }
    }

    /// Where a tenant that becomes busy starts, unless its own virtual time is higher.
    fn start_at(&self) -> u64 {
        self.floor.saturating_sub(WAKE_CREDIT.as_nanos() as u64)
    }

    /// A waiting future that went away: out of the queue; a turn granted to it goes to the next waiter.
    fn cancel(&mut self, tenant: &Arc<str>, ticket: u64) {
        match self.tickets.remove(&ticket) {
            Some(Ticket::Waiting(_, kind)) => {
                if let Some(t) = self.tenants.get_mut(tenant) {
                    let queue = if kind == Kind::Short { &mut t.waiting } else { &mut t.waiting_long };
                    queue.retain(|&w| w != ticket);
                }
                if kind == Kind::Short {
                    self.short_waiting = self.short_waiting.saturating_sub(1);
                }
                self.requeue(tenant);
            }
            Some(Ticket::Granted(kind)) => {
                if let Some(t) = self.tenants.get_mut(tenant) {
                    t.running = t.running.saturating_sub(1);
                }
                self.give_back(kind);
                self.hand_on();
            }
            None => {}
        }
    }

    /// Free turns go to the first tickets, by the virtual time of their tenants, that may take them.
    fn hand_on(&mut self) {
        while self.free > 0 {
            let long_ok = self.long_running < self.long_cores;
            if self.short_waiting == 0 && !long_ok {
                return;
            }
            // The scan passes only over tenants whose every waiting ticket is a long runner's while the long
            // runners' cores are taken: at most as many as there are instance slots.
            let tenants = &self.tenants;
            let next = self.queue.iter().find_map(|(_, _, name)| {
                tenants.get(name).and_then(|t| t.next_ticket(long_ok)).map(|next| (name.clone(), next))
            });
            let Some((name, (ticket, kind))) = next else { return };
            let Some(t) = self.tenants.get_mut(&name) else { return };
            match kind {
                Kind::Short => {
                    t.waiting.pop_front();
                    self.short_waiting = self.short_waiting.saturating_sub(1);
                }
                Kind::Long => {
                    t.waiting_long.pop_front();
                }
            }
            t.running += 1;
            self.take(kind);
            if let Some(Ticket::Waiting(waker, _)) = self.tickets.insert(ticket, Ticket::Granted(kind)) {
                waker.wake();
            }
            self.requeue(&name);
        }
    }

    /// Puts `tenant` in the queue at its current virtual time if it has waiting tickets, else takes it out.
    fn requeue(&mut self, tenant: &Arc<str>) {
        let Some(t) = self.tenants.get_mut(tenant) else { return };
        if let Some(key) = t.queued.take() {
            self.queue.remove(&(key.0, key.1, tenant.clone()));
        }
        if t.has_waiting() {
            self.next_id += 1;
            let key = (t.vtime, self.next_id);
            t.queued = Some(key);
            self.queue.insert((key.0, key.1, tenant.clone()));
        }
    }

    /// The floor follows the least-served busy tenant: the head of the queue, one holding a turn, or `also`.
    fn raise_floor(&mut self, also: Option<u64>) {
        let waiting = self.queue.first().map(|(v, _, _)| *v);
        // At most `cores` tenants hold turns; the scan is skipped when none does.
        let running = if self.free < self.cores {
            self.tenants.values().filter(|t| t.running > 0).map(|t| t.vtime).min()
        } else {
            None
        };
        if let Some(least) = waiting.into_iter().chain(running).chain(also).min() {
            self.floor = self.floor.max(least);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Flag(AtomicUsize);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(AtomicUsize::new(0)));
        (flag.clone(), Waker::from(flag))
    }

    fn name(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn free_turns_are_taken_at_once_and_the_rest_wait() {
        let mut s = State::new(2, 2);
        let (_, w) = waker();
        assert_eq!(s.acquire(&name("a"), Kind::Long, &w), Turn::Granted);
        assert_eq!(s.acquire(&name("b"), Kind::Long, &w), Turn::Granted);
        assert!(matches!(s.acquire(&name("c"), Kind::Long, &w), Turn::Queued(_)));
        assert_eq!(s.free, 0);
    }

    #[test]
    fn a_given_back_turn_goes_to_the_least_served_tenant_and_wakes_it() {
        let mut s = State::new(1, 1);
        let (spinner, spin_w) = waker();
        let (quiet, quiet_w) = waker();
        let (a, b) = (name("spinner"), name("quiet"));
        // The spinner has had many turns already.
        for _ in 0..10 {
            assert_eq!(s.acquire(&a, Kind::Long, &spin_w), Turn::Granted);
            s.release(&a, Kind::Long, MS);
        }
        assert_eq!(s.acquire(&a, Kind::Long, &spin_w), Turn::Granted);
        // While it runs, a second spinner ticket and then the quiet tenant wait.
        let Turn::Queued(spin_ticket) = s.acquire(&a, Kind::Long, &spin_w) else { panic!("queued") };
        let Turn::Queued(quiet_ticket) = s.acquire(&b, Kind::Long, &quiet_w) else { panic!("queued") };
        s.release(&a, Kind::Long, MS);
        assert_eq!(quiet.0.load(Ordering::SeqCst), 1, "the quiet tenant was woken");
        assert_eq!(spinner.0.load(Ordering::SeqCst), 0);
        assert_eq!(s.poll_ticket(quiet_ticket, &quiet_w), Turn::Granted);
        assert_eq!(s.poll_ticket(spin_ticket, &spin_w), Turn::Queued(spin_ticket));
        s.release(&b, Kind::Long, MS);
        assert_eq!(s.poll_ticket(spin_ticket, &spin_w), Turn::Granted);
    }

    #[test]
    fn equal_spinners_alternate() {
        let mut s = State::new(1, 1);
        let (_, w) = waker();
        let (a, b) = (name("a"), name("b"));
        assert_eq!(s.acquire(&a, Kind::Long, &w), Turn::Granted);
        let Turn::Queued(mut tb) = s.acquire(&b, Kind::Long, &w) else { panic!("queued") };
        let mut order = Vec::new();
        let mut holder = a.clone();
        for _ in 0..6 {
            // The holder yields at its tick and asks again; the turn goes to the other one.
            let Turn::Queued(again) = ({
                s.release(&holder, Kind::Long, MS);
                s.acquire(&holder, Kind::Long, &w)
            }) else {
                panic!("queued")
            };
            assert_eq!(s.poll_ticket(tb, &w), Turn::Granted);
            holder = if holder == a { b.clone() } else { a.clone() };
            order.push(holder.to_string());
            tb = again;
        }
        assert_eq!(order, ["b", "a", "b", "a", "b", "a"]);
    }

    #[test]
    fn past_idleness_is_no_credit() {
        let mut s = State::new(1, 1);
        let (_, w) = waker();
        let (busy, late) = (name("busy"), name("late"));
        // `busy` runs alone for 100 turns: the floor follows it.
        for _ in 0..100 {
            assert_eq!(s.acquire(&busy, Kind::Long, &w), Turn::Granted);
            s.release(&busy, Kind::Long, MS);
        }
        // A tenant arriving now starts one tick ahead of it, not 100 turns ahead.
        assert_eq!(s.acquire(&late, Kind::Long, &w), Turn::Granted);
        assert_eq!(s.floor, 100 * MS.as_nanos() as u64);
        assert_eq!(s.floor - s.tenants[&late].vtime, WAKE_CREDIT.as_nanos() as u64);
    }

    #[test]
    fn a_cancelled_ticket_leaves_the_queue_and_a_granted_one_passes_its_turn_on() {
        let mut s = State::new(1, 1);
        let (_, w) = waker();
        let (c, woken_c) = waker();
        let (a, b, cc) = (name("a"), name("b"), name("c"));
        assert_eq!(s.acquire(&a, Kind::Long, &w), Turn::Granted);
        let Turn::Queued(tb) = s.acquire(&b, Kind::Long, &w) else { panic!("queued") };
        let Turn::Queued(tc) = s.acquire(&cc, Kind::Long, &woken_c) else { panic!("queued") };
        // b's turn is granted, but b goes away before using it: c gets it.
        s.release(&a, Kind::Long, MS);
        s.cancel(&b, tb);
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
        assert_eq!(s.poll_ticket(tc, &woken_c), Turn::Granted);
        s.release(&cc, Kind::Long, MS);
        assert_eq!(s.free, 1);
        assert!(s.queue.is_empty() && s.tickets.is_empty());
        // A waiting ticket that goes away is simply forgotten.
        assert_eq!(s.acquire(&a, Kind::Long, &w), Turn::Granted);
        let Turn::Queued(tb) = s.acquire(&b, Kind::Long, &w) else { panic!("queued") };
        s.cancel(&b, tb);
        s.release(&a, Kind::Long, MS);
        assert_eq!(s.free, 1);
        assert!(s.queue.is_empty() && s.tickets.is_empty());
    }

    #[test]
    fn short_turns_use_every_core_and_long_runners_all_but_one() {
        let mut s = State::new(2, 1);
        let (_, w) = waker();
        let (woken_b, wb) = waker();
        let (woken_d, wd) = waker();
        let (a, b, c, d) = (name("a"), name("b"), name("c"), name("d"));
        assert_eq!(s.acquire(&a, Kind::Long, &w), Turn::Granted);
        let Turn::Queued(tb) = s.acquire(&b, Kind::Long, &wb) else { panic!("a second long runner waits") };
        assert_eq!(s.acquire(&c, Kind::Short, &w), Turn::Granted, "a short turn takes the other core");
        let Turn::Queued(td) = s.acquire(&d, Kind::Short, &wd) else { panic!("both cores are taken") };
        // The short turn given back goes to the short waiter; the long runner's to the long one.
        s.release(&c, Kind::Short, MS);
        assert_eq!((woken_d.0.load(Ordering::SeqCst), woken_b.0.load(Ordering::SeqCst)), (1, 0));
        assert_eq!(s.poll_ticket(td, &wd), Turn::Granted);
        s.release(&a, Kind::Long, MS);
        assert_eq!(woken_b.0.load(Ordering::SeqCst), 1);
        assert_eq!(s.poll_ticket(tb, &wb), Turn::Granted);
        s.release(&b, Kind::Long, MS);
        s.release(&d, Kind::Short, MS);
        assert_eq!((s.free, s.long_running, s.short_waiting), (2, 0, 0));
        assert!(s.queue.is_empty() && s.tickets.is_empty());
    }

    #[test]
    fn a_waiting_long_runner_leaves_a_free_core_to_short_turns() {
        let mut s = State::new(2, 1);
        let (_, w) = waker();
        let (woken_b, wb) = waker();
        let (a, b, c) = (name("a"), name("b"), name("c"));
        assert_eq!(s.acquire(&a, Kind::Long, &w), Turn::Granted);
        let Turn::Queued(tb) = s.acquire(&b, Kind::Long, &wb) else { panic!("queued") };
        // b has had less CPU than c will have, but may not take the free core: it stays free for c.
        for _ in 0..3 {
            assert_eq!(s.acquire(&c, Kind::Short, &w), Turn::Granted);
            s.release(&c, Kind::Short, MS);
        }
        assert_eq!(woken_b.0.load(Ordering::SeqCst), 0);
        assert_eq!(s.free, 1);
        // A cancelled long ticket gives nothing back; a cancelled granted one does.
        s.cancel(&b, tb);
        let Turn::Queued(tb) = s.acquire(&b, Kind::Long, &wb) else { panic!("queued") };
        s.release(&a, Kind::Long, MS);
        s.cancel(&b, tb);
        assert_eq!((s.free, s.long_running), (2, 0));
        assert!(s.tickets.is_empty());
    }

    #[test]
    fn idle_tenants_are_forgotten() {
        let mut s = State::new(1, 1);
        let (_, w) = waker();
        for i in 0..5000 {
            let t = name(&format!("t{i}"));
            assert_eq!(s.acquire(&t, Kind::Long, &w), Turn::Granted);
            s.release(&t, Kind::Long, MS);
        }
        assert!(s.tenants.len() <= 2 * PRUNE_EVERY as usize, "{} tenants remembered", s.tenants.len());
    }

    /// A guest that computes for a while at each poll and yields, like a spinning step at every epoch tick.
    struct Spin {
        polls: usize,
        left: usize,
        log: Arc<Mutex<Vec<&'static str>>>,
        me: &'static str,
    }

    impl Future for Spin {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let until = Instant::now() + Duration::from_micros(300);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            self.polls += 1;
            self.log.lock().unwrap().push(self.me);
            if self.polls >= self.left {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_step_is_not_kept_waiting_by_spinners() {
        // One core for long runners, as on a 2-core node; the quiet step's single turn is a short one.
        let scheduler = Scheduler::new(1, 1);
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut spinners = Vec::new();
        for i in 0..8 {
            let spin = Spin { polls: 0, left: 200, log: log.clone(), me: "spin" };
            let clock = Arc::new(TurnClock::default());
            clock.ran_out();
            spinners.push(tokio::spawn(scheduler.run(name(&format!("noisy-{i}")), clock, spin)));
        }
        // Let the spinners take turns for a while.
        while log.lock().unwrap().len() < 40 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let before = log.lock().unwrap().len();
        let quiet = Spin { polls: 0, left: 1, log: log.clone(), me: "quiet" };
        scheduler.run(name("quiet"), Default::default(), quiet).await;
        let log = log.lock().unwrap().clone();
        let quiet_at = log.iter().position(|&m| m == "quiet").expect("the quiet step ran");
        // One turn is the most it may wait for (the spinner holding the core when it arrived); a couple more
        // allow for the spinners' polls that began while this task was being woken.
        assert!(quiet_at <= before + 3, "the quiet step ran after {} spinner turns", quiet_at - before);
        for s in spinners {
            s.abort();
        }
    }
}
