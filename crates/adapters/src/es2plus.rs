//! The GSMA SGP.22 ES2+ interface (operator ↔ SM-DP+, JSON over HTTPS) and the eSIM
//! side of deprovisioning.
//!
//! - [`Es2PlusClient`] calls `cancelOrder` and `releaseProfile` on an SM-DP+.
//! - [`Es2PlusNetwork`] implements the [`Network`] port for eSIM lines: a deprovision
//!   effect with an EID cancels the profile's order at the SM-DP+; one without an EID
//!   (a physical SIM) is not the SM-DP+'s business and succeeds at once.
//! - [`parse_download_progress`] validates the SM-DP+'s `handleDownloadProgressInfo`
//!   notification for the HTTP endpoint in crates/web.
//! - `fake` (feature `fake-smdp`) is a loopback SM-DP+ for tests.
//!
//! ## What deprovisioning does (and why)
//!
//! `cancelOrder` (with `finalProfileStatusIndicator`, default `Unavailable` so the
//! cancelled number's profile is never handed out again) ends a profile's order while
//! it is pending: allocated, linked, confirmed or released but not yet downloaded.
//! Once the profile is downloaded or installed the SM-DP+ refuses with 8.2.1 / 3.5
//! (invalid transition), and ES2+ v2.5 has nothing that removes a profile from a
//! device: the subscription ends at the HLR/HSS (the other network adapter), which is
//! what stops an installed profile from working. So by default ([`Es2PlusMode::CancelOrder`])
//! that refusal counts as done and is logged as `not_cancellable`. The opt-in
//! [`Es2PlusMode::CancelOrderThenRelease`] then also calls `releaseProfile`; see its note.
//!
//! Answers: `Executed-Success` / `Executed-WithWarning` → done. `Failed` with 8.2.1 / 3.5
//! or 3.3 (already final, or past the order) and 8.2.1 / 3.9 (unknown ICCID) → done, so
//! a redelivered effect is harmless. `Expired`, 1.2 / 4.2 and 1.2 / 4.4 → retry. Any
//! other `Failed` → permanent. HTTP 5xx, 408, 429, time-outs, connection errors, bodies
//! that are not an ES2+ answer or are too large → retry. Other HTTP statuses → permanent.
//!
//! Each call's `functionCallIdentifier` is `<outbox key>.<function>`: the same on every
//! delivery of an outbox row. Logs and errors name the case, the key and codes, never
//! an ICCID or EID.

mod client;
#[cfg(any(test, feature = "fake-smdp"))]
pub mod fake;
mod notify;
#[cfg(test)]
mod tests;
mod wire;

pub use client::{
    ConfigError, Es2PlusClient, Es2PlusConfig, Es2PlusMode, FinalProfileStatus, MAX_RESPONSE_BYTES_LIMIT, Verdict,
    call_id, judge,
};
pub use notify::{
    ACK_STATUS, DownloadProgress, DownloadProgressError, MAX_NOTIFICATION_BYTES, NotificationPoint,
    parse_download_progress,
};
pub use wire::{
    ADMIN_PROTOCOL_HEADER, CONTENT_TYPE_JSON, DEFAULT_ADMIN_PROTOCOL, ExecutionStatus, Function, FunctionAnswer,
    PATH_PREFIX, StatusCode, answer_body, codes,
};

use lineout_app::ports::{AdapterError, DeprovisionRequest, Network};
use lineout_domain::effects::Effect;

/// What deprovisioning an eSIM line did at the SM-DP+.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EsimOutcome {
    /// The line has no EID: not an eSIM, nothing to do at the SM-DP+.
    NotEsim,
    /// `cancelOrder` executed (with the warning code, if any).
    OrderCancelled { warning: Option<StatusCode> },
    /// The SM-DP+ does not know the ICCID (8.2.1 / 3.9).
    ProfileUnknown { code: StatusCode },
    /// `cancelOrder` refused because the profile is already final or downloaded /
    /// installed (8.2.1 / 3.5 or 3.3); in `cancel_order` mode nothing more is tried.
    NotCancellable { code: StatusCode },
    /// `releaseProfile` executed (`cancel_order_then_release` mode).
    ProfileReleased { warning: Option<StatusCode> },
    /// Neither function applies to the profile's state (`cancel_order_then_release` mode).
    NotReleasable { code: StatusCode },
}

