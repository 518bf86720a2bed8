//! The subcommands of the `sepconv` binary that need more than a few lines.

pub mod bench;
pub mod info;
pub mod run;
