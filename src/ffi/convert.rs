//! `SepconvOptions` checked and turned into [`Options`], and a model built from them.

use super::any::AnyModel;
use super::handles::{fail, register, Failure, Kind};
use super::{SepconvConfig, SepconvModel, SepconvOptions, SepconvStatus, SEPCONV_ISA_AUTO};
use crate::activation::Activation;
use crate::kernels::cpu::{Cpu, Features, Isa};
use crate::net::PaddingStyle;
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
    let model = AnyModel::F32(Model::build(config, weights, options(opts)?)?);
    publish(model, out)
}

/// A new handle for `model` in `*out`.
pub(super) fn publish(model: AnyModel, out: *mut *mut SepconvModel) -> Result<(), Failure> {
    let ptr = register(Box::new(SepconvModel { model }), Kind::Model);
    // SAFETY: `out` was checked non-null by `out_ptr` at the start of the call.
    unsafe { *out = ptr };
    Ok(())
}

/// As [`build`] for an imported network (model files): int8 if the file is quantized,
/// else f32, or quantized on `calibration` (images, seed) seeded images.
pub(super) fn build_network(
    m: &crate::io::graph::Imported,
    opts: *const SepconvOptions,
    calibration: Option<(u32, u64)>,
    out: *mut *mut SepconvModel,
) -> Result<(), Failure> {
    publish(
        AnyModel::from_imported(m, options(opts)?, calibration)?,
        out,
    )
}

/// A `SepconvConfig` checked and turned into a [`MobileNetConfig`] (validated by the
/// build).
pub(super) fn config(config: *const SepconvConfig) -> Result<MobileNetConfig, Failure> {
    if config.is_null() {
        return fail(SepconvStatus::NullPointer, "config is null");
    }
    // SAFETY: checked non-null; the caller passes a valid SepconvConfig.
    let c = unsafe { *config };
    let activation = match c.activation {
        0 => Activation::None,
        1 => Activation::Relu,
        2 => Activation::Relu6,
        v => {
            return fail(
                SepconvStatus::InvalidArgument,
                format!("config.activation {v} is unknown"),
            )
        }
    };
    let padding = match c.padding {
        0 => PaddingStyle::TfSame,
        1 => PaddingStyle::Symmetric,
        v => {
            return fail(
                SepconvStatus::InvalidArgument,
                format!("config.padding {v} is unknown"),
            )
        }
    };
    let config = MobileNetConfig {
        alpha: c.alpha,
        resolution: c.resolution as usize,
        classes: c.classes as usize,
        activation,
        padding,
        softmax: c.softmax != 0,
    };
    Ok(config)
}
