//! `SepconvOptions` checked and turned into [`Options`], and a model built from them.

use super::handles::{fail, register, Failure, Kind};
use super::{SepconvModel, SepconvOptions, SepconvStatus, SEPCONV_ISA_AUTO};
use crate::kernels::cpu::{Cpu, Features, Isa};
use crate::net::{Fuse, MobileNetConfig, MobileNetWeights, Model, Options};

pub(super) fn options(options: *const SepconvOptions) -> Result<Options, Failure> {
    if options.is_null() {
        return Ok(Options::default());
    }
    // SAFETY: checked non-null; the caller passes a valid SepconvOptions (header doc).
    let o = unsafe { *options };
    let isa = match (o.isa, Isa::from_c(o.isa)) {
        (SEPCONV_ISA_AUTO, _) => None,
        (_, Some(isa)) => Some(isa),
        (v, None) => {
            return fail(
                SepconvStatus::InvalidArgument,
                format!("options.isa {v} is unknown"),
            )
        }
    };
    let off = Features::from_bits(o.features_off);
    if off.bits() != o.features_off {
        return fail(
            SepconvStatus::InvalidArgument,
            format!(
                "options.features_off {:#x} has unknown bits {:#x}",
                o.features_off,
                o.features_off & !off.bits()
            ),
        );
    }
    let cpu = match isa {
        Some(isa) => Cpu::with_isa(isa)?,
        None => Cpu::selected()?,
    }
    .without(off);
    let fuse = match o.fuse {
        0 => Fuse::Auto,
        1 => Fuse::Never,
        2 => Fuse::Always,
        v => {
            return fail(
                SepconvStatus::InvalidArgument,
                format!("options.fuse {v} is unknown"),
            )
        }
    };
    Ok(Options {
        threads: o.threads as usize,
        cpu: Some(cpu),
        fuse,
        depth_first: None,
    })
}

pub(super) fn build(
    config: &MobileNetConfig,
    weights: &MobileNetWeights,
    opts: *const SepconvOptions,
    out: *mut *mut SepconvModel,
) -> Result<(), Failure> {
    let model = Model::build(config, weights, options(opts)?)?;
    let ptr = register(Box::new(SepconvModel { model }), Kind::Model);
    // SAFETY: `out` was checked non-null by `out_ptr` at the start of the call.
    unsafe { *out = ptr };
    Ok(())
}

/// As [`build`] for an imported network (model files).
pub(super) fn build_network(
    m: &crate::io::graph::Imported,
    opts: *const SepconvOptions,
    out: *mut *mut SepconvModel,
) -> Result<(), Failure> {
    let model = Model::build_network(&m.network, &m.weights, options(opts)?)?;
    let ptr = register(Box::new(SepconvModel { model }), Kind::Model);
    // SAFETY: `out` was checked non-null by `out_ptr` at the start of the call.
    unsafe { *out = ptr };
    Ok(())
}
