//! The admin HTTP server: Prometheus metrics, health checks and a JSON API, on
//! `admin.listen`.
//!
//! It runs on the service's runtime, on the same thread as the B2BUA, and never touches
//! the engine: a request that needs the engine's state (the calls, the registrations, a
//! drain) is a [`Command`] sent into the service loop, which answers it between two
//! events. The metrics are atomics and are read here directly.
//!
//! Every route is one arm of [`route`]; a new endpoint is a [`Route`] variant, an arm, and
//! (when it needs the engine) a [`Command`].

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use palisade_config::Secret;
use palisade_guard::Guard;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::book::CallView;
use crate::metrics::Metrics;
use crate::reload::ReloadView;

/// What the API asks of the service loop.
#[derive(Debug)]
pub(crate) enum Command {
    Calls(oneshot::Sender<Vec<CallView>>),
    Registrations(oneshot::Sender<Vec<RegistrationView>>),
    Drain(oneshot::Sender<DrainView>),
    /// Re-read the configuration file.
    Reload(oneshot::Sender<ReloadView>),
}

/// A phone's registration, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RegistrationView {
    pub(crate) aor: String,
    /// The phone's Contact.
    pub(crate) contact: String,
    /// Where the phone is reached (its NAT's public address).
    pub(crate) remote: SocketAddr,
    pub(crate) transport: String,
    pub(crate) nat: bool,
    /// Seconds until the phone's registration expires.
    pub(crate) expires_in: u64,
    /// The token Palisade registered at the PBX in place of the phone's contact.
    pub(crate) token: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DrainView {
    pub(crate) draining: bool,
    /// Calls still in progress.
    pub(crate) calls: usize,
    /// Seconds left before the remaining calls are ended.
    pub(crate) deadline_in: u64,
}

/// What the health checks read, kept current by the service loop.
#[derive(Debug, Default)]
pub(crate) struct Status {
    pub(crate) draining: AtomicBool,
    pub(crate) upstreams_up: AtomicUsize,
}

/// A ban, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BanView {
    pub(crate) source: IpAddr,
    pub(crate) reason: &'static str,
    /// Seconds until the ban lifts by itself.
    pub(crate) expires_in: u64,
    /// Offences remembered for this source: each doubles the next ban.
    pub(crate) offences: u32,
}

#[derive(Debug, Clone, Serialize)]
struct Unbanned {
    source: IpAddr,
    unbanned: bool,
}

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Admin {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) status: Arc<Status>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) token: Option<Secret>,
    /// Connections served at once (`admin.max_connections`), the time a request's head
    /// may take (`admin.header_timeout`) and the time a request waits for the engine
    /// (`admin.request_timeout`). The API is for operators and a Prometheus server, not
    /// for crowds.
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) request_timeout: Duration,
    /// The edge protection: thread-safe, so the bans are read and lifted here, without
    /// the service loop.
    pub(crate) guard: Arc<Guard>,
}

fn bans(guard: &Guard) -> Vec<BanView> {
    guard
        .bans(Instant::now())
        .into_iter()
        .map(|b| BanView {
            source: b.source,
            reason: b.reason.as_str(),
            expires_in: b.remaining.as_secs(),
            offences: b.offences,
        })
        .collect()
}

/// The endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Metrics,
    Health,
    Ready,
    Calls,
    Registrations,
    Drain,
    Reload,
    Bans,
    Unban(IpAddr),
}

impl Route {
    /// Health checks answer without the token: orchestrators probe them.
    fn is_public(self) -> bool {
        matches!(self, Route::Health | Route::Ready)
    }
}

/// Maps a request to its endpoint: 404 for an unknown path, 405 for a known path with
/// another method.
fn route(method: &Method, path: &str) -> Result<Route, StatusCode> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (route, allowed) = match segments.as_slice() {
        ["metrics"] => (Route::Metrics, Method::GET),
        ["healthz"] => (Route::Health, Method::GET),
        ["readyz"] => (Route::Ready, Method::GET),
        ["api", "calls"] => (Route::Calls, Method::GET),
        ["api", "registrations"] => (Route::Registrations, Method::GET),
        ["api", "drain"] => (Route::Drain, Method::POST),
        ["api", "reload"] => (Route::Reload, Method::POST),
        ["api", "bans"] => (Route::Bans, Method::GET),
        ["api", "bans", ip] => match ip.parse::<IpAddr>() {
            Ok(ip) => (Route::Unban(ip), Method::DELETE),
            Err(_) => return Err(StatusCode::BAD_REQUEST),
        },
        _ => return Err(StatusCode::NOT_FOUND),
    };
    if *method == allowed || (allowed == Method::GET && *method == Method::HEAD) {
        Ok(route)
    } else {
        Err(StatusCode::METHOD_NOT_ALLOWED)
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(token: Option<&Secret>, req: &Request<Incoming>) -> bool {
    let Some(token) = token else { return true };
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|given| same(given, token.expose().as_bytes()))
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_string_pretty(value).unwrap_or_default();
    body.push('\n');
    respond(status, "application/json", body)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &ErrorBody { error: message })
}

