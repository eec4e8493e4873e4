//! Staff of the console: accounts with roles, password sign-in (argon2id, hashed and
//! checked off the writer thread), sessions with their CSRF token, and the sign-in
//! throttle.
//!
//! Only hashes are stored: the argon2id PHC string of each password and the SHA-256 of
//! each session secret. The secret itself lives only in the browser's cookie.

use crate::engine::{Engine, hash_secret};
use crate::error::Error;
use crate::ports::{StaffRecord, StaffSession};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// What a member of staff may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StaffRole {
    /// Front line and stores: find a line, verify the customer, open a case.
    Agent,
    /// Reviews cases: approve or reject.
    Reviewer,
    /// Receives and inspects returned devices.
    Warehouse,
    /// Everything, plus the overview.
    Admin,
}

impl StaffRole {
    pub const ALL: [StaffRole; 4] = [Self::Agent, Self::Reviewer, Self::Warehouse, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Reviewer => "reviewer",
            Self::Warehouse => "warehouse",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Passwords shorter than this are refused at creation.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Passwords longer than this are refused (argon2 input is bounded).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// A fresh session: the cookie's secret (shown once) and the form token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub staff: StaffRecord,
    pub secret: String,
    pub csrf: String,
    pub expires_at: OffsetDateTime,
}

fn valid_username(u: &str) -> bool {
    (3..=32).contains(&u.len())
        && u.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// A hash that matches no password, verified when the username is unknown so that a
/// wrong username takes as long as a wrong password.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$Wg6gQ0Z9yOQ8cJxbqQn3Yb8mOUFsqK7m1rZ8q2lVb9E";

impl Engine {
    /// Creates a member of staff. The password is hashed on a blocking thread.
    pub async fn create_staff(
        &self,
        username: String,
        display_name: String,
        role: StaffRole,
        password: String,
    ) -> Result<StaffRecord, Error> {
        if !valid_username(&username) {
            return Err(Error::invalid("username", "3 to 32 of a-z, 0-9, '.', '_' or '-'"));
        }
        let name = display_name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err(Error::invalid("display_name", "1 to 80 characters without control characters"));
        }
        if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::invalid(
                "password",
                format!("at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        let salt = self.ids().salt();
        let password_hash = tokio::task::spawn_blocking(move || crate::secrets::hash(&password, salt))
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))??;
        let record = StaffRecord {
            id: format!("stf_{}", &hash_secret(&self.ids().secret())[..16]),
            username,
            display_name: name,
            role: role.as_str().to_owned(),
            password_hash,
            created_at: self.now(),
            disabled: false,
        };
        let stored = record.clone();
        self.writer().run(move |c| Ok(c.insert_staff(&stored)?)).await?;
        Ok(record)
    }

    /// Checks a username and password and opens a session of `ttl`. Wrong username,
    /// wrong password and a disabled account all give [`Error::SignInFailed`].
    pub async fn sign_in(&self, username: String, password: String, ttl: Duration) -> Result<SignedIn, Error> {
        if username.len() > 64 || password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::SignInFailed);
        }
        let found = self.read(move |c| Ok(c.find_staff_by_username(&username)?)).await?;
        let hash = found.as_ref().map_or_else(|| DUMMY_HASH.to_owned(), |s| s.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || crate::secrets::verify(&password, &hash))
            .await
            .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?;
        let staff = match found {
            Some(s) if matches && !s.disabled => s,
            _ => return Err(Error::SignInFailed),
        };
        let secret = format!("ses_{}", self.ids().secret());
        let csrf = self.ids().secret();
        let now = self.now();
        let session = StaffSession {
            secret_hash: hash_secret(&secret),
            staff_id: staff.id.clone(),
            csrf: csrf.clone(),
            created_at: now,
            expires_at: now + ttl,
        };
        let expires_at = session.expires_at;
        self.writer()
            .run(move |c| {
                // Expired sessions are cleared a few at a time as new ones open.
                c.purge_staff_sessions(now, 100)?;
                Ok(c.insert_staff_session(&session)?)
            })
            .await?;
        Ok(SignedIn { staff, secret, csrf, expires_at })
    }

    /// A fresh random token (e.g. the sign-in form's double-submit nonce).
    pub fn fresh_nonce(&self) -> String {
        self.ids().secret()
    }

    /// The live session for a cookie's secret, with its member of staff.
    pub async fn staff_session(&self, secret: String) -> Result<Option<(StaffSession, StaffRecord)>, Error> {
        if secret.len() > 200 {
            return Ok(None);
        }
        let now = self.now();
        self.read(move |c| Ok(c.find_staff_session(&hash_secret(&secret), now)?)).await
    }

    /// Ends a session (sign-out). Ending an unknown session is not an error.
    pub async fn sign_out(&self, secret: String) -> Result<(), Error> {
        if secret.len() > 200 {
            return Ok(());
        }
        self.writer().run(move |c| Ok(c.delete_staff_session(&hash_secret(&secret)).map(|_| ())?)).await
    }
}

