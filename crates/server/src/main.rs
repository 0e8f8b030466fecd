//! The `wxlogin` binary: parse the command line, run it, report failure.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = wxlogin_server::cli::Cli::parse();
    match wxlogin_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: a store error's own text names only what was being done.
            eprintln!("wxlogin: {}", wxlogin_core::cause::chain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
