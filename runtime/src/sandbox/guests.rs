//! The threads guest code runs on: a tokio runtime of its own, `guest_cores` threads at a lower OS priority.
//!
//! Why not the server's workers: a worker that runs a guest's turn cannot run anything else until the turn
//! ends, and more importantly the OS cannot tell a spinning guest from a worker that is parsing a request.
//! With 8 tenants spinning on a 2-core node, the workers that answer HTTP and drive the executor waited up
//! to ~7 ms for a core (`perf sched`), because a woken worker was often placed behind a spinning one. Here the
//! guests' threads run at nice [`GUEST_NICE`]: a server thread that wakes up gets a core before them, and
//! guests share what is left in the fair turns of [`super::scheduler`]. Nice 5 and not more: at nice 10 the
//! guests of a busy node got too little CPU beside the server's own threads (end to end at 64 clients, p99
//! 40 ms instead of 25).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::runtime::{Builder, Runtime};
use tokio::task::{JoinError, JoinHandle};

/// The OS niceness of the guest threads (0 is the server's; 19 the lowest).
pub const GUEST_NICE: i32 = 5;

/// The guest runtime.
pub struct GuestPool {
    /// Always `Some` until dropped (a runtime cannot be dropped inside an async context, so `drop` shuts it
    /// down in the background instead).
    runtime: Option<Runtime>,
}

impl GuestPool {
    /// A pool of `threads` threads (at least one).
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("alur-guest")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(GuestPool { runtime: Some(runtime) })
    }

    /// Runs `future` on a guest thread; dropping what this returns cancels it.
    pub fn spawn<F>(&self, future: F) -> Guest<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = match &self.runtime {
            Some(rt) => rt.spawn(future),
            // Not reachable: the runtime is taken only in `drop`.
            None => tokio::spawn(future),
        };
        Guest(handle)
    }
}

impl Drop for GuestPool {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn lower_priority() {
    let tid = rustix::thread::gettid();
    // Raising one's own niceness needs no privilege; where it fails anyway, guests just compete as equals.
    if let Err(e) = rustix::process::setpriority_process(Some(tid), GUEST_NICE) {
        tracing::debug!(error = %e, "could not lower the priority of a guest thread");
    }
}

/// A guest task; aborted if dropped before it finished (a request that went away, a shutdown).
pub struct Guest<T>(JoinHandle<T>);

impl<T> Future for Guest<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Guest<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn guests_run_on_their_own_lower_priority_threads_and_the_pool_drops_inside_async_code() {
        let pool = GuestPool::new(1).unwrap();
        let (name, nice) = pool
            .spawn(async {
                let name = std::thread::current().name().map(str::to_string);
                (name, rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("alur-guest"));
        assert_eq!(nice.unwrap(), GUEST_NICE);
        drop(pool);
    }

    #[tokio::test]
    async fn a_dropped_guest_is_cancelled() {
        let pool = GuestPool::new(1).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let guest = pool.spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await
        });
        drop(guest);
        // The task, and the sender it held, are dropped by the abort.
        assert!(rx.await.is_err());
    }
}
