//! Command-line interface: arguments and the commands they run.

use crate::report::{summary, Report};
use crate::scan::store;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

pub const EXIT_OK: u8 = 0;
pub const EXIT_DAMAGE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

const EXIT_CODES: &str = "Exit status: 0 nothing damaged, 1 damage found (the output is still complete), 2 usage error or nothing readable.";

#[derive(Debug, Parser)]
#[command(name = "ldbsalvage", version, about = "Forensic recovery of corrupted LevelDB stores", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify every record and block of a store (or of single files) as
    /// intact, torn or garbled, without writing anything but the report.
    #[command(after_help = concat!(
        "Example:\n  ldbsalvage scan /quarantine/db --report scan.json\n\n",
        "Exit status: 0 nothing damaged, 1 damage found, 2 usage error or nothing readable."
    ))]
    Scan {
        /// A store directory, or single files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the JSON report here (`-` for stdout, which then gets no summary).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// No progress and no summary.
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn pool(jobs: Option<usize>) -> Result<rayon::ThreadPool, CliError> {
    let n = match jobs {
        Some(0) => return Err(CliError::usage("--jobs must be at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| CliError::usage(format!("cannot start {n} threads: {e}")))
}

fn write_report(r: &Report, dest: &std::path::Path) -> Result<(), CliError> {
    let json = serde_json::to_vec_pretty(r).map_err(|e| CliError::usage(e.to_string()))?;
    if dest.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(&json)
            .and_then(|_| out.write_all(b"\n"))
            .map_err(|e| CliError::usage(format!("writing report: {e}")))
    } else {
        crate::salvage::durable::write_file(dest, &json)
            .map_err(|e| CliError::usage(format!("writing report {}: {e}", dest.display())))
    }
}

fn exit_for(r: &Report) -> u8 {
    let readable = r.files.iter().any(|f| f.scanned && f.error.is_none());
    if !readable {
        EXIT_USAGE
    } else if r.has_damage() {
        EXIT_DAMAGE
    } else {
        EXIT_OK
    }
}

/// Run a parsed command line; the number is the process exit status.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Scan {
            paths,
            report,
            jobs,
            quiet,
        } => {
            let pool = pool(jobs)?;
            let r = pool
                .install(|| store::scan_all(&paths, &|_| {}))
                .map_err(|e| CliError::usage(e.to_string()))?;
            let to_stdout = report.as_ref().is_some_and(|p| p.as_os_str() == "-");
            if let Some(dest) = &report {
                write_report(&r, dest)?;
            }
            if !quiet && !to_stdout {
                print!("{}", summary::render(&r));
            }
            let code = exit_for(&r);
            if code == EXIT_USAGE {
                eprintln!("ldbsalvage: nothing readable in {} file(s)", r.files.len());
            }
            Ok(code)
        }
    }
}
