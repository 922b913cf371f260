//! Palisade's configuration: the YAML schema, its defaults, and validation that reports
//! every problem as `FILE:LINE:COLUMN: message`.
//!
//! ```
//! let text = r#"
//! access:
//!   listen: ["udp:127.0.0.1:5060"]
//! core:
//!   listen: ["udp:127.0.0.1:5062"]
//!   upstream: ["sip:127.0.0.1:5080"]
//! "#;
//! let config = palisade_config::Config::from_str(text, "palisade.yaml").unwrap();
//! assert_eq!(config.calls.max_active, 10_000);
//!
//! let err = palisade_config::Config::from_str("acess: {}\n", "palisade.yaml").unwrap_err();
//! assert!(err.to_string().starts_with("palisade.yaml:1:1: unknown field `acess`"));
//! ```
//!
//! The file is read by `serde-saphyr` into a raw tree in which every value keeps its
//! position (see the `validate` module for how positions are chosen); then every value is
//! parsed and checked, and all problems are returned together in [`ConfigErrors`].
//! Durations are written with a unit (`500ms`, `10s`, `5m`, `1h`); docs/configuration.md
//! lists every key with its default.
#![forbid(unsafe_code)]

mod error;
mod fraud;
mod raw;
mod sections;
mod types;
mod validate;

use std::path::Path;

use serde_saphyr::MessageFormatter;

pub use error::{ConfigError, ConfigErrors, Position};
pub use fraud::FraudConfig;
pub use sections::{
    AccessConfig, AdminConfig, BansConfig, CallsConfig, CoreConfig, DrainConfig, LogConfig,
    MediaConfig, ProbeConfig, RatesConfig, RecordsConfig, RegistrationConfig, SecurityConfig,
    SessionTimerConfig, SipConfig, SipLimits, SipTimers, TcpConfig, TopologyConfig,
    TransportConfig, UdpConfig,
};
pub use types::{
    HeaderPolicy, Listen, LogFormat, PortRange, Protocol, Secret, TlsFiles, Upstream, UpstreamHost,
    ValueError, parse_duration,
};

/// Largest configuration text accepted, in bytes.
pub const MAX_CONFIG_SIZE: usize = 1 << 20;

/// A complete, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub access: AccessConfig,
    pub core: CoreConfig,
    pub media: MediaConfig,
    pub admin: AdminConfig,
    pub sip: SipConfig,
    pub transport: TransportConfig,
    pub calls: CallsConfig,
    pub registration: RegistrationConfig,
    pub topology: TopologyConfig,
    pub security: SecurityConfig,
    pub fraud: FraudConfig,
    pub drain: DrainConfig,
    pub log: LogConfig,
    pub records: RecordsConfig,
}

impl Config {
    /// Reads and validates a configuration file. Errors name the file as `path` was
    /// given. Relative paths inside the file (certificates, token file) are resolved
    /// against the directory that holds it.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let fail = |msg: String| ConfigErrors::new(vec![ConfigError::new(&origin, None, msg)]);
        let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        if meta.len() > MAX_CONFIG_SIZE as u64 {
            return Err(fail(format!(
                "the file is larger than {MAX_CONFIG_SIZE} bytes"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty());
        parse(&text, &origin, base)
    }

    /// Validates a configuration held in memory; `origin` names it in errors. Relative
    /// paths inside it are resolved against the current directory.
    pub fn from_str(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        parse(text, origin, None)
    }
}

fn parse(text: &str, origin: &str, base_dir: Option<&Path>) -> Result<Config, ConfigErrors> {
    if text.len() > MAX_CONFIG_SIZE {
        return Err(ConfigErrors::new(vec![ConfigError::new(
            origin,
            None,
            format!("the configuration is larger than {MAX_CONFIG_SIZE} bytes"),
        )]));
    }
    let raw: raw::RawConfig = serde_saphyr::from_str(text)
        .map_err(|e| ConfigErrors::new(vec![yaml_error(&e, origin)]))?;
    let mut ctx = validate::Ctx::new(origin, base_dir);
    match validate::build(&raw, &mut ctx) {
        Some(config) => Ok(config),
        None => Err(ConfigErrors::new(ctx.into_errors())),
    }
}

/// A reader error: serde-saphyr's message for end users (not the developer wording,
/// which names API functions), without the snippet and the location suffix it adds when
/// it prints one, with control characters escaped, at its location.
fn yaml_error(e: &serde_saphyr::Error, origin: &str) -> ConfigError {
    let e = e.without_snippet();
    let mut message = serde_saphyr::UserMessageFormatter
        .format_message(e)
        .into_owned();
    // The reader speaks of YAML events; an operator thinks of lists and mappings.
    for (event, shape) in [
        ("expected sequence start", "expected a list"),
        (
            "expected mapping start",
            "expected a mapping (key: value pairs)",
        ),
    ] {
        if message == event {
            message = shape.to_owned();
        }
    }
    let message: String = message
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    let position = e
        .location()
        .map(|l| validate::position(&l))
        .unwrap_or(Position::START);
    ConfigError::new(origin, Some(position), message)
}
