//! Transaction tests: each machine alone against a virtual clock, client and server
//! machines joined by a simulated lossy link, matching, and randomized event sequences.

mod support;

mod client_invite;
mod client_non_invite;
mod key;
mod pair;
mod props;
mod server_invite;
mod server_non_invite;
