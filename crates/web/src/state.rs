//! The state every handler shares: the engine, the HTTP limits, the token cache and
//! the request-id counter. Cheap to clone.

use lineout_app::Engine;
use lineout_app::ports::TokenRecord;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Limits of the HTTP layer; every body, batch and page is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes.
    pub body_bytes: usize,
    /// Most rows in one import request.
    pub import_rows: usize,
    /// Page size of lists when the client gives none.
    pub page_default: u32,
    /// Largest page a client may ask for.
    pub page_max: u32,
    /// How long a validated token is trusted without asking the store again.
    pub token_cache_ttl_ms: i64,
    /// Most tokens kept in the cache.
    pub token_cache_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            import_rows: 1_000,
            page_default: 50,
            page_max: 500,
            token_cache_ttl_ms: 30_000,
            token_cache_entries: 4_096,
        }
    }
}

/// What the HTTP layer needs to serve requests.
#[derive(Clone)]
pub struct AppState {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    pub(crate) tokens: Arc<TokenCache>,
    pub(crate) request_ids: Arc<RequestIds>,
    /// A TrueType CJK font for Chinese PDF statements (e.g. WenQuanYi Micro Hei).
    pub(crate) cjk_font: Option<Arc<Vec<u8>>>,
    /// Per-address limits of "this wasn't me" reports.
    pub(crate) fraud_reports: Arc<crate::fraud::RateLimiter>,
    /// The staff console's settings and sign-in throttle.
    pub(crate) console: Arc<crate::console::ConsoleState>,
}

impl AppState {
    pub fn new(engine: Engine) -> Self {
        let prefix = engine.now().unix_timestamp();
        Self {
            engine,
            limits: Limits::default(),
            tokens: Arc::new(TokenCache::default()),
            request_ids: Arc::new(RequestIds { prefix: format!("{prefix:x}"), next: AtomicU64::new(1) }),
            cjk_font: None,
            fraud_reports: Arc::new(crate::fraud::RateLimiter::default()),
            console: Arc::new(crate::console::ConsoleState::new(crate::console::ConsoleConfig::default())),
        }
    }

    /// Sets the staff console's session length and cookie flags.
    pub fn with_console(mut self, config: crate::console::ConsoleConfig) -> Self {
        self.console = Arc::new(crate::console::ConsoleState::new(config));
        self
    }

    /// Sets the CJK font (TrueType / TTC bytes) used for Chinese PDF statements.
    pub fn with_cjk_font(mut self, font: Option<Vec<u8>>) -> Self {
        self.cjk_font = font.map(Arc::new);
        self
    }

    /// Sets the largest request body accepted, in bytes (default 1 MiB).
    pub fn set_body_limit(&mut self, bytes: usize) {
        self.limits.body_bytes = bytes;
    }

    /// Builder form of [`AppState::set_body_limit`].
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.set_body_limit(bytes);
        self
    }

    /// Replaces all limits at once.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Generates request ids: a per-process prefix and a counter (no randomness needed).
pub(crate) struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl RequestIds {
    pub(crate) fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("req-{}-{n:x}", self.prefix)
    }
}

/// A small cache of validated tokens, keyed by the presented secret. Bounded in size
/// and in age, so a token removed from the store stops working within the TTL.
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<String, (TokenRecord, OffsetDateTime)>>,
}

impl TokenCache {
    pub(crate) fn get(&self, secret: &str, now: OffsetDateTime) -> Option<TokenRecord> {
        let entries = self.entries.lock().ok()?;
        match entries.get(secret) {
            Some((record, expires)) if *expires > now => Some(record.clone()),
            _ => None,
        }
    }

    pub(crate) fn put(&self, secret: String, record: TokenRecord, now: OffsetDateTime, limits: &Limits) {
        if limits.token_cache_entries == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= limits.token_cache_entries {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= limits.token_cache_entries {
                // Still full of live entries: start over rather than grow.
                entries.clear();
            }
        }
        entries.insert(secret, (record, now + Duration::milliseconds(limits.token_cache_ttl_ms)));
    }
}
