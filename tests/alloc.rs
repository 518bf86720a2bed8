//! `Model::run` allocates nothing: a counting global allocator watches a run.
//!
//! Not with the `rayon` feature: rayon boxes every spawned job, so a step on more than
//! one thread allocates once per worker (docs/design.md).
#![cfg(not(feature = "rayon"))]

use sepconv::net::{Fuse, Model, Options};
use sepconv::{MobileNetConfig, MobileNetWeights};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn run_allocates_nothing() {
    // Layer by layer; then the first 4 blocks depth-first and the rest fused.
    for (fuse, depth_first) in [(Fuse::Never, None), (Fuse::Always, Some(4))] {
        check(1, fuse, depth_first);
        check(2, fuse, depth_first);
    }
}

fn check(threads: usize, fuse: Fuse, depth_first: Option<usize>) {
    let config = MobileNetConfig {
        alpha: 0.25,
        resolution: 64,
        classes: 10,
        ..MobileNetConfig::default()
    };
    let weights = MobileNetWeights::random(&config, 3, true).unwrap();
    let model = Model::build(
        &config,
        &weights,
        Options {
            threads,
            fuse,
            depth_first,
            ..Options::default()
        },
    )
    .unwrap();
    let mut ws = model.workspace(2).unwrap();
    let input = vec![0.5f32; model.input_len() * 2];
    let mut out = vec![0.0; 20];
    let mut steps = vec![0.0; model.steps().len()];
    model.run(&mut ws, &input, 2, &mut out).unwrap(); // warm-up
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    // Many runs: a pool that allocated now and then (per hand-off) would show. Bounded
    // in time because the counter sees every thread, libtest's too: under qemu this test
    // once passed 60 s, and libtest's "has been running for over 60 seconds" notice
    // allocated inside the window. Four configurations x 3 s keep it well under that.
    let deadline = Instant::now() + Duration::from_secs(3);
    for i in 0..50 {
        if i >= 2 && Instant::now() > deadline {
            break;
        }
        model.run(&mut ws, &input, 2, &mut out).unwrap();
        model
            .run(&mut ws, &input[..model.input_len()], 1, &mut out[..10])
            .unwrap();
        model.run_nchw(&mut ws, &input, 2, &mut out).unwrap();
        model
            .run_profiled(&mut ws, &input, 2, &mut out, &mut steps)
            .unwrap();
    }
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst) - before,
        0,
        "{threads} threads, {fuse:?}, depth-first {depth_first:?}"
    );
    // The counter works: a fresh workspace does allocate.
    let _ws2 = model.workspace(1).unwrap();
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before);
}
