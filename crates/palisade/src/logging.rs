//! Log output: human or JSON lines on stderr, filtered by the configured level, which a
//! reload can change.

use std::io::IsTerminal;

use palisade_config::{Config, LogFormat};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// Changes the level of the installed subscriber.
#[derive(Debug, Clone)]
pub(crate) struct LogLevel {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    /// `RUST_LOG` was set: it wins over the file, at start and on reload.
    from_env: bool,
}

impl LogLevel {
    /// Sets the level from the configuration (`log.level`, already validated).
    pub(crate) fn set(&self, level: &str) {
        if self.from_env {
            tracing::info!("RUST_LOG is set: log.level from the file is not applied");
            return;
        }
        let Some(handle) = &self.handle else { return };
        match EnvFilter::try_new(level).map(|f| handle.reload(f)) {
            Ok(Ok(())) => tracing::info!(level, "log level changed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot change the log level"),
            Err(e) => tracing::warn!(error = %e, level, "not a log level"),
        }
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level,
/// which is the usual way to raise verbosity for one run.
pub(crate) fn init(config: &Config) -> LogLevel {
    let env = EnvFilter::try_from_default_env().ok();
    let from_env = env.is_some();
    let filter = env
        .or_else(|| EnvFilter::try_new(&config.log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let fmt = match config.log.format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    // A second initialisation (tests) is not an error worth stopping for; the level of
    // the subscriber already installed then stays as it is.
    let installed = Registry::default()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok();
    LogLevel {
        handle: installed.then_some(handle),
        from_env,
    }
}
