//! The per-case hash chain: each stored event carries the SHA-256 of the previous one.
//!
//! The hash covers the previous hash, the case id, the sequence number and the exact
//! stored body text, so verification never depends on re-serialising an event.

use sha2::{Digest, Sha256};

/// The `prev_hash` of a case's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one stored event, as lowercase hex.
pub fn event_hash(prev_hash: &str, case_id: &str, seq: u64, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(case_id.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// One stored event as the chain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("event {seq}: sequence gap (expected {expected})")]
    Gap { seq: u64, expected: u64 },
    #[error("event {seq}: prev_hash does not match the previous event's hash")]
    PrevMismatch { seq: u64 },
    #[error("event {seq}: hash does not match its content")]
    HashMismatch { seq: u64 },
}

/// Verifies a case's events in order; returns the first break.
pub fn verify(case_id: &str, links: &[Link]) -> Result<(), Break> {
    let mut prev = GENESIS.to_owned();
    for (i, link) in links.iter().enumerate() {
        let expected = i as u64 + 1;
        if link.seq != expected {
            return Err(Break::Gap { seq: link.seq, expected });
        }
        if link.prev_hash != prev {
            return Err(Break::PrevMismatch { seq: link.seq });
        }
        if event_hash(&prev, case_id, link.seq, &link.body) != link.hash {
            return Err(Break::HashMismatch { seq: link.seq });
        }
        prev.clone_from(&link.hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(bodies: &[&str]) -> Vec<Link> {
        let mut prev = GENESIS.to_owned();
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let seq = i as u64 + 1;
                let hash = event_hash(&prev, "c1", seq, b);
                let link = Link { seq, body: (*b).to_owned(), prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                link
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies_and_tampering_is_found() {
        let mut links = chain(&["a", "b", "c"]);
        assert_eq!(verify("c1", &links), Ok(()));
        links[1].body = "B".into();
        assert_eq!(verify("c1", &links), Err(Break::HashMismatch { seq: 2 }));
        let mut links = chain(&["a", "b", "c"]);
        links.remove(1);
        assert_eq!(verify("c1", &links), Err(Break::Gap { seq: 3, expected: 2 }));
    }
}
