//! `sepconv bench --plot FILE.svg`: each layer's achieved G ops/s against its roofline,
//! `min(peak, bandwidth x intensity)`, with the peaks and the read bandwidth measured in
//! the same process; one panel per data type (f32 and, with `--dtype int8`, int8 beside
//! it), so a layer's distance from its roof shows at a glance which layers are compute-
//! and which are memory-bound.

use plotters::prelude::*;
use sepconv::net::{LayerKind, Network, Step, StepKind};
use sepconv::{Error, Result};
use std::path::Path;
use std::time::Instant;

/// One layer on the chart.
pub(crate) struct Point {
    pub kind: StepKind,
    /// Operations (2 per multiply-add) per byte of its inputs, outputs and weights.
    pub intensity: f64,
    /// Achieved G ops/s.
    pub gops: f64,
}

/// One data type's chart.
pub(crate) struct Panel {
    pub title: String,
    /// G ops/s (GFLOP/s for f32, G int8-ops/s for int8) of the threads used.
    pub peak: f64,
    pub peak_label: String,
    pub points: Vec<Point>,
}

/// Bytes per element of activations and of weights.
#[derive(Clone, Copy)]
pub(crate) struct Elem {
    pub act: usize,
    pub weight: usize,
}

/// The chart points of timed `steps` (one per layer: an unfused, not depth-first model),
/// `ms` the median time of each, for `batch` images. A step whose name is no layer of
/// `net` (a fused or depth-first stage) is left out: its bytes in memory are not one
/// layer's.
pub(crate) fn points(
    net: &Network,
    steps: &[Step],
    ms: &[f64],
    batch: usize,
    elem: Elem,
) -> Vec<Point> {
    let (fh, fw, fc) = net.features();
    let classes = net.head.classes.unwrap_or(0);
    steps
        .iter()
        .zip(ms)
        .filter(|(_, &ms)| ms > 0.0)
        .filter_map(|(s, &ms)| {
            let (acts, weights) = match s.kind {
                StepKind::Conv0 | StepKind::Depthwise | StepKind::Pointwise => {
                    let l = &net.layers.iter().find(|l| l.spec.name == s.name)?.spec;
                    let kind_ok = matches!(
                        (l.kind, s.kind),
                        (LayerKind::Conv0, StepKind::Conv0)
                            | (LayerKind::Depthwise, StepKind::Depthwise)
                            | (LayerKind::Pointwise, StepKind::Pointwise)
                    );
                    if !kind_ok {
                        return None;
                    }
                    let io = l.in_h * l.in_w * l.in_c + l.out_h * l.out_w * l.out_c;
                    (io, l.weight_len())
                }
                StepKind::Pool => (fh * fw * fc + fc, 0),
                StepKind::Fc => (fc + classes, fc * classes),
                StepKind::Fused | StepKind::DepthFirst => return None,
            };
            let bytes = (batch * acts * elem.act + weights * elem.weight) as f64;
            // The pool's adds counted as the f32 runner counts them (one per input
            // element), whatever the step says.
            let macs = if s.kind == StepKind::Pool {
                fh * fw * fc
            } else {
                s.macs
            };
            let ops = 2.0 * (macs * batch) as f64;
            Some(Point {
                kind: s.kind,
                intensity: ops / bytes.max(1.0),
                gops: ops / (ms * 1e6),
            })
        })
        .collect()
}

/// A memory level's read bandwidth, one roof of the chart.
pub(crate) struct Bandwidth {
    pub label: &'static str,
    pub gbs: f64,
}

/// Read bandwidth of one thread from a 512 KiB buffer (in L2 on every core sepconv
/// targets: where a MobileNet layer's activations mostly come from) and from a 256 MiB
/// one (beyond the caches of a phone or a desktop), in GB/s.
pub(crate) fn read_bandwidths() -> [Bandwidth; 2] {
    [
        Bandwidth {
            label: "L2 (512 KiB)",
            gbs: read_bandwidth_gbs(512 << 10, 400),
        },
        Bandwidth {
            label: "memory (256 MiB)",
            gbs: read_bandwidth_gbs(256 << 20, 1),
        },
    ]
}

