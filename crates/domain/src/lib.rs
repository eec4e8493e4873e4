//! lineout's pure core: value types, accounts/lines/devices, the cancellation case
//! state machine, the effects it causes, the event hash chain and the policy.
//!
//! This crate does no I/O, reads no clock and draws no random numbers: time, ids and
//! codes are parameters. A test in `tests/` of the workspace keeps it that way.

pub mod account;
pub mod case;
pub mod chain;
pub mod effects;
pub mod ledger;
pub mod policy;
pub mod values;
pub mod verification;

pub use account::{Account, AccountKind, Device, Line, LineStatus, Locks, Ownership, Plan};
pub use case::{Actor, Case, Channel, Command, Event, EventKind, OpenCase, Status, TimerKind, Timing};
pub use policy::Policy;
pub use values::{AccountId, CaseId, Currency, DeviceId, LineId, Money, Msisdn};
