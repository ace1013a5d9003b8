//! The command line: parses arguments, runs one command, prints its error
//! once, and maps every outcome to an exit code (`crate::exit::Exit`).

pub mod check;
mod mock_cmd;
mod record_cmd;
mod schemas_cmd;

use crate::exit::Exit;
use clap::{Parser, Subcommand};

/// Conformance runner, mock server and recorder for VK-family APIs.
#[derive(Debug, Parser)]
#[command(name = "vkconform", version, about, long_about = None)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the mock OpenVK/Devino/OK server.
    Mock(mock_cmd::MockArgs),
    /// Check a server (or the embedded mock) against the suites.
    Check(check::CheckArgs),
    /// Record a live server's answers into snapshots/.
    Record(record_cmd::RecordArgs),
    /// List, check, show or export the schema catalog.
    Schemas(schemas_cmd::SchemasArgs),
}

/// A failure of a command: what to print and which exit code to use.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub exit: Exit,
    /// One-line, actionable message.
    pub message: String,
}

impl Failure {
    /// A failure with an exit code and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

/// Runs the CLI with the process arguments.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            let _ = e.print();
            return code.into();
        }
    };
    let result = match cli.command {
        Command::Mock(a) => mock_cmd::run(a),
        Command::Check(a) => check::run(a),
        Command::Record(a) => record_cmd::run(a),
        Command::Schemas(a) => schemas_cmd::run(a),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(f) => {
            eprintln!("vkconform: {}", f.message);
            f.exit.into()
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(
            Exit::Usage,
            format!("cannot write to stdout: {e}"),
        )),
    }
}

/// Builds a multi-threaded tokio runtime for a command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Exit::Usage, format!("cannot start the async runtime: {e}")))
}
