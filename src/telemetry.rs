//! Structured logs with `tracing`: text for people, JSON for collectors.

use std::io::IsTerminal;

use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Whether a line may be written at all: tokio-postgres prints every statement's parameters at
/// debug (password hashes, sealed secrets, emails), so its debug and trace lines never reach
/// the log, whatever `LOG_LEVEL` or `RUST_LOG` asks for.
fn may_log(meta: &tracing::Metadata<'_>) -> bool {
    !(meta.target().starts_with("tokio_postgres") && *meta.level() >= tracing::Level::DEBUG)
}

pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a log file or a pipe.
        .with_ansi(std::io::stderr().is_terminal());
    let result = if json {
        builder
            .json()
            .with_current_span(true)
            .finish()
            .with(filter_fn(may_log))
            .try_init()
    } else {
        builder.finish().with(filter_fn(may_log)).try_init()
    };
    if result.is_ok() {
        std::panic::set_hook(Box::new(|info| {
            tracing::error!(panic = %info, "panic");
        }));
    }
}
