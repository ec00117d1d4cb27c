//! Session ids: 24 bytes from the OS CSPRNG, as express's `uid-safe`.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longest id accepted from a cookie or a custom generator.
pub(crate) const MAX_ID_LEN: usize = 128;

/// A session id: 1 to 128 characters of `[A-Za-z0-9_-]`.
///
/// Generated ids are 24 bytes from the operating system's CSPRNG in base64url
/// without padding (32 characters, 192 bits), like express-session's default
/// `uid-safe(24)`. The charset keeps ids safe to use as file names; an id from
/// a cookie is only ever one the server signed, never one a client chose.
///
/// Clones share one allocation: a request passes its id around several times.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(Arc<str>);

impl SessionId {
    /// A fresh random id.
    ///
    /// # Panics
    /// If the operating system's random source fails, which leaves no safe way
    /// to make a session id.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        #[allow(
            clippy::expect_used,
            reason = "without the OS CSPRNG no unguessable id can be made: stopping is the only safe answer"
        )]
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        // Encoded on the stack, then one allocation, which clones share.
        let mut text = [0u8; 32];
        let encoded = URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .ok()
            .and_then(|n| std::str::from_utf8(text.get(..n)?).ok());
        match encoded {
            Some(id) => SessionId(id.into()),
            None => SessionId(URL_SAFE_NO_PAD.encode(bytes).into()),
        }
    }

    /// Validates an id: 1 to 128 characters of `[A-Za-z0-9_-]`.
    #[must_use]
    pub fn parse(id: &str) -> Option<Self> {
        is_valid(id).then(|| SessionId(id.into()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn is_valid(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id is a bearer credential: show only a prefix.
        let shown: String = self.0.chars().take(4).collect();
        write!(f, "SessionId({shown}…)")
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_uid_safe_shaped_and_distinct() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(is_valid(a.as_str()));
        assert_ne!(a, b);
    }

    #[test]
    fn parse_validates_charset_and_length() {
        assert!(SessionId::parse("apple").is_some());
        assert!(SessionId::parse("").is_none());
        assert!(SessionId::parse("../etc").is_none());
        assert!(SessionId::parse("a/b").is_none());
        assert!(SessionId::parse("a.b").is_none());
        assert!(SessionId::parse(&"a".repeat(128)).is_some());
        assert!(SessionId::parse(&"a".repeat(129)).is_none());
    }

    #[test]
    fn debug_does_not_reveal_the_id() {
        let id = SessionId::parse("abcdefghijkl").unwrap();
        assert_eq!(format!("{id:?}"), "SessionId(abcd…)");
    }
}
