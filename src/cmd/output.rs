//! Printing a command's answer as JSON.

use super::error::CmdError;

/// Writes `value` as pretty JSON followed by a newline, streamed through one buffer:
/// a list of thousands of records is neither copied into a JSON tree first nor written
/// line by line.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CmdError> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
