//! Foreground before background on the CPU.
//!
//! An import embeds passages for minutes on every core; a search or an
//! answer the user is waiting for must not queue behind it. Both use rayon:
//! on one pool a query's small products wait until the import's large ones
//! drain (a batch's feed-forward product takes ~200 ms on two cores), which
//! put searches during an import at ~100 ms instead of ~14 ms.
//!
//! So the import embeds on a pool of its own, [`background`], whose threads
//! run at a lower scheduling priority (nice [`BACKGROUND_NICE`] on Linux):
//! they take every core while nothing else runs, and yield them to the
//! foreground — the global rayon pool, which searches, answers and the rest of
//! the app use — whenever it has work. The reader worker processes lower
//! their own priority the same way ([`lower_this_thread`], inherited by the
//! tools they start).

use std::sync::OnceLock;

/// The nice value of background threads (0 is normal, 19 the lowest).
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`BACKGROUND_NICE`]
/// (on Linux the nice value is per thread; elsewhere this does nothing).
/// A thread already lower stays as it is. Threads and processes started
/// from it afterwards inherit it.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        if this_thread_nice().is_some_and(|n| n >= BACKGROUND_NICE) {
            return;
        }
        // SAFETY: gettid takes no arguments; setpriority only reads its
        // integer arguments and changes this thread's own nice value.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            if libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE) != 0 {
                tracing::debug!(
                    "background priority not set: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

/// The calling thread's nice value (Linux; `None` elsewhere or on error).
pub fn this_thread_nice() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: as in `lower_this_thread`; errno is cleared first because
        // -1 is also a valid nice value.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, tid);
            if nice == -1 && *libc::__errno_location() != 0 {
                return None;
            }
            Some(nice)
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The background pool: as many threads as the global pool, each at the
/// background priority. `None` when it could not be built (then background
/// work runs on the global pool, as before).
pub fn background() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("quire-background-{i}"))
            .start_handler(|_| lower_this_thread())
            .build()
            .map_err(|e| tracing::warn!("no background pool: {e}"))
            .ok()
    })
    .as_ref()
}

/// Runs `job` on the background pool (its parallel parts too), or on the
/// calling thread with the global pool when there is none.
pub fn in_background<T: Send>(job: impl FnOnce() -> T + Send) -> T {
    match background() {
        Some(pool) => pool.install(job),
        None => job(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn background_work_runs_at_a_lower_priority_and_foreground_work_does_not() {
        let foreground = this_thread_nice();
        let nices: Vec<Option<i32>> = in_background(|| {
            (0..64)
                .into_par_iter()
                .map(|_| this_thread_nice())
                .collect()
        });
        if cfg!(target_os = "linux") {
            let base = foreground.expect("the nice value is readable on Linux");
            // Lowered to BACKGROUND_NICE, or left where it was if lower.
            for n in &nices {
                assert_eq!(*n, Some(base.max(BACKGROUND_NICE)));
            }
            assert_eq!(this_thread_nice(), foreground, "the caller is unchanged");
            let global: Vec<Option<i32>> = (0..64)
                .into_par_iter()
                .map(|_| this_thread_nice())
                .collect();
            assert!(global.iter().all(|n| *n == foreground));
        }
    }
}
