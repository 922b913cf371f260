//! Palisade's toll-fraud policy, sans-IO.
//!
//! The B2BUA asks [`Fraud`] (its [`palisade_b2bua::CallPolicy`]) before an access-side
//! call starts and tells it when the call is answered and when it ends. [`Rules`] say
//! which destinations each class of accounts may call ([`pattern`]), each class's limits
//! (concurrent calls, calls per minute, calls and minutes per day, a duration cap) and
//! the fraud rules in the manner of OpenSIPS `fraud_detection`: per account and dialled
//! prefix, within hours of the day and days of the week, warning and critical thresholds
//! on calls per minute, concurrent calls, sequential calls to one number, calls of the day
//! and call duration. A critical threshold blocks the account for `block_time`.
//!
//! Like the B2BUA, this crate reads no clock: `now` comes with every call, and the wall
//! clock (for hours, weekdays and days) comes from the IO layer through
//! [`Fraud::set_wall_clock`]. Rules are swapped whole with [`Fraud::set_rules`]; counters
//! survive a swap.
#![forbid(unsafe_code)]

pub mod civil;
mod engine;
pub mod pattern;
pub mod rules;

pub use civil::Civil;
pub use engine::Fraud;
pub use pattern::Pattern;
pub use rules::{Class, FraudRule, Limits, Rules, Thresholds, Window};

#[cfg(test)]
mod tests;
