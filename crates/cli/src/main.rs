//! The `lineout` binary: parses the command line, runs the command, and maps the
//! outcome to an exit code (0 success, 1 failure, 2 bad configuration or usage).
//! Every error is printed as a message; nothing panics on bad input.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = lineout::cli::Cli::parse();
    match lineout::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
