//! `vkconform check` (in progress: owned by the runner work).

use super::Failure;
use crate::exit::Exit;

/// Arguments of `vkconform check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// `mock` or a base URL.
    #[arg(long)]
    pub target: String,
}

/// Runs `check`.
pub fn run(_args: CheckArgs) -> Result<Exit, Failure> {
    Err(Failure::new(Exit::Usage, "check is not built yet"))
}
