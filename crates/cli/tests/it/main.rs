//! The workspace's single integration-test binary: the API driven end to end with a
//! manual clock and stepped workers (no sleeps), plus architecture checks.

// Tests may panic on unexpected results; that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architecture;
mod browser;
mod console;
mod crash;
mod flow;
mod fraud;
mod money;
mod network;
mod notify;
mod portal;
mod portout;
mod records;
mod refunds;
mod returns;
mod support;
mod verification;
mod webhooks;
