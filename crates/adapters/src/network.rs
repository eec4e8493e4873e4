//! The real network as one [`Network`]: the HLR (osmo-hlr) forgets SIM lines, the
//! SM-DP+ (GSMA ES2+) cancels eSIM profile orders. Each is called only when configured
//! and when the line has what it needs (an IMSI; an EID + ICCID). Both are idempotent,
//! so a redelivery after a partial failure repeats the finished half harmlessly.

use lineout_app::ports::{AdapterError, DeprovisionRequest, Network};

/// Network elements to deprovision a line from.
pub struct RealNetwork {
    pub hlr: Option<Box<dyn Network>>,
    pub esim: Option<Box<dyn Network>>,
}

#[async_trait::async_trait]
impl Network for RealNetwork {
    async fn deprovision(&self, idempotency_key: &str, request: &DeprovisionRequest) -> Result<(), AdapterError> {
        let mut failure: Option<AdapterError> = None;
        for element in [&self.hlr, &self.esim].into_iter().flatten() {
            if let Err(e) = element.deprovision(idempotency_key, request).await {
                // Keep going: the other element's half gets done now, this one on retry.
                failure = Some(match failure {
                    // Retry while any part can still succeed by retrying.
                    Some(prev) if prev.retryable || e.retryable => {
                        AdapterError::retryable(format!("{}; {}", prev.message, e.message))
                    }
                    Some(prev) => AdapterError::permanent(format!("{}; {}", prev.message, e.message)),
                    None => e,
                });
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineout_domain::effects::Effect;
    use lineout_domain::values::{CaseId, Msisdn};
    use std::sync::Mutex;

    struct Scripted(Mutex<Vec<Result<(), AdapterError>>>, Mutex<u32>);

    #[async_trait::async_trait]
    impl Network for Scripted {
        async fn deprovision(&self, _: &str, _: &DeprovisionRequest) -> Result<(), AdapterError> {
            *self.1.lock().unwrap() += 1;
            self.0.lock().unwrap().pop().unwrap_or(Ok(()))
        }
    }

    fn request() -> DeprovisionRequest {
        DeprovisionRequest {
            case_id: CaseId::parse("C1").unwrap(),
            effect: Effect::Deprovision {
                msisdn: Msisdn::parse("+14155550100").unwrap(),
                imsi: None,
                iccid: None,
                eid: None,
            },
        }
    }

    #[tokio::test]
    async fn both_elements_are_called_and_failures_combine() {
        let net = RealNetwork {
            hlr: Some(Box::new(Scripted(Mutex::new(vec![Err(AdapterError::permanent("hlr says no"))]), Mutex::new(0)))),
            esim: Some(Box::new(Scripted(Mutex::new(vec![Err(AdapterError::retryable("smdp busy"))]), Mutex::new(0)))),
        };
        let err = net.deprovision("k", &request()).await.unwrap_err();
        assert!(err.retryable, "one retryable part makes the whole retryable");
        assert!(err.message.contains("hlr says no") && err.message.contains("smdp busy"));
        assert_eq!(net.deprovision("k", &request()).await, Ok(()));
        let none = RealNetwork { hlr: None, esim: None };
        assert_eq!(none.deprovision("k", &request()).await, Ok(()));
    }
}