/// The best of three trials, each `passes` sums over a buffer of `bytes` of u64 (the sum
/// is kept, so the loads stay).
fn read_bandwidth_gbs(bytes: usize, passes: usize) -> f64 {
    let buf: Vec<u64> = (0..bytes / 8).map(|i| i as u64).collect();
    let mut best = f64::INFINITY;
    let mut keep = 0u64;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..passes {
            // Eight independent sums, so the loop is bound by loads, not by one add chain.
            let mut s = [0u64; 8];
            for c in std::hint::black_box(&buf).chunks_exact(8) {
                for (a, &v) in s.iter_mut().zip(c) {
                    *a = a.wrapping_add(v);
                }
            }
            keep = keep.wrapping_add(s.iter().fold(0, |a, &v| a.wrapping_add(v)));
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(keep);
    (bytes * passes) as f64 / best / 1e9
}

const GREY_A: RGBColor = RGBColor(90, 90, 90);
const GREY_B: RGBColor = RGBColor(170, 170, 170);

const KINDS: [(StepKind, RGBColor); 5] = [
    (StepKind::Conv0, RGBColor(214, 39, 40)),
    (StepKind::Depthwise, RGBColor(31, 119, 180)),
    (StepKind::Pointwise, RGBColor(44, 160, 44)),
    (StepKind::Pool, RGBColor(148, 103, 189)),
    (StepKind::Fc, RGBColor(255, 127, 14)),
];

/// Writes the panels side by side as an SVG file at `path`.
pub(crate) fn write_roofline(path: &Path, panels: &[Panel], roofs: &[Bandwidth]) -> Result<()> {
    let err = |e: String| Error::Io {
        path: path.display().to_string(),
        message: format!("drawing the roofline: {e}"),
    };
    let xs = panels
        .iter()
        .flat_map(|p| p.points.iter().map(|q| q.intensity));
    let ys = panels.iter().flat_map(|p| p.points.iter().map(|q| q.gops));
    let x_lo = xs.clone().fold(f64::INFINITY, f64::min).min(1.0) / 2.0;
    let x_hi = xs.fold(0.0, f64::max).max(100.0) * 2.0;
    let peak = panels.iter().map(|p| p.peak).fold(1.0, f64::max);
    let slowest = roofs.iter().map(|r| r.gbs).fold(f64::INFINITY, f64::min);
    let y_lo = ys.clone().fold(f64::INFINITY, f64::min).min(slowest * x_lo) / 2.0;
    let y_hi = ys.fold(peak, f64::max) * 2.0;
    let width = 620 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("operations per byte (inputs + outputs + weights)")
            .y_desc("G operations / s")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(LineSeries::new(
                [(x_lo, panel.peak), (x_hi, panel.peak)],
                BLACK.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label(panel.peak_label.clone())
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(2)));
        // Each memory level's roof: bandwidth x intensity, up to the compute peak.
        for (roof, dash) in roofs.iter().zip([GREY_A, GREY_B]) {
            let ridge = (panel.peak / roof.gbs).clamp(x_lo, x_hi);
            let line = [(x_lo, roof.gbs * x_lo), (ridge, roof.gbs * ridge)];
            chart
                .draw_series(LineSeries::new(line, dash.stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(format!("{} read {:.1} GB/s", roof.label, roof.gbs))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], dash.stroke_width(2))
                });
        }
        for (kind, color) in KINDS {
            let pts: Vec<_> = panel.points.iter().filter(|p| p.kind == kind).collect();
            if pts.is_empty() {
                continue;
            }
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.intensity, p.gops), 5, color.filled())),
                )
                .map_err(|e| err(e.to_string()))?
                .label(kind.name())
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(e.to_string()))?;
    }
    root.present().map_err(|e| err(e.to_string()))
}