impl EsimOutcome {
    /// A stable name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NotEsim => "not_esim",
            Self::OrderCancelled { .. } => "order_cancelled",
            Self::ProfileUnknown { .. } => "profile_unknown",
            Self::NotCancellable { .. } => "not_cancellable",
            Self::ProfileReleased { .. } => "profile_released",
            Self::NotReleasable { .. } => "not_releasable",
        }
    }
    /// The status code the SM-DP+ answered with, if any.
    pub fn code(&self) -> Option<&StatusCode> {
        match self {
            Self::NotEsim => None,
            Self::OrderCancelled { warning } | Self::ProfileReleased { warning } => warning.as_ref(),
            Self::ProfileUnknown { code } | Self::NotCancellable { code } | Self::NotReleasable { code } => Some(code),
        }
    }
}

/// The [`Network`] adapter for eSIM lines, over ES2+.
#[derive(Debug, Clone)]
pub struct Es2PlusNetwork {
    client: Es2PlusClient,
}

impl Es2PlusNetwork {
    pub fn new(config: Es2PlusConfig) -> Result<Self, ConfigError> {
        Ok(Self { client: Es2PlusClient::new(config)? })
    }

    pub fn client(&self) -> &Es2PlusClient {
        &self.client
    }

    /// Deprovisions the eSIM of `request` at the SM-DP+ and says what happened.
    pub async fn deprovision_esim(
        &self,
        idempotency_key: &str,
        request: &DeprovisionRequest,
    ) -> Result<EsimOutcome, AdapterError> {
        let Effect::Deprovision { iccid, eid, .. } = &request.effect else {
            return Err(AdapterError::permanent("es2plus: not a deprovision effect"));
        };
        let Some(eid) = eid else {
            return Ok(EsimOutcome::NotEsim);
        };
        let Some(iccid) = iccid else {
            return Err(AdapterError::permanent("es2plus: eSIM line without an ICCID"));
        };
        let config = self.client.config();
        let answer = self
            .client
            .cancel_order(
                &call_id(idempotency_key, Function::CancelOrder),
                iccid,
                config.send_eid.then_some(eid),
                None,
                config.final_profile_status,
            )
            .await?;
        let outcome = match judge(Function::CancelOrder, &answer) {
            Verdict::Executed(warning) => EsimOutcome::OrderCancelled { warning },
            Verdict::UnknownProfile(code) => EsimOutcome::ProfileUnknown { code },
            Verdict::NotInState(code) if config.mode == Es2PlusMode::CancelOrder => {
                EsimOutcome::NotCancellable { code }
            }
            Verdict::NotInState(_) => {
                let answer =
                    self.client.release_profile(&call_id(idempotency_key, Function::ReleaseProfile), iccid).await?;
                match judge(Function::ReleaseProfile, &answer) {
                    Verdict::Executed(warning) => EsimOutcome::ProfileReleased { warning },
                    Verdict::UnknownProfile(code) => EsimOutcome::ProfileUnknown { code },
                    Verdict::NotInState(code) => EsimOutcome::NotReleasable { code },
                    Verdict::Retry(m) => return Err(AdapterError::retryable(m)),
                    Verdict::Permanent(m) => return Err(AdapterError::permanent(m)),
                }
            }
            Verdict::Retry(m) => return Err(AdapterError::retryable(m)),
            Verdict::Permanent(m) => return Err(AdapterError::permanent(m)),
        };
        Ok(outcome)
    }
}

#[async_trait::async_trait]
impl Network for Es2PlusNetwork {
    async fn deprovision(&self, idempotency_key: &str, request: &DeprovisionRequest) -> Result<(), AdapterError> {
        match self.deprovision_esim(idempotency_key, request).await {
            Ok(outcome) => {
                let code = outcome.code().map(ToString::to_string).unwrap_or_default();
                tracing::info!(case_id = %request.case_id, key = idempotency_key, outcome = outcome.as_str(), code, "es2plus deprovision done");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(case_id = %request.case_id, key = idempotency_key, retryable = e.retryable, error = %e.message, "es2plus deprovision failed");
                Err(e)
            }
        }
    }
}
