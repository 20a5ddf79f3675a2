//! Data-path threads: one single-threaded runtime per thread, connections dealt out
//! round-robin at accept.
//!
//! Why: on tokio's work-stealing runtime a proxied request's wake-ups (client readable,
//! upstream readable) often land on another worker than the one polling the task, and a
//! parked worker is woken to steal: futex wake-ups and cache misses per request, the largest
//! user-visible item of the proxy's profile after the loopback path itself. A connection that
//! lives on one thread's reactor and is polled by that thread is woken by that thread's own
//! `epoll_wait`. Upstream connections are pooled per thread for the same reason.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::runtime::Handle;

thread_local! {
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The data-path thread this code runs on, if any.
pub(crate) fn current() -> Option<usize> {
    WORKER.with(|w| w.get())
}

pub(crate) struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

impl Workers {
    /// The process's data-path threads (started on first use; every proxy in the process
    /// shares them, as they share the cores).
    pub(crate) fn get(n: usize) -> Option<&'static Workers> {
        static WORKERS: OnceLock<Option<Workers>> = OnceLock::new();
        WORKERS
            .get_or_init(|| (n > 0).then(|| Workers::start(n)).flatten())
            .as_ref()
    }

    fn start(n: usize) -> Option<Workers> {
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a data-path runtime: using the main one");
                    return None;
                }
            };
            handles.push(rt.handle().clone());
            let spawned = std::thread::Builder::new()
                .name(format!("proxy-io-{i}"))
                .spawn(move || {
                    WORKER.with(|w| w.set(Some(i)));
                    rt.block_on(std::future::pending::<()>());
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a data-path thread: using the main runtime");
                return None;
            }
        }
        Some(Workers {
            handles,
            next: AtomicUsize::new(0),
        })
    }

    pub(crate) fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }
}
