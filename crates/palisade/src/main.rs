//! `palisade`: the session border controller binary.
#![forbid(unsafe_code)]

mod admin;
mod book;
mod ctl;
mod inspect;
mod logging;
mod metrics;
mod protection;
mod records;
mod reload;
mod service;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use palisade_config::Config;

/// jemalloc, not glibc's malloc: see the workspace's Cargo.toml and docs/ARCHITECTURE.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "palisade",
    version,
    about = "Palisade session border controller"
)]
struct Cli {
    /// The configuration file to run with (for `ctl`: where to find the admin API).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
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
    /// Check a configuration file: print "FILE: ok", or every error as
    /// FILE:LINE:COLUMN: message and exit with status 1.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Talk to a running Palisade through its admin API (address and token from --config,
    /// or from --admin and --token).
    Ctl {
        /// The admin API's address, IP:PORT (default: admin.listen of --config, or
        /// 127.0.0.1:9090).
        #[arg(long, value_name = "ADDR")]
        admin: Option<SocketAddr>,
        /// The bearer token (default: admin.token of --config).
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        #[command(subcommand)]
        action: ctl::Action,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match (cli.command, cli.config) {
        (Some(Command::Inspect { files }), _) => inspect::run(&files),
        (Some(Command::CheckConfig { file }), _) => check_config(&file),
        (
            Some(Command::Ctl {
                admin,
                token,
                action,
            }),
            config,
        ) => match ctl::Target::resolve(config.as_deref(), admin, token) {
            Ok(target) => ctl::run(&target, action),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        (None, Some(file)) => run(&file),
        (None, None) => {
            eprintln!("palisade: give --config FILE, or a subcommand (see palisade --help)");
            ExitCode::from(2)
        }
    }
}

fn check_config(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(_) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the configuration and runs the SBC until it is told to stop.
fn run(file: &Path) -> ExitCode {
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let log = logging::init(&config);
    // One thread: the B2BUA is a single task, and the transports' socket tasks on the same
    // thread hand it messages without cross-thread wake-ups (measured: about 40% less CPU
    // per call than a multi-threaded runtime; docs/benchmarks.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("palisade: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(service::run(
        config,
        service::Reloader {
            file: file.to_path_buf(),
            log,
        },
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("palisade: {e}");
            ExitCode::FAILURE
        }
    }
}