/// Failed sign-ins per key (a username, a client address) in a sliding window; after
/// `max_failures` the key is refused until the window has passed. Bounded: the oldest
/// keys are dropped when `max_keys` is reached.
#[derive(Debug)]
pub struct SignInThrottle {
    max_failures: u32,
    window: Duration,
    max_keys: usize,
    failures: HashMap<String, (u32, OffsetDateTime)>,
}

impl SignInThrottle {
    pub fn new(max_failures: u32, window: Duration, max_keys: usize) -> Self {
        Self { max_failures: max_failures.max(1), window, max_keys: max_keys.max(1), failures: HashMap::new() }
    }

    /// Whether `key` may try now.
    pub fn allows(&self, key: &str, now: OffsetDateTime) -> bool {
        match self.failures.get(key) {
            Some((n, first)) => *n < self.max_failures || now >= *first + self.window,
            None => true,
        }
    }

    /// Records a failed attempt by `key`.
    pub fn failed(&mut self, key: &str, now: OffsetDateTime) {
        if let Some((n, first)) = self.failures.get_mut(key) {
            if now >= *first + self.window {
                *n = 1;
                *first = now;
            } else {
                *n = n.saturating_add(1);
            }
            return;
        }
        if self.failures.len() >= self.max_keys {
            self.failures.retain(|_, (_, first)| now < *first + self.window);
            if self.failures.len() >= self.max_keys
                && let Some(oldest) = self.failures.iter().min_by_key(|(_, (_, first))| *first).map(|(k, _)| k.clone())
            {
                self.failures.remove(&oldest);
            }
        }
        self.failures.insert(key.to_owned(), (1, now));
    }

    /// Forgets `key`'s failures (after a successful sign-in).
    pub fn succeeded(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn roles_round_trip() {
        for r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(StaffRole::parse("root"), None);
    }

    #[test]
    fn usernames_are_plain() {
        assert!(valid_username("ana.li"));
        assert!(!valid_username("ab"));
        assert!(!valid_username("Ana"));
        assert!(!valid_username("a b c"));
    }

    #[test]
    fn the_throttle_refuses_after_the_limit_until_the_window_passes() {
        let t0 = datetime!(2026-01-01 10:00 UTC);
        let mut t = SignInThrottle::new(3, Duration::minutes(15), 10);
        for _ in 0..3 {
            assert!(t.allows("u", t0));
            t.failed("u", t0);
        }
        assert!(!t.allows("u", t0 + Duration::minutes(14)));
        assert!(t.allows("other", t0));
        assert!(t.allows("u", t0 + Duration::minutes(15)));
        t.failed("u", t0 + Duration::minutes(15));
        assert!(t.allows("u", t0 + Duration::minutes(15)));
        t.succeeded("u");
        assert!(t.allows("u", t0 + Duration::minutes(15)));
    }

    #[test]
    fn the_throttle_is_bounded() {
        let t0 = datetime!(2026-01-01 10:00 UTC);
        let mut t = SignInThrottle::new(1, Duration::minutes(15), 3);
        for k in ["a", "b", "c", "d"] {
            t.failed(k, t0);
        }
        assert!(t.failures.len() <= 3);
        assert!(!t.allows("d", t0));
    }

    #[test]
    fn the_dummy_hash_parses_and_matches_nothing() {
        assert!(!crate::secrets::verify("", DUMMY_HASH));
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
