use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    ldbsalvage::cli::tune_allocator();
    let cli = ldbsalvage::cli::Cli::parse();
    match ldbsalvage::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Messages name paths from the command line and the input.
            eprintln!(
                "ldbsalvage: {}",
                ldbsalvage::vocab::text::printable(&e.to_string())
            );
            ExitCode::from(e.code)
        }
    }
}
