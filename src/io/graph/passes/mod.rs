//! The passes that rewrite a lowered [`Graph`] into a [`Network`](crate::net::Network):
//! see [`import`].

use super::{Graph, Imported};
use crate::{Error, Result};

/// Runs every pass over `graph` and builds the network; an error names the node the
/// passes could not place, its op and why.
pub fn import(graph: Graph) -> Result<Imported> {
    Err(Error::Model(format!(
        "{}: the graph passes are being written (input '{}')",
        graph.format, graph.input_name
    )))
}
