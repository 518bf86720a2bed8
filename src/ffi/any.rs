//! What a model handle holds: an f32 [`Model`] or an int8 [`Q8Model`] (a quantized file,
//! or a float one quantized on seeded calibration images), and their workspaces.

use super::handles::{fail, Failure};
use super::SepconvStatus;
use crate::io::graph::Imported;
use crate::kernels::cpu::Cpu;
use crate::net::q8::quantize::{calibrate, quantize, seeded_images};
use crate::net::q8::{Q8Model, Q8Workspace};
use crate::net::{Model, Network, NetworkWeights, Options, Workspace};

// Boxed once as a whole in its handle: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum AnyModel {
    F32(Model),
    Int8(Q8Model),
}

pub(super) enum AnyWorkspace {
    F32(Workspace),
    Int8(Q8Workspace),
}

/// Most seeded calibration images a C caller may ask for (each is one f32 reference run).
pub(super) const MAX_CALIBRATION_IMAGES: u32 = 256;

impl AnyModel {
    pub(super) fn network(&self) -> &Network {
        match self {
            AnyModel::F32(m) => m.network(),
            AnyModel::Int8(m) => &m.network().network,
        }
    }

    pub(super) fn cpu(&self) -> Cpu {
        match self {
            AnyModel::F32(m) => m.cpu(),
            AnyModel::Int8(m) => m.cpu(),
        }
    }

    pub(super) fn threads(&self) -> usize {
        match self {
            AnyModel::F32(m) => m.threads(),
            AnyModel::Int8(m) => m.threads(),
        }
    }

    pub(super) fn output_len(&self) -> usize {
        self.network().output_len()
    }

    pub(super) fn workspace(&self, batch: usize) -> crate::Result<AnyWorkspace> {
        Ok(match self {
            AnyModel::F32(m) => AnyWorkspace::F32(m.workspace(batch)?),
            AnyModel::Int8(m) => AnyWorkspace::Int8(m.workspace(batch)?),
        })
    }

    /// An imported file: int8 if it is quantized, else f32, or with `calibration` (images,
    /// seed) quantized on that many seeded images.
    pub(super) fn from_imported(
        m: &Imported,
        options: Options,
        calibration: Option<(u32, u64)>,
    ) -> Result<AnyModel, Failure> {
        if let Some(q) = &m.quant {
            return Ok(AnyModel::Int8(Q8Model::build(q.clone(), options)?));
        }
        match calibration {
            None => Ok(AnyModel::F32(Model::build_network(
                &m.network, &m.weights, options,
            )?)),
            Some(c) => quantized(&m.network, &m.weights, c, options),
        }
    }
}

/// `net` quantized by min/max calibration on `images` seeded images (as `sepconv bench
/// --dtype int8`).
pub(super) fn quantized(
    net: &Network,
    weights: &NetworkWeights,
    (images, seed): (u32, u64),
    options: Options,
) -> Result<AnyModel, Failure> {
    if images == 0 || images > MAX_CALIBRATION_IMAGES {
        return fail(
            SepconvStatus::InvalidArgument,
            format!("calibration images must be in 1..={MAX_CALIBRATION_IMAGES}, got {images}"),
        );
    }
    let cal = calibrate(net, weights, &seeded_images(net, images as usize, seed))?;
    let q = quantize(net, weights, &cal)?;
    Ok(AnyModel::Int8(Q8Model::build(q, options)?))
}
