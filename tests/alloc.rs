//! `Model::run` allocates nothing: a counting global allocator watches a run.
//!
//! Not with the `rayon` feature: rayon boxes every spawned job, so a step on more than
//! one thread allocates once per worker (docs/design.md).
#![cfg(not(feature = "rayon"))]

use sepconv::net::q8::quantize::{calibrate, quantize, seeded_images};
use sepconv::net::q8::{Q8Input, Q8Model, Q8Output};
use sepconv::net::{
    layer_spec, Fuse, Head, LayerKind, Model, NetLayer, Network, NetworkWeights, Options,
};
use sepconv::{Activation, MobileNetConfig, MobileNetWeights, Padding};
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
    // One test: the counter is global, a test beside it would count its allocations.
    general_network();
    q8_network();
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
    let what = format!("{threads} threads, {fuse:?}, depth-first {depth_first:?}");
    assert_no_allocation(&model, &what);
}

/// `Model::run` of a network that is not MobileNet allocates nothing either.
fn general_network() {
    // A full conv from 2 channels (im2col), a later full conv, a lone depthwise, two
    // pointwise layers in a row, a block; pooled without a classifier.
    let mut layers = Vec::new();
    let mut shape = (13, 11, 2);
    for (kind, out_c, stride) in [
        (LayerKind::Conv0, 8, 2),
        (LayerKind::Conv0, 12, 1),
        (LayerKind::Depthwise, 12, 2),
        (LayerKind::Pointwise, 16, 1),
        (LayerKind::Pointwise, 8, 1),
        (LayerKind::Depthwise, 8, 1),
        (LayerKind::Pointwise, 24, 1),
    ] {
        let padding = match kind {
            LayerKind::Pointwise => Padding::default(),
            _ => Padding::symmetric(1),
        };
        let name = format!("l{}", layers.len());
        let spec = layer_spec(name, kind, shape, out_c, stride, padding).unwrap();
        shape = (spec.out_h, spec.out_w, spec.out_c);
        layers.push(NetLayer {
            spec,
            activation: Activation::Relu6,
        });
    }
    let net = Network {
        in_h: 13,
        in_w: 11,
        in_c: 2,
        layers,
        head: Head {
            pool: true,
            classes: None,
            softmax: false,
        },
    };
    let weights = NetworkWeights::random(&net, 5, true);
    for threads in [1, 2] {
        for fuse in [Fuse::Never, Fuse::Always] {
            let options = Options {
                threads,
                fuse,
                ..Options::default()
            };
            let model = Model::build_network(&net, &weights, options).unwrap();
            assert_no_allocation(&model, &format!("network, {threads} threads, {fuse:?}"));
        }
    }
}

/// Runs `model` (batch 2, 1, NCHW, profiled) many times and checks nothing allocated.
fn assert_no_allocation(model: &Model, what: &str) {
    let mut ws = model.workspace(2).unwrap();
    let input = vec![0.5f32; model.input_len() * 2];
    let len = model.output_len();
    let mut out = vec![0.0; 2 * len];
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
            .run(&mut ws, &input[..model.input_len()], 1, &mut out[..len])
            .unwrap();
        model.run_nchw(&mut ws, &input, 2, &mut out).unwrap();
        model
            .run_profiled(&mut ws, &input, 2, &mut out, &mut steps)
            .unwrap();
    }
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst) - before, 0, "{what}");
    // The counter works: a fresh workspace does allocate.
    let _ws2 = model.workspace(1).unwrap();
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before);
}

/// `Q8Model::run` (f32, NCHW, codes in and out, profiled) allocates nothing either, at 1
/// and 2 threads: MobileNet with its classifier, and a network ending in its pooled
/// features (codes out).
fn q8_network() {
    let config = MobileNetConfig {
        alpha: 0.25,
        resolution: 64,
        classes: 10,
        ..MobileNetConfig::default()
    };
    let mut net = Network::mobilenet(&config).unwrap();
    let weights =
        NetworkWeights::from_mobilenet(&MobileNetWeights::random(&config, 3, true).unwrap());
    for head in [
        net.head,
        Head {
            pool: true,
            classes: None,
            softmax: false,
        },
    ] {
        net.head = head;
        let mut weights = weights.clone();
        if head.classes.is_none() {
            weights.fc = None;
        }
        let cal = calibrate(&net, &weights, &seeded_images(&net, 1, 5)).unwrap();
        let q = quantize(&net, &weights, &cal).unwrap();
        for threads in [1, 2] {
            let options = Options {
                threads,
                ..Options::default()
            };
            let model = Q8Model::build(q.clone(), options).unwrap();
            let what = format!("int8, {threads} threads, {head:?}");
            let mut ws = model.workspace(2).unwrap();
            let input = vec![0.5f32; model.input_len() * 2];
            let codes = vec![100u8; model.input_len() * 2];
            let codes_i8 = vec![-3i8; model.input_len() * 2];
            let len = model.output_len();
            let mut out = vec![0.0; 2 * len];
            let mut raw = vec![0u8; 2 * len];
            let mut steps = vec![0.0; model.steps().len()];
            model.run(&mut ws, &input, 2, &mut out).unwrap(); // warm-up
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(2);
            for i in 0..50 {
                if i >= 2 && Instant::now() > deadline {
                    break;
                }
                model.run(&mut ws, &input, 2, &mut out).unwrap();
                model
                    .run(&mut ws, &input[..model.input_len()], 1, &mut out[..len])
                    .unwrap();
                model.run_nchw(&mut ws, &input, 2, &mut out).unwrap();
                model
                    .run_profiled(&mut ws, &input, 2, &mut out, &mut steps)
                    .unwrap();
                model
                    .run_codes(&mut ws, Q8Input::I8(&codes_i8), 2, Q8Output::F32(&mut out))
                    .unwrap();
                if model.output_quant().is_some() {
                    model
                        .run_codes(&mut ws, Q8Input::U8(&codes), 2, Q8Output::U8(&mut raw))
                        .unwrap();
                }
            }
            assert_eq!(ALLOCATIONS.load(Ordering::SeqCst) - before, 0, "{what}");
        }
    }
}
