//! Authentication to the Atlas Admin API: service accounts (OAuth 2.0 client credentials,
//! a bearer token cached until shortly before it expires) and legacy programmatic API
//! keys (HTTP Digest, RFC 7616 with MD5 as Atlas uses it).
//!
//! Credential values live in [`Secret`]s, whose `Debug` never shows them, and go out only
//! in `Authorization` headers marked sensitive, which reqwest and hyper never log.

use std::fmt;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

/// A credential value: shown as `[redacted]` by `Debug`, with no `Display` at all.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the value, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How the client proves who it is. The CLI builds it from the environment
/// (`MONGODB_ATLAS_CLIENT_ID`/`MONGODB_ATLAS_CLIENT_SECRET`, or
/// `MONGODB_ATLAS_PUBLIC_KEY`/`MONGODB_ATLAS_PRIVATE_KEY`); the library never reads it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A service account (recommended by MongoDB): OAuth 2.0 client credentials.
    ServiceAccount {
        client_id: Secret,
        client_secret: Secret,
    },
    /// A legacy programmatic API key: HTTP Digest with the public and private key.
    ApiKey {
        public_key: Secret,
        private_key: Secret,
    },
}

impl Credentials {
    pub fn service_account(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::ServiceAccount {
            client_id: Secret::new(client_id),
            client_secret: Secret::new(client_secret),
        }
    }

    pub fn api_key(public_key: impl Into<String>, private_key: impl Into<String>) -> Self {
        Self::ApiKey {
            public_key: Secret::new(public_key),
            private_key: Secret::new(private_key),
        }
    }

    /// Names the kind of credentials, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ServiceAccount { .. } => "service account",
            Self::ApiKey { .. } => "API key",
        }
    }
}

impl fmt::Debug for Credentials {
    // Even the client id and public key stay out: they name the account to attack.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials::{}([redacted])", self.kind())
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    pub value: Secret,
    /// Refresh from this instant on: some time before the real expiry, so a token never
    /// expires between the check and the call.
    pub refresh_at: Instant,
}

impl Token {
    /// Makes a token valid for `expires_in` from `now`, refreshed a minute early (or at
    /// half its life, for very short-lived tokens).
    pub fn new(value: String, expires_in: Duration, now: Instant) -> Self {
        let margin = Duration::from_secs(60).min(expires_in / 2);
        Self {
            value: Secret::new(value),
            refresh_at: now + (expires_in - margin),
        }
    }

    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

/// A `WWW-Authenticate: Digest …` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `MD5` or `MD5-sess`.
    pub algorithm: String,
    /// Whether the server asked for `qop=auth`; without it the RFC 2069 form is used.
    pub qop_auth: bool,
}

impl Challenge {
    /// Parses the value of a `WWW-Authenticate` header; `None` if it is not a Digest
    /// challenge this client can answer (SHA-256 and `auth-int` only are not used by Atlas).
    pub fn parse(header: &str) -> Option<Self> {
        let rest = header.trim_start();
        let (scheme, params) = rest.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let params = parse_params(params);
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        let algorithm = get("algorithm").unwrap_or_else(|| "MD5".to_owned());
        if !algorithm.eq_ignore_ascii_case("MD5") && !algorithm.eq_ignore_ascii_case("MD5-sess") {
            return None;
        }
        let qop = get("qop");
        let qop_auth = qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")));
        if qop.is_some() && !qop_auth {
            return None;
        }
        Some(Self {
            realm: get("realm").unwrap_or_default(),
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
        })
    }

    /// Returns the `Authorization` header value answering this challenge for one
    /// request (`uri` is its path and query, `nc` counts the uses of this nonce).
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> String {
        let mut ha1 = md5_hex(&format!("{username}:{}:{password}", self.realm));
        if self.algorithm.eq_ignore_ascii_case("MD5-sess") {
            ha1 = md5_hex(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let nc = format!("{nc:08x}");
        let response = if self.qop_auth {
            md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut header = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", algorithm={}, response=\"{response}\"",
            self.realm, self.nonce, self.algorithm
        );
        if self.qop_auth {
            header.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
        }
        if let Some(opaque) = &self.opaque {
            header.push_str(&format!(", opaque=\"{opaque}\""));
        }
        header
    }
}

/// Splits `key=value, key="quoted, value"` pairs.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_owned();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim().to_owned();
        }
        params.push((key, value));
    }
}

fn md5_hex(text: &str) -> String {
    format!("{:x}", Md5::digest(text.as_bytes()))
}

/// Returns a fresh client nonce.
pub(crate) fn cnonce() -> String {
    format!("{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_credentials() {
        let credentials = Credentials::service_account("mdb_sa_id_1234", "mdb_sa_sk_5678");
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("1234") && !shown.contains("5678"),
            "{shown}"
        );
        let keys = Credentials::api_key("pubkey", "privkey");
        let shown = format!("{keys:?} {:?}", Secret::new("privkey"));
        assert!(
            !shown.contains("pubkey") && !shown.contains("privkey"),
            "{shown}"
        );
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        let now = Instant::now();
        let token = Token::new("t".into(), Duration::from_secs(3600), now);
        assert!(token.is_fresh(now + Duration::from_secs(3500)));
        assert!(!token.is_fresh(now + Duration::from_secs(3541)));
        let short = Token::new("t".into(), Duration::from_secs(10), now);
        assert!(!short.is_fresh(now + Duration::from_secs(5)));
    }

    #[test]
    fn parses_atlas_digest_challenges() {
        let challenge = Challenge::parse(
            r#"Digest realm="MMS Public API", domain="", nonce="abc/def+1==", algorithm=MD5, qop="auth", stale=false"#,
        )
        .unwrap();
        assert_eq!(challenge.realm, "MMS Public API");
        assert_eq!(challenge.nonce, "abc/def+1==");
        assert!(challenge.qop_auth);
        assert_eq!(challenge.opaque, None);
        assert_eq!(Challenge::parse("Bearer realm=\"x\""), None);
        assert_eq!(
            Challenge::parse(r#"Digest realm="x", nonce="n", algorithm=SHA-256"#),
            None
        );
    }

    #[test]
    fn answers_the_rfc_2617_example() {
        // RFC 2617 §3.5: user Mufasa, password "Circle Of Life".
        let challenge = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let header = challenge.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert!(
            header.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
            "{header}"
        );
        assert!(header.contains("nc=00000001"));
        assert!(header.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#));
    }
}
