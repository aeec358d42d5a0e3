//! `twinkit-analyze`: see the `twinkit-cli` crate docs, or `--help`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use twinkit_cli::{run, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(output) => {
            for warning in &output.warnings {
                eprintln!("twinkit-analyze: warning: {warning}");
            }
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) is not an error worth reporting.
            let _ = stdout.write_all(output.text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("twinkit-analyze: {message}");
            ExitCode::FAILURE
        }
    }
}
