//! `vkconform record` (in progress).

use super::Failure;
use crate::exit::Exit;

/// Arguments of `vkconform record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Base URL of the live server.
    #[arg(long)]
    pub target: String,
}

/// Runs `record`.
pub fn run(_args: RecordArgs) -> Result<Exit, Failure> {
    Err(Failure::new(Exit::Usage, "record is not built yet"))
}
