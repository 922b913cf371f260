//! Palisade's back-to-back user agent, sans-IO.
//!
//! Each call is two dialogs: leg 0 toward whoever sent the first request, leg 1 toward
//! where Palisade sent it on. Each leg has its own Call-ID, tags, CSeq numbering, Via and
//! Contact, and only an allow-list of end-to-end headers crosses between them, so neither
//! side learns the other's topology. Registrations are relayed to the PBX with Contacts
//! rewritten to point at Palisade; a binding is kept only after the PBX's 2xx.
//!
//! Like the protocol core, this crate reads no clock and opens no socket: the IO layer
//! feeds it [`Inbound`] messages and the time, and sends what [`B2bua::poll_transmit`]
//! returns.
#![forbid(unsafe_code)]

mod call;
pub mod config;
mod engine;
mod event;
pub mod ids;
mod leg;
pub mod media;
pub mod policy;
pub mod registrar;
mod relay;
mod replaces;
mod timers;
mod txn;
pub mod types;
pub mod upstream;

pub use config::{B2buaConfig, CallingConfig, HeaderPolicy, SideAddrs, Upstream};
pub use engine::B2bua;
pub use event::{EndedBy, Event};
pub use media::{MediaControl, MediaError, MediaRemote, NoMedia};
pub use policy::{Admission, AlertLevel, CallAttempt, CallPolicy, FraudAlert, OpenPolicy};
pub use types::{Destination, Inbound, Protocol, Side, Source, Transmit};

#[cfg(test)]
mod tests;
