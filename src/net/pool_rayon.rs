//! The runner's fork-join steps on a rayon thread pool instead of the spin pool (cargo
//! feature `rayon`), for apps that already run rayon and want one set of threads, and to
//! measure the spin pool's reason to exist (docs/design.md: rayon wakes its sleeping
//! workers per step, which costs more than a small layer takes).

use super::pool::try_own;
use std::sync::{Mutex, MutexGuard};

/// A rayon pool of `threads - 1` workers; the caller of [`Team::run`] is thread 0.
pub struct Pool {
    rayon: rayon::ThreadPool,
    threads: usize,
    owner: Mutex<()>,
}

/// Exclusive use of a [`Pool`] for a sequence of jobs.
pub struct Team<'a> {
    pool: &'a Pool,
    _owner: MutexGuard<'a, ()>,
}

impl Pool {
    /// Starts `threads - 1` rayon workers (`threads >= 2`).
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.saturating_sub(1).max(1))
            .thread_name(|i| format!("sepconv-rayon-{}", i + 1))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Pool {
            rayon,
            threads,
            owner: Mutex::new(()),
        })
    }

    /// The pool for this caller, or `None` while another caller holds it.
    pub fn team(&self) -> Option<Team<'_>> {
        Some(Team {
            pool: self,
            _owner: try_own(&self.owner)?,
        })
    }
}

impl Team<'_> {
    pub fn threads(&self) -> usize {
        self.pool.threads
    }

    /// Runs `f(0)` on the calling thread and `f(t)` for `t` in `1..threads` as rayon jobs;
    /// returns when all are done. As with the spin pool, `f` pulls its work from a shared
    /// queue, so a job that starts late finds nothing left and returns.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        self.pool.rayon.in_place_scope(|s| {
            for t in 1..self.pool.threads {
                s.spawn(move |_| f(t));
            }
            f(0);
        });
    }
}
