use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = crypto_saas::cli::Cli::parse();
    let runtime = actix_web::rt::System::new();
    match runtime.block_on(crypto_saas::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
