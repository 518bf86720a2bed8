//! The runner's fork-join thread pool.
//!
//! A MobileNet forward pass is ~30 short parallel steps (tens of microseconds each on small
//! models), so what matters is the hand-off latency, not throughput: workers spin on an
//! epoch counter between steps and only park (futex, through a `Condvar`) after
//! [`SPIN_BEFORE_PARK`] without work, like XNNPACK's pthreadpool. A general work-stealing
//! pool wakes sleeping workers per step, which costs more than a small layer takes on a
//! virtual machine. Dispatch allocates nothing.
//!
//! One caller at a time owns the pool ([`Pool::team`]); a second caller gets `None` and
//! runs inline instead of waiting.

// With the `rayon` feature the runner uses `pool_rayon` instead; `spin_lock` stays in use.
#![cfg_attr(feature = "rayon", allow(dead_code))]

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks.
const SPIN_BEFORE_PARK: Duration = Duration::from_millis(2);

/// A job as the workers see it. Its real lifetime is one [`Team::broadcast`] call, which
/// does not return before every worker is done with it.
type Job = &'static (dyn Fn(usize) + Sync);

/// What a worker reads on every job, in one cache line: a hand-off moves it from the
/// caller's core once.
#[repr(align(64))]
struct Slot {
    /// Bumped once per job (and once at shutdown).
    epoch: AtomicU64,
    /// The current job, on the caller's stack in [`Team::run`] (null between jobs).
    job: AtomicPtr<Job>,
}

struct Shared {
    slot: Slot,
    /// Per worker: `epoch * 4 + phase`, the last job it ran or was skipped for. The caller
    /// and the worker race on it with compare-exchange, so a worker either runs a job
    /// while the caller waits for it, or never touches it.
    state: Vec<AtomicU64>,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    /// Parked workers (changed under `sleep`), and the condition they wait on.
    parked: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
}

const RUNNING: u64 = 1;
const DONE: u64 = 2;
const SKIPPED: u64 = 3;

fn state(epoch: u64, phase: u64) -> u64 {
    epoch * 4 + phase
}

/// The epoch a [`state`] value belongs to.
fn epoch_of(state: u64) -> u64 {
    state / 4
}

/// `threads - 1` worker threads; the caller of [`Team::run`] is thread 0.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    owner: Mutex<()>,
}

/// Exclusive use of a [`Pool`] for a sequence of jobs.
pub struct Team<'a> {
    pool: &'a Pool,
    _owner: MutexGuard<'a, ()>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A job's panic is caught before it can poison anything; recover regardless.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lock that makes one caller at a time own a pool, or `None` while another holds it.
pub(crate) fn try_own(owner: &Mutex<()>) -> Option<MutexGuard<'_, ()>> {
    match owner.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Locks a mutex held only for a few instructions by spinning on `try_lock`: a contended
