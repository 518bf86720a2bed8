//! The passes that rewrite a lowered [`Graph`] into a [`Network`](crate::net::Network),
//! each a small function over the chain: `fold` (Identity, Pad, BatchNormalization,
//! per-channel arithmetic, activations), `build` (the layers and the head) and, for a
//! quantized model, `build_q8` (its [`Q8Network`](crate::net::q8::Q8Network)).

mod build;
mod fold;
mod q8;
#[cfg(test)]
mod tests;

pub use self::build::build;
pub use self::fold::{drop_identity, fold_affine, fold_pad, fuse_clamp};
pub use self::q8::build_q8;

use super::{Graph, Imported};
use crate::Result;

/// Runs every pass over `graph` and builds the network; an error names the node the
/// passes could not place, its op and why.
pub fn import(mut graph: Graph) -> Result<Imported> {
    drop_identity(&mut graph);
    fold_pad(&mut graph)?;
    fold_affine(&mut graph)?;
    fuse_clamp(&mut graph)?;
    let mut imported = build(&graph)?;
    imported.quant = build_q8(&graph, &imported)?;
    Ok(imported)
}
