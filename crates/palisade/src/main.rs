//! `palisade`: the session border controller binary.
#![forbid(unsafe_code)]

mod inspect;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "palisade",
    version,
    about = "Palisade session border controller"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse SIP messages from files (one datagram per file) and print the verdict Palisade
    /// would give each: accepted, the status code it would answer, or a silent drop.
    Inspect {
        /// Files holding one SIP message each, as received.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect { files } => inspect::run(&files),
    }
}
