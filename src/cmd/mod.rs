//! One module per command.
pub mod check;
pub mod completions;
pub mod generate;
pub mod lists;
pub mod new;
pub mod routes;
pub mod serve;
pub mod user;

/// Writes a command's report to stdout; a closed pipe (`… | head`) is not an error.
///
/// # Errors
/// Any other failure to write.
pub fn write_out(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
