use clap::Parser;

/// glibc's malloc kept freed pages (the daemon stayed at its peak size until `malloc_trim`) and
/// spent more time per request; mimalloc returns memory on its own (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
