//! SIP over UDP, TCP and TLS for Palisade.
//!
//! This is the IO edge under the sans-IO core (`palisade-sip`): it owns the sockets, the
//! Tokio tasks that read them and the rustls sessions, and turns bytes into
//! [`TransportEvent`]s carrying parsed [`palisade_sip::Message`]s.
//!
//! - One task per UDP socket reads datagrams into a single preallocated 64 KiB buffer and
//!   copies each into its own `Bytes`. A UDP [`FlowId`] is computed from the socket and
//!   the source address, so no state is kept per UDP peer.
//! - One task per TCP/TLS listener accepts connections within
//!   [`TransportLimits::max_connections`] and [`TransportLimits::max_connections_per_source`].
//!   Each connection has a reader task (a `StreamFramer`, with idle and per-message
//!   timeouts) and a writer task fed by a bounded queue, so sending never waits on a slow
//!   peer: a peer that lets its queue fill is disconnected.
//! - [`Transports::send`] never waits. UDP datagrams go to a thread of their own that
//!   calls `sendto` (the kernel's delivery work then runs on another core than the caller's);
//!   [`Transports::batch`] hands a burst of them over in one wake-up. Connections are reused per (side, protocol, remote
//!   address) and opened on demand; a request too large for UDP moves to TCP
//!   (RFC 3261 §18.1.1).
//! - An [`Admission`] check (given to [`Transports::bind_with`]) sees every access-side
//!   datagram before it is parsed and every access-side connection before it is
//!   registered or its TLS handshake starts; what it refuses is dropped without a word.
//! - CRLF keep-alives and STUN Binding requests (RFC 5626) are answered here and reported
//!   as [`TransportEvent::KeepAlive`].
//!
//! ```no_run
//! use palisade_transport::{
//!     ListenSpec, Protocol, Side, Target, TlsSettings, TransportEvent, TransportLimits,
//!     Transports,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let specs = [ListenSpec {
//!     side: Side::Access,
//!     protocol: Protocol::Udp,
//!     addr: "127.0.0.1:5060".parse()?,
//! }];
//! let (transports, mut events) =
//!     Transports::bind(&specs, TlsSettings::default(), TransportLimits::default())?;
//! while let Some(event) = events.recv().await {
//!     if let TransportEvent::Message { flow, message, .. } = event {
//!         if message.is_request() {
//!             // Answer over the path the request came in on: through the phone's NAT.
//!             let reply = palisade_sip::edit::response_to(&message, 200, None).build()?;
//!             transports.send(Target::Flow(flow.id), reply)?;
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod admission;
mod limits;
mod stats;
mod stream;
mod stun;
mod tls;
mod transports;
mod types;
mod udp;
mod udp_sender;
mod via;

pub use admission::{Admission, AdmitAll};
pub use limits::TransportLimits;
pub use stats::TransportStats;
pub use tls::{CertificateFiles, TlsClientSettings, TlsError, TlsSettings};
pub use transports::{BindError, SendError, Transports};
pub use types::{Flow, FlowId, ListenSpec, Protocol, SendOptions, Side, Target, TransportEvent};
pub use udp_sender::SendBatch;
