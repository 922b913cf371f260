//! `palisade ctl`: the admin API from the command line. It finds the API from the
//! configuration file (`admin.listen`, `admin.token`) or from `--admin` and `--token`,
//! prints the JSON answer, and exits 1 when the answer is not a success.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::Subcommand;
use http_body_util::{BodyExt, Empty};
use hyper::header::{AUTHORIZATION, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use palisade_config::Config;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum Action {
    /// List the calls in progress.
    Calls,
    /// List the phones' registrations.
    Registrations,
    /// Start a graceful shutdown: new calls are refused, the process exits when the
    /// calls in progress have ended or the drain deadline passes.
    Drain,
    /// Re-read the configuration file: prints what changed, what waits for a restart,
    /// or why the file was refused (exits 1 then; the running configuration stays).
    Reload,
    /// Liveness and readiness (exits 1 when not ready).
    Health,
    /// Liveness only: exits 1 when the process does not answer. For container health
    /// checks, which must not fail while Palisade drains (`health` does).
    Live,
    /// The Prometheus metrics, as text.
    Metrics,
    /// List the banned sources.
    Bans,
    /// Lift the ban of a source address.
    Unban {
        /// The banned address.
        ip: IpAddr,
    },
}

/// Where the admin API is and the token it wants.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) token: Option<String>,
}

impl Target {
    /// From the command line, else from the configuration file, else the default.
    pub(crate) fn resolve(
        config: Option<&Path>,
        admin: Option<SocketAddr>,
        token: Option<String>,
    ) -> Result<Target, String> {
        let from_file = match config {
            Some(f) => Some(Config::load(f).map_err(|e| e.to_string())?.admin),
            None => None,
        };
        let d = palisade_config::AdminConfig::default();
        let mut addr = admin
            .or(from_file.as_ref().map(|a| a.listen))
            .unwrap_or(d.listen);
        // A wildcard listener is reached on loopback.
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let token = token.or_else(|| {
            from_file
                .and_then(|a| a.token)
                .map(|t| t.expose().to_owned())
        });
        Ok(Target { addr, token })
    }
}

/// Runs one action and prints its answer.
pub(crate) fn run(target: &Target, action: Action) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("palisade ctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let requests: Vec<(Method, String)> = match action {
        Action::Calls => vec![(Method::GET, "/api/calls".into())],
        Action::Registrations => vec![(Method::GET, "/api/registrations".into())],
        Action::Drain => vec![(Method::POST, "/api/drain".into())],
        Action::Reload => vec![(Method::POST, "/api/reload".into())],
        Action::Health => vec![
            (Method::GET, "/healthz".into()),
            (Method::GET, "/readyz".into()),
        ],
        Action::Live => vec![(Method::GET, "/healthz".into())],
        Action::Metrics => vec![(Method::GET, "/metrics".into())],
        Action::Bans => vec![(Method::GET, "/api/bans".into())],
        Action::Unban { ip } => vec![(Method::DELETE, format!("/api/bans/{ip}"))],
    };
    let mut ok = true;
    for (method, path) in &requests {
        let result = runtime.block_on(async {
            tokio::time::timeout(TIMEOUT, request(target, method.clone(), path))
                .await
                .map_err(|_| format!("no answer within {TIMEOUT:?}"))?
        });
        match result {
            Ok((status, body)) => {
                print!("{body}");
                if !status.is_success() {
                    eprintln!("palisade ctl: {path}: {status}");
                    ok = false;
                }
            }
            Err(e) => {
                eprintln!("palisade ctl: {}{path}: {e}", target.addr);
                return ExitCode::FAILURE;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn request(
    target: &Target,
    method: Method,
    path: &str,
) -> Result<(StatusCode, String), String> {
    let stream = tokio::net::TcpStream::connect(target.addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, target.addr.to_string());
    if let Some(t) = &target.token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