/// Asks the service loop and waits for its answer.
async fn ask<T>(
    admin: &Admin,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, Response<Full<Bytes>>> {
    let (tx, rx) = oneshot::channel();
    let unavailable = || error(StatusCode::SERVICE_UNAVAILABLE, "the service is stopping");
    admin
        .commands
        .send_timeout(make(tx), admin.request_timeout)
        .await
        .map_err(|_| unavailable())?;
    match tokio::time::timeout(admin.request_timeout, rx).await {
        Ok(Ok(v)) => Ok(v),
        _ => Err(unavailable()),
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Serialize)]
struct Ready {
    ready: bool,
    draining: bool,
    upstreams_up: usize,
}

async fn handle(admin: Arc<Admin>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let r = match route(req.method(), req.uri().path()) {
        Ok(r) => r,
        Err(StatusCode::METHOD_NOT_ALLOWED) => {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        Err(StatusCode::BAD_REQUEST) => {
            return error(StatusCode::BAD_REQUEST, "not an IP address");
        }
        Err(_) => return error(StatusCode::NOT_FOUND, "no such endpoint"),
    };
    if !r.is_public() && !authorized(admin.token.as_ref(), &req) {
        let mut resp = error(StatusCode::UNAUTHORIZED, "a bearer token is required");
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let result = match r {
        Route::Metrics => Ok(respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            admin.metrics.render(),
        )),
        Route::Health => Ok(json(StatusCode::OK, &Health { status: "ok" })),
        Route::Ready => {
            let draining = admin.status.draining.load(Relaxed);
            let upstreams_up = admin.status.upstreams_up.load(Relaxed);
            let ready = !draining && upstreams_up > 0;
            let code = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Ok(json(
                code,
                &Ready {
                    ready,
                    draining,
                    upstreams_up,
                },
            ))
        }
        Route::Calls => ask(&admin, Command::Calls)
            .await
            .map(|v| json(StatusCode::OK, &v)),
        Route::Registrations => ask(&admin, Command::Registrations)
            .await
            .map(|v| json(StatusCode::OK, &v)),
        Route::Drain => ask(&admin, Command::Drain)
            .await
            .map(|v| json(StatusCode::ACCEPTED, &v)),
        // A refused file is the client's error: the file it asked to load is wrong.
        Route::Reload => ask(&admin, Command::Reload).await.map(|v| {
            let code = if v.reloaded {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            json(code, &v)
        }),
        Route::Bans => Ok(json(StatusCode::OK, &bans(&admin.guard))),
        Route::Unban(source) => {
            let unbanned = admin.guard.unban(Instant::now(), source);
            let code = if unbanned {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            Ok(json(code, &Unbanned { source, unbanned }))
        }
    };
    result.unwrap_or_else(|e| e)
}

/// Accepts connections until the runtime stops.
pub(crate) async fn serve(listener: TcpListener, admin: Arc<Admin>) {
    let slots = Arc::new(Semaphore::new(admin.max_connections));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "admin accept");
                continue;
            }
        };
        let admin = Arc::clone(&admin);
        let header_timeout = admin.header_timeout;
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let admin = Arc::clone(&admin);
                async move { Ok::<_, Infallible>(handle(admin, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "admin connection");
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(route(&Method::GET, "/metrics"), Ok(Route::Metrics));
        assert_eq!(route(&Method::GET, "/api/calls"), Ok(Route::Calls));
        assert_eq!(route(&Method::GET, "/api/calls/"), Ok(Route::Calls));
        assert_eq!(route(&Method::POST, "/api/drain"), Ok(Route::Drain));
        assert_eq!(route(&Method::GET, "/api/bans"), Ok(Route::Bans));
        assert_eq!(route(&Method::POST, "/api/reload"), Ok(Route::Reload));
        assert_eq!(
            route(&Method::GET, "/api/reload"),
            Err(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            route(&Method::DELETE, "/api/bans/2001:db8::1"),
            Ok(Route::Unban("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            route(&Method::DELETE, "/api/bans/not-an-ip"),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            route(&Method::GET, "/api/bans/192.0.2.1"),
            Err(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            route(&Method::GET, "/api/drain"),
            Err(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(
            route(&Method::DELETE, "/api/calls"),
            Err(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(route(&Method::GET, "/api"), Err(StatusCode::NOT_FOUND));
        assert_eq!(route(&Method::GET, "/"), Err(StatusCode::NOT_FOUND));
        assert!(Route::Health.is_public() && Route::Ready.is_public());
        assert!(!Route::Metrics.is_public() && !Route::Drain.is_public());
    }

    #[test]
    fn token_comparison() {
        assert!(same(b"abcdef", b"abcdef"));
        assert!(!same(b"abcdef", b"abcdeg"));
        assert!(!same(b"abc", b"abcdef"));
    }
}
