//! `sepconv info --model FILE`: what the importer understood of a model file, layer by
//! layer, so a user sees how their export was read.

use sepconv::io::{graph::Imported, load_network};
use sepconv::net::q8::{EdgeType, Q8Network};
use sepconv::net::{LayerKind, Network};
use sepconv::quant::QParams;
use sepconv::Result;
use std::path::Path;

/// The imported layer list of `path` as text.
pub fn describe(path: &Path) -> Result<String> {
    let m = load_network(path)?;
    Ok(describe_imported(&m))
}

fn kind_name(k: LayerKind) -> &'static str {
    match k {
        LayerKind::Conv0 => "conv3x3",
        LayerKind::Depthwise => "dw3x3",
        LayerKind::Pointwise => "pw1x1",
    }
}

pub fn describe_imported(m: &Imported) -> String {
    use std::fmt::Write;
    let net: &Network = &m.network;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "input:  '{}' {:?}, {}x{}x{} per image (h x w x c); output: '{}' {:?}",
        m.input_name,
        m.input_layout,
        net.in_h,
        net.in_w,
        net.in_c,
        m.output_name,
        net.output_dims()
    );
    match net.as_mobilenet() {
        Some(c) => {
            let _ = writeln!(
                s,
                "network: MobileNet V1, alpha {}, resolution {} (the tuned fast path)",
                c.alpha, c.resolution
            );
        }
        None => {
            let _ = writeln!(
                s,
                "network: a sequential depthwise-separable net of {} layers",
                net.layers.len()
            );
        }
    }
    let _ = writeln!(
        s,
        "{:>3}  {:<32} {:<8} {:>14} {:>14} {:>6} {:>9} {:<10} {:>12}",
        "#",
        "layer",
        "kind",
        "in (hxwxc)",
        "out (hxwxc)",
        "stride",
        "pads tlbr",
        "activation",
        "MACs"
    );
    for (i, l) in net.layers.iter().enumerate() {
        let sp = &l.spec;
        let p = sp.padding;
        let _ = writeln!(
            s,
            "{i:>3}  {:<32} {:<8} {:>14} {:>14} {:>6} {:>9} {:<10} {:>12}",
            sp.name,
            kind_name(sp.kind),
            format!("{}x{}x{}", sp.in_h, sp.in_w, sp.in_c),
            format!("{}x{}x{}", sp.out_h, sp.out_w, sp.out_c),
            sp.stride,
            format!("{}{}{}{}", p.top, p.left, p.bottom, p.right),
            format!("{:?}", l.activation),
            sp.macs()
        );
    }
    let h = net.head;
    let mut head = Vec::new();
    if h.pool {
        head.push("global average pool".to_string());
    }
    if let Some(k) = h.classes {
        head.push(format!(
            "classifier {} -> {k} ({} MACs)",
            net.features().2,
            net.features().2 * k
        ));
    }
    if h.softmax {
        head.push("softmax".into());
    }
    if head.is_empty() {
        head.push("none: the output is the last feature map".into());
    }
    let _ = writeln!(s, "head:   {}", head.join(", "));
    let _ = writeln!(
        s,
        "total:  {:.1} M multiply-adds per image",
        net.macs() as f64 / 1e6
    );
    if let Some(q) = &m.quant {
        describe_quant(&mut s, q);
    }
    s
}

/// `q` as the file gives it: zero points on the file's own grid (s8 for int8 tensors),
/// so the numbers match what Netron or the converter shows.
fn zp(q: QParams, t: EdgeType) -> i32 {
    match t {
        EdgeType::I8 => q.zero_point - 128,
        _ => q.zero_point,
    }
}

/// Each layer's quantization (rows numbered as in the layer table above): the tensors' scale and zero point, the weight scales'
/// range, the clamp codes of the fused activation, and the head's arithmetic.
pub(crate) fn describe_quant(s: &mut String, q: &Q8Network) {
    use std::fmt::Write;
    // Activations are s8 in TFLite and QDQ-s8 files, u8 in QDQ-u8 ones; sepconv runs u8
    // internally, so the codes shown are sepconv's (s8 code = u8 code - 128).
    let _ = writeln!(
        s,
        "int8:   input {:?} scale {:e} zero point {} ({:?} rounding), output {:?}",
        q.input_type,
        q.input.scale,
        zp(q.input, q.input_type),
        q.input_rounding,
        q.output_type
    );
    let _ = writeln!(
        s,
        "{:>3}  {:>11} {:>4} {:>11} {:>4} {:>23} {:>9}",
        "#", "in scale", "zpu8", "out scale", "zpu8", "weight scales", "clamp u8"
    );
    for (i, ql) in q.layers.iter().enumerate() {
        let (lo, hi) = ql
            .weight_scale
            .iter()
            .fold((f32::INFINITY, 0.0f32), |(a, b), &w| (a.min(w), b.max(w)));
        let _ = writeln!(
            s,
            "{i:>3}  {:>11.4e} {:>4} {:>11.4e} {:>4} {:>23} {:>9}",
            ql.input.scale,
            ql.input.zero_point,
            ql.output.scale,
            ql.output.zero_point,
            format!("{lo:.3e}..{hi:.3e}"),
            format!("{}..{}", ql.out.lo, ql.out.hi)
        );
    }
    if let Some(p) = &q.pool {
        let _ = writeln!(
            s,
            "pool:   {:?}, in scale {:e} zp {}, out scale {:e} zp {}",
            p.mode, p.input.scale, p.input.zero_point, p.output.scale, p.output.zero_point
        );
    }
    if let Some(fc) = &q.fc {
        let logits = match fc.output {
            Some(o) => format!("int8 logits, scale {:e} zp {}", o.scale, o.zero_point),
            None => "f32 logits from the accumulators".into(),
        };
        let _ = writeln!(
            s,
            "fc:     in scale {:e} zp {}, {logits}",
            fc.input.scale, fc.input.zero_point
        );
    }
}
