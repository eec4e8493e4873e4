//! lineout's application layer: the ports the shell implements, the group-commit
//! writer, the case engine (load → decide → save in one transaction) and the steps
//! of the timer and outbox workers. No SQL and no HTTP here.

pub mod clock;
pub mod cloudevents;
pub mod engine;
pub mod error;
pub mod ledger_import;
pub mod metrics;
pub mod notices;
pub mod ports;
pub mod records;
pub mod records_port;
pub mod records_zip;
pub mod secrets;
pub mod staff;
pub mod writer;

pub use engine::{
    Adapters, CaseDetail, ClientAddress, Engine, EngineConfig, LineRef, OpenRequest, VerificationRequest,
};
pub use error::Error;
