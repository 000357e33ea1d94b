//! The `keystone-rs` binary: parses the command line and runs one command.
use std::process::ExitCode;

fn main() -> ExitCode {
    match keystone::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
