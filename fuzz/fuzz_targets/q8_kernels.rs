//! Differential: every int8 kernel this CPU runs against `reference::q8`, bit for bit, on
//! arbitrary small shapes, data, zero points, scales and clamp bounds: the GEMM (u8 and raw
//! i32 outputs, dense or strided rows), the depthwise 3x3, the 3x3 convolution through
//! im2col, the average pool. Arguments the reference rejects must be rejected by the operators too.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sepconv::kernels::q8_dwconv;
use sepconv::kernels::q8_gemm::{gemm, PackedQ8B, Q8Out, TABLE};
use sepconv::ops::q8_conv::Q8Conv3x3;
use sepconv::ops::q8_depthwise::{q8_depthwise3x3, PackedQ8Depthwise, Q8DepthwiseParams};
use sepconv::ops::q8_pool::q8_global_avg_pool;
use sepconv::quant::OutQ;
use sepconv::reference::q8;
use sepconv::{Cpu, Padding};

#[derive(Arbitrary, Debug)]
struct Input {
    m: u8,
    n: u8,
    k: u16,
    lda_pad: u8,
    zp_in: u8,
    zp_out: u8,
    lo: u8,
    hi: u8,
    /// Scale exponent and mantissa: 1e-7 .. ~10.
    scale: (u8, u8),
    conv: (u8, u8, u8, u8, u8),
    bias_shift: u8,
    /// Cycled to fill activations, weights and biases.
    data: Vec<u8>,
}

fn cycled(data: &[u8], len: usize, offset: usize) -> Vec<u8> {
    (0..len).map(|i| data[(i + offset) % data.len()]).collect()
}

