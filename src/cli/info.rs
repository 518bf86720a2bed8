//! `sepconv info --model FILE`: what the importer understood of a model file, layer by
//! layer, so a user sees how their export was read.

use sepconv::io::{graph::Imported, load_network};
use sepconv::net::{LayerKind, Network};
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
    s
}
