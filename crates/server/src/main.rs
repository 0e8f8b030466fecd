//! The `wxlogin` binary: parse the command line, run it, report failure.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = wxlogin_server::cli::Cli::parse();
    match wxlogin_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wxlogin: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
