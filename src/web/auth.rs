//! Who is asking: passwords (argon2id, hashed off the async runtime), sessions in the
//! database behind an HttpOnly cookie, form tokens against cross-site requests, and the
//! limits on guessing passwords.

use super::{PanelError, PanelState};
use crate::domain::StaffMember;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use sha2::Digest;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie.
pub const SESSION_COOKIE: &str = "brevduva_session";
/// The form token cookie of the log-in page (before there is a session).
pub const LOGIN_COOKIE: &str = "brevduva_login";
/// The language preference.
pub const LANGUAGE_COOKIE: &str = "brevduva_lang";

/// Hashes a password with argon2id (OWASP's parameters: 19 MiB, 2 passes). Slow on
/// purpose: call it off the runtime.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|_| argon2::password_hash::Error::Crypto)?;
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether a password matches a stored hash. Slow on purpose: call it off the runtime.
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that the answer takes
/// as long as for a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password").unwrap_or_default())
}

/// A password for a new account: 20 characters from an alphabet without look-alikes
/// (about 110 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::getrandom(&mut bytes).expect("the operating system gives random bytes");
    // 256 is not a multiple of the alphabet's size; the bias is below 0.1 bit per character.
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system gives random bytes");
    hex(&bytes)
}

/// What the database keeps of a session token.
pub fn token_hash(token: &str) -> String {
    hex(&sha2::Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/`, `Secure` when configured;
/// `max_age` 0 removes the cookie, `None` keeps it for the browser session.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).expect("cookie values are hex or fixed words")
}

/// A signed-in person, found from the session cookie. Requests without a live session
/// are sent to the log-in page (or refused, for anything but reading a page).
pub struct Staff {
    /// Who.
    pub member: StaffMember,
    /// The session's form token.
    pub csrf: String,
    /// The session.
    pub token_hash: String,
}

impl Staff {
    /// Refuses a form whose token is not this session's.
    pub fn check_form(&self, token: &str) -> Result<(), PanelError> {
        if same_secret(token, &self.csrf) {
            Ok(())
        } else {
            Err(PanelError::Expired)
        }
    }

    /// Refuses what this person may not see (as "not found", so nothing is revealed).
    pub fn must_see(&self, department: Option<&str>) -> Result<(), PanelError> {
        if self.member.may_see(department) {
            Ok(())
        } else {
            Err(PanelError::NotFound)
        }
    }

    /// Refuses people who do not triage.
    pub fn must_triage(&self) -> Result<(), PanelError> {
        if self.member.may_triage() {
            Ok(())
        } else {
            Err(PanelError::Forbidden)
        }
    }
}

impl FromRequestParts<PanelState> for Staff {
    type Rejection = PanelError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PanelState,
    ) -> Result<Self, Self::Rejection> {
        let anonymous = if parts.method == Method::GET || parts.method == Method::HEAD {
            PanelError::SignIn
        } else {
            PanelError::Unauthorised
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| t.len() == 64) else {
            return Err(anonymous);
        };
        let hash = token_hash(token);
        if let Some(session) = state.0.sessions.get(&hash) {
            return Ok(Self {
                member: session.member,
                csrf: session.csrf_token,
                token_hash: hash,
            });
        }
        let Some(session) = state.store().session(&hash).await? else {
            return Err(anonymous);
        };
        // Sliding expiry, written at most once a minute per session.
        if crate::store::now() - session.last_seen >= 60 {
            state
                .store()
                .touch_session(&hash, state.settings().session_idle_seconds)
                .await?;
        }
        state.0.sessions.put(&hash, &session);
        Ok(Self {
            member: session.member,
            csrf: session.csrf_token,
            token_hash: hash,
        })
    }
}

/// Sessions found in the database, kept for a few seconds so a page view does not wait
/// for a database trip to know who asks. Logging out here forgets at once; a session
/// ended elsewhere (another instance, an admin) ends here within the cache's time, which
/// is 0 (always ask the database) when several instances share PostgreSQL.
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, crate::store::SessionRecord)>>,
}

impl SessionCache {
    /// A cache that trusts what it found for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::default(),
        }
    }

    fn get(&self, hash: &str) -> Option<crate::store::SessionRecord> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, s)| s.clone())
    }

    fn put(&self, hash: &str, session: &crate::store::SessionRecord) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 10_000 {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        entries.insert(hash.to_owned(), (Instant::now(), session.clone()));
    }

    /// Forgets one session (logged out).
    pub fn forget(&self, hash: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(hash);
    }

    /// Forgets every session of a person (logged out everywhere).
    pub fn forget_user(&self, user: crate::domain::UserId) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, s)| s.member.id != user);
    }
}

/// The client's address (for the log-in limit), or unspecified when not known.
pub fn client_address(parts_extensions: &axum::http::Extensions) -> IpAddr {
    parts_extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// Requests (log-in attempts, chat messages) per client address within a window.
pub struct RateLimiter {
    per_window: usize,
    window: Duration,
    attempts: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// At most `per_window` attempts per address per `window`.
    pub fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window: per_window as usize,
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt; false when the address has used up its attempts.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        if attempts.len() > 10_000 {
            // Forget addresses whose attempts are all old, so the table cannot grow without end.
            attempts.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let times = attempts.entry(client).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.per_window {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_argon2id_and_verify() {
        let hash = hash_password("korrekt häst batteri").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "korrekt häst batteri"));
        assert!(!verify_password(&hash, "korrekt hast batteri"));
        assert!(!verify_password("not a hash", "x"));
        assert_ne!(
            hash,
            hash_password("korrekt häst batteri").unwrap(),
            "salted"
        );
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert_ne!(token_hash(&a), a);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &random_token()));
        assert!(!same_secret("abc", "abcd"));
    }

    #[test]
    fn cookies_are_read_and_written_strictly() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; brevduva_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
        let set = set_cookie(SESSION_COOKIE, "v", true, None);
        assert_eq!(
            set,
            "brevduva_session=v; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let gone = set_cookie(SESSION_COOKIE, "", false, Some(0));
        assert!(gone.to_str().unwrap().ends_with("Max-Age=0"));
    }

    #[test]
    fn the_login_limit_counts_per_address_within_the_window() {
        let limiter = RateLimiter::new(3, Duration::from_secs(600));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t = Instant::now();
        assert!((0..3).all(|_| limiter.allow(a, t)));
        assert!(!limiter.allow(a, t));
        assert!(limiter.allow(b, t));
        assert!(limiter.allow(a, t + Duration::from_secs(601)));
    }
}
