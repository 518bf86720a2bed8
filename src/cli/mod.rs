//! The subcommands of the `sepconv` binary that need more than a few lines.

pub mod bench;
pub mod bench_file;
pub mod bench_q8;
pub mod info;
pub mod plot;
pub mod quantize;
pub mod run;