fuzz_target!(|x: Input| {
    if x.data.is_empty() {
        return;
    }
    let (m, n, k) = (
        usize::from(x.m % 24) + 1,
        usize::from(x.n % 70) + 1,
        usize::from(x.k % 600) + 1,
    );
    let Ok(out) = OutQ::new(i32::from(x.zp_out), x.lo.min(x.hi), x.lo.max(x.hi)) else {
        return;
    };
    let zp_in = i32::from(x.zp_in);
    let s = 10f32.powi(-i32::from(x.scale.0 % 8)) * (1.0 + f32::from(x.scale.1) / 32.0);
    let w: Vec<i8> = cycled(&x.data, n * k, 5)
        .into_iter()
        .map(|v| v as i8)
        .collect();
    let shift = u32::from(x.bias_shift % 32);
    let bias: Vec<i32> = cycled(&x.data, n * 4, 3)
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) >> shift)
        .collect();
    let scale: Vec<f32> = (0..n).map(|i| s * (1.0 + i as f32 / 64.0)).collect();
    let lda = k + usize::from(x.lda_pad % 5);
    let a = cycled(&x.data, (m - 1) * lda + k + 4, 0);
    let dense: Vec<u8> = (0..m)
        .flat_map(|r| a[r * lda..r * lda + k].to_vec())
        .collect();
    let want = q8::q8_pointwise(&dense, m, k, zp_in, &w, &bias, &scale, out).unwrap();
    let want_acc = q8::q8_accumulators(&dense, m, k, zp_in, &w, &bias).unwrap();
    let cpu = Cpu::detect();
    for kernel in TABLE.iter().filter(|kr| kr.id.runs_on(cpu)) {
        let b = PackedQ8B::new(kernel, &w, k, &bias, &scale, zp_in).unwrap();
        let mut c = vec![0u8; m * n];
        gemm(&b, &a, m, lda, Q8Out::U8 { c: &mut c, out }, n).unwrap();
        assert_eq!(c, want, "{}", kernel.id.name);
        let mut acc = vec![0i32; m * n];
        gemm(&b, &a, m, lda, Q8Out::I32 { c: &mut acc }, n).unwrap();
        assert_eq!(acc, want_acc, "{} accumulators", kernel.id.name);
    }

    // A 3x3 convolution of a small image from the same bytes.
    let (h, wd, c_in) = (
        usize::from(x.conv.0 % 9) + 1,
        usize::from(x.conv.1 % 9) + 1,
        usize::from(x.conv.2 % 5) + 1,
    );
    let stride = usize::from(x.conv.3 % 2) + 1;
    let p = x.conv.4;
    let pad = Padding::new(
        usize::from(p & 1),
        usize::from(p >> 1 & 1),
        usize::from(p >> 2 & 1),
        usize::from(p >> 3 & 1),
    );
    let oc = n.min(24);
    let img = cycled(&x.data, h * wd * c_in, 1);
    let cw: Vec<i8> = cycled(&x.data, oc * 9 * c_in, 2)
        .into_iter()
        .map(|v| v as i8)
        .collect();
    let input = q8::Q8Input {
        data: &img,
        n: 1,
        h,
        w: wd,
        c: c_in,
        zp: zp_in,
    };
    let conv = q8::Q8Conv {
        kernel: (3, 3),
        stride,
        pad,
        groups: 1,
        out_c: oc,
    };
    let reference = q8::q8_conv2d(input, conv, &cw, &bias[..oc], &scale[..oc], out);
    for kernel in TABLE.iter().filter(|kr| kr.id.runs_on(cpu)) {
        let op = Q8Conv3x3::new(
            kernel,
            &cw,
            c_in,
            &bias[..oc],
            &scale[..oc],
            zp_in,
            stride,
            pad,
        )
        .unwrap();
        let mut scratch = vec![0u8; op.scratch_len()];
        match &reference {
            Ok((want, _, _)) => {
                let mut y = vec![0u8; want.len()];
                op.run(&img, 1, h, wd, &mut y, out, &mut scratch).unwrap();
                assert_eq!(&y, want, "{} conv", kernel.id.name);
            }
            Err(_) => {
                let mut y = vec![0u8; 64 * oc];
                assert!(op.run(&img, 1, h, wd, &mut y, out, &mut scratch).is_err());
            }
        }
    }

    // A depthwise 3x3 over the same image, its channels the conv's input channels x 16.
    let ch = c_in * 16;
    let dimg = cycled(&x.data, h * wd * ch, 4);
    let dw: Vec<i8> = cycled(&x.data, ch * 9, 6)
        .into_iter()
        .map(|v| v as i8)
        .collect();
    let dbias: Vec<i32> = (0..ch).map(|i| bias[i % n]).collect();
    let dscale: Vec<f32> = (0..ch).map(|i| scale[i % n]).collect();
    let input = q8::Q8Input {
        data: &dimg,
        n: 1,
        h,
        w: wd,
        c: ch,
        zp: zp_in,
    };
    let reference = q8::q8_depthwise3x3(input, stride, pad, &dw, &dbias, &dscale, out);
    let p = Q8DepthwiseParams {
        batch: 1,
        in_h: h,
        in_w: wd,
        channels: ch,
        stride,
        padding: pad,
        out,
    };
    for kernel in q8_dwconv::TABLE.iter().filter(|kr| kr.id.runs_on(cpu)) {
        let packed =
            PackedQ8Depthwise::for_kernel(kernel, ch, &dw, &dbias, &dscale, zp_in).unwrap();
        match &reference {
            Ok((want, _, _)) => {
                let mut y = vec![0u8; want.len()];
                q8_depthwise3x3(&p, &packed, &dimg, &mut y, ch).unwrap();
                assert_eq!(&y, want, "{} depthwise", kernel.id.name);
            }
            Err(_) => assert!(
                p.validate().is_err(),
                "{} accepted a bad shape",
                kernel.id.name
            ),
        }
    }

    // The pool over the GEMM's input rows as pixels.
    let want = q8::q8_global_avg_pool(&dense, 1, m, k, zp_in, s, out).unwrap();
    let mut y = vec![0u8; k];
    let mut sums = vec![0i32; k];
    q8_global_avg_pool(&dense, 1, m, k, zp_in, s, out, &mut y, &mut sums).unwrap();
    assert_eq!(y, want, "pool");
});
