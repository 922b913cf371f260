//! The B2BUA driven with a virtual clock: a phone on the access side and a PBX on the
//! core side, played by the tests, exchange messages through it.

mod calling;
mod calls;
mod media;
mod registrar;
mod registration;
mod subscriptions;
mod support;
mod timers;
mod upstreams;
