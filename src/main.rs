use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = ldbsalvage::cli::Cli::parse();
    match ldbsalvage::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ldbsalvage: {e}");
            ExitCode::from(e.code)
        }
    }
}