/// `lock` would put the thread to sleep, and the wake-up (an inter-processor interrupt on a
/// virtual machine) costs more than a whole small layer.
pub(crate) fn spin_lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    let mut spins = 0u32;
    loop {
        match m.try_lock() {
            Ok(g) => return g,
            Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(256) {
                    // The holder may have been descheduled.
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

impl Pool {
    /// Starts `threads - 1` workers (`threads >= 2`).
    pub fn new(threads: usize) -> std::io::Result<Pool> {
        let workers = threads.saturating_sub(1);
        let shared = Arc::new(Shared {
            slot: Slot {
                epoch: AtomicU64::new(0),
                job: AtomicPtr::new(std::ptr::null_mut()),
            },
            state: (0..workers)
                .map(|_| AtomicU64::new(state(0, DONE)))
                .collect(),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            parked: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        });
        let mut pool = Pool {
            shared: Arc::clone(&shared),
            workers: Vec::with_capacity(workers),
            owner: Mutex::new(()),
        };
        // Workers are running when `new` returns, so their start-up (which allocates) is
        // never inside a run.
        let started = Arc::new(AtomicU64::new(0));
        for index in 1..threads {
            let shared = Arc::clone(&shared);
            let started = Arc::clone(&started);
            // On error, `pool` drops here and stops the workers already started.
            let handle = std::thread::Builder::new()
                .name(format!("sepconv-{index}"))
                .spawn(move || {
                    started.fetch_add(1, Ordering::Release);
                    worker(&shared, index)
                })?;
            pool.workers.push(handle);
        }
        while started.load(Ordering::Acquire) < workers as u64 {
            std::thread::yield_now();
        }
        Ok(pool)
    }

    /// Threads that can take part in a job, the caller included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
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
        self.pool.threads()
    }

    /// Runs `f(0)` on the calling thread and `f(t)` on each worker `t` that picks the job
    /// up before `f(0)` returns; returns when those are done. Workers that arrive later
    /// skip it, so a descheduled worker never holds the caller up: `f` must pull its work
    /// from a shared queue, so that whoever runs finishes it. A panic in any `f` is
    /// re-raised here after the others finish.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        let shared = &*self.pool.shared;
        // SAFETY: only the lifetime is erased. A worker reads `slot.job` (which points at
        // `job`, on this stack) and calls it only after moving its state from an earlier
        // epoch to RUNNING for this one (`worker`), which fails once the loop below has
        // set this epoch's SKIPPED; and this function does not return (nor unwind) before
        // every worker's state is DONE or SKIPPED for this epoch, so `f` and `job` outlive
        // every use. Holding the team (the `owner` lock) makes this the only job in flight.
        let mut job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        // Published by the epoch's release: a worker that sees the new epoch sees this.
        shared.slot.job.store(&mut job, Ordering::Relaxed);
        let epoch = shared.slot.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        // A worker counts itself parked before it checks the epoch one last time (both
        // SeqCst): either it sees this epoch, or this load sees it parked.
        if shared.parked.load(Ordering::SeqCst) > 0 {
            drop(lock(&shared.sleep));
            shared.wake.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
        for st in &shared.state {
            let mut spins = 0u32;
            let mut s = st.load(Ordering::Acquire);
            while s != state(epoch, DONE) {
                if s == state(epoch, RUNNING) {
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(4096) {
                        // The worker may have been descheduled: let it have the core.
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                    s = st.load(Ordering::Acquire);
                    continue;
                }
                // It has not started this job: make sure it never does.
                match st.compare_exchange(
                    s,
                    state(epoch, SKIPPED),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
        }
        shared
            .slot
            .job
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        if let Err(payload) = mine {
            resume_unwind(payload);
        }
        if shared.panicked.swap(false, Ordering::AcqRel) {
            panic!("a sepconv worker thread panicked");
        }
    }
}

fn worker(shared: &Shared, index: usize) {
    let st = &shared.state[index - 1];
    let mut seen = 0u64;
    loop {
        let mut idle_since: Option<Instant> = None;
        let mut spins = 0u32;
        let epoch = loop {
            let epoch = shared.slot.epoch.load(Ordering::Acquire);
            if epoch != seen {
                break epoch;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(1024) {
                std::hint::spin_loop();
                continue;
            }
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() < SPIN_BEFORE_PARK {
                // If the scheduler put us on the caller's core, give it the core back.
                std::thread::yield_now();
                continue;
            }
            let mut guard = lock(&shared.sleep);
            shared.parked.fetch_add(1, Ordering::SeqCst);
            // The caller bumps the epoch before it reads `parked`, and takes `sleep`
            // before it notifies, so either the epoch has moved already or the
            // notification comes after this thread waits.
            while shared.slot.epoch.load(Ordering::SeqCst) == seen {
                guard = shared
                    .wake
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            shared.parked.fetch_sub(1, Ordering::SeqCst);
            drop(guard);
            idle_since = None;
        };
        seen = epoch;
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        #[cfg(test)]
        tests::stall_worker();
        // Claim the job only from a state of an earlier epoch. A worker delayed between
        // reading `epoch` and here may find the caller already past this job (and others):
        // its state then carries that later epoch, and claiming it would let this worker
        // run whatever job is current while the caller no longer waits for it.
        let s = st.load(Ordering::Acquire);
        if epoch_of(s) >= epoch
            || st
                .compare_exchange(
                    s,
                    state(epoch, RUNNING),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
        {
            continue; // The caller finished this job without us.
        }
        let job = shared.slot.job.load(Ordering::Relaxed);
        // SAFETY: this worker holds RUNNING for `epoch`, whose caller set `slot.job` to a
        // job on its stack before publishing the epoch (seen above with Acquire) and does
        // not return, nor change `slot.job`, before this state is DONE (`Team::run`).
        if let Some(job) = unsafe { job.as_ref() } {
            if catch_unwind(AssertUnwindSafe(|| job(index))).is_err() {
                shared.panicked.store(true, Ordering::Release);
            }
        }
        st.store(state(epoch, DONE), Ordering::Release);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // `&mut self`: no team is alive, so no job is in flight.
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.slot.epoch.fetch_add(1, Ordering::SeqCst);
        drop(lock(&self.shared.sleep));
        self.shared.wake.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Microseconds each worker sleeps between seeing a new epoch and claiming it (0: no
    /// stall), to force the interleaving of a descheduled worker.
    static STALL_US: AtomicU64 = AtomicU64::new(0);

    pub(super) fn stall_worker() {
        let us = STALL_US.load(Ordering::Relaxed);
        if us > 0 {
            std::thread::sleep(Duration::from_micros(us));
        }
    }

    #[test]
    fn a_late_worker_never_runs_a_job_whose_call_returned() {
        // Regression: a worker that stalled after reading the epoch claimed its state
        // from a later, skipped epoch and ran the then-current job after its `run` had
        // returned (seen as a segfault and a garbled GEMM shape in the 2-thread runner).
        // `active` counts workers inside a job; it must be 0 whenever `run` has returned.
        STALL_US.store(300, Ordering::Relaxed);
        let pool = Pool::new(2).unwrap();
        let team = pool.team().unwrap();
        let active = AtomicUsize::new(0);
        let mut late = 0;
        for i in 0..if cfg!(miri) { 20 } else { 300 } {
            team.run(&|t| {
                if t == 0 {
                    // Short jobs on the caller: several epochs pass during one stall.
                    std::thread::sleep(Duration::from_micros(40 + 20 * (i % 4)));
                } else {
                    active.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(100));
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            });
            late += active.load(Ordering::SeqCst);
        }
        drop(team);
        drop(pool);
        STALL_US.store(0, Ordering::Relaxed);
        assert_eq!(late, 0, "a worker ran a job after its call had returned");
    }

    /// Counts `n` tasks off a shared counter, recording which thread ran each.
    fn drain(team: &Team<'_>, n: usize, done: &[AtomicUsize], by: &[AtomicUsize]) {
        let next = AtomicUsize::new(0);
        team.run(&|t| loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            done[i].fetch_add(1, Ordering::Relaxed);
            by[t].fetch_add(1, Ordering::Relaxed);
        });
    }

    #[test]
    fn every_task_runs_exactly_once() {
        let pool = Pool::new(3).unwrap();
        let team = pool.team().unwrap();
        let by: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..500 {
            let done: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
            drain(&team, 64, &done, &by);
            assert!(done.iter().all(|d| d.load(Ordering::Relaxed) == 1));
        }
        let total: usize = by.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 500 * 64);
    }

    #[test]
    fn workers_take_part() {
        // Slow tasks: the worker, spinning, joins before the caller is through.
        let pool = Pool::new(2).unwrap();
        let team = pool.team().unwrap();
        let by = [AtomicUsize::new(0), AtomicUsize::new(0)];
        let next = AtomicUsize::new(0);
        team.run(&|t| {
            while next.fetch_add(1, Ordering::Relaxed) < 200 {
                by[t].fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        assert!(by[1].load(Ordering::Relaxed) > 0);
        assert_eq!(
            by.iter().map(|b| b.load(Ordering::Relaxed)).sum::<usize>(),
            200
        );
    }

    #[test]
    fn one_team_at_a_time() {
        let pool = Pool::new(2).unwrap();
        let team = pool.team().unwrap();
        assert!(pool.team().is_none());
        drop(team);
        assert!(pool.team().is_some());
    }

    #[test]
    fn parked_workers_wake_up() {
        let pool = Pool::new(2).unwrap();
        let team = pool.team().unwrap();
        let by = [AtomicUsize::new(0), AtomicUsize::new(0)];
        std::thread::sleep(SPIN_BEFORE_PARK * 3);
        let next = AtomicUsize::new(0);
        team.run(&|t| {
            while next.fetch_add(1, Ordering::Relaxed) < 100 {
                by[t].fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        assert!(
            by[1].load(Ordering::Relaxed) > 0,
            "the parked worker never woke"
        );
    }

    #[test]
    fn worker_panic_reaches_the_caller_and_the_pool_survives() {
        let pool = Pool::new(2).unwrap();
        let team = pool.team().unwrap();
        let joined = AtomicBool::new(false);
        let r = catch_unwind(AssertUnwindSafe(|| {
            team.run(&|t| {
                if t == 1 {
                    joined.store(true, Ordering::SeqCst);
                    panic!("boom");
                }
                // Wait (bounded) for the worker to join, so that it does panic.
                let start = Instant::now();
                while !joined.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                    std::thread::yield_now();
                }
            })
        }));
        assert!(r.is_err());
        let done: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
        let by = [AtomicUsize::new(0), AtomicUsize::new(0)];
        drain(&team, 8, &done, &by);
        assert!(done.iter().all(|d| d.load(Ordering::Relaxed) == 1));
    }
}
