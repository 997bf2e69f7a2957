//! Shell completions and man pages, generated from the command-line definitions.

use super::CmdError;
use crate::cli::{CompletionsArgs, ManpagesArgs};

pub fn completions(_args: &CompletionsArgs) -> Result<(), CmdError> {
    Err(CmdError::Usage("not built yet".into()))
}

pub fn manpages(_args: &ManpagesArgs) -> Result<(), CmdError> {
    Err(CmdError::Usage("not built yet".into()))
}
