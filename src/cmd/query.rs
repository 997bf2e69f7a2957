//! `vifd query`: many agents at once, merged into one table.

use super::CmdError;
use crate::cli::QueryArgs;
use crate::config::FileConfig;

/// Asks every agent; `Ok(true)` when all of them answered.
pub async fn run(_args: &QueryArgs, _file: &FileConfig) -> Result<bool, CmdError> {
    Err(CmdError::Usage("vifd query is not built yet".into()))
}
