//! express-session's cookie signature: `s:` + id + `.` + base64(HMAC-SHA256(secret, id)).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::SecretError;

type HmacSha256 = Hmac<Sha256>;

/// The shortest secret that does not log a warning: 32 bytes, the size of
/// the HMAC-SHA256 key it becomes.
pub const RECOMMENDED_SECRET_LEN: usize = 32;

/// The secrets that sign and verify session cookies.
///
/// The first secret signs; every secret verifies, so keys rotate by putting
/// the new one first and keeping the old ones until their cookies have
/// expired. `Debug` never prints them.
#[derive(Clone)]
pub struct Secrets {
    // Keyed HMAC states, so a request never re-derives the key: the first
    // secret's, which signs, and every secret's (the first included), which verify.
    signer: HmacSha256,
    keys: Vec<HmacSha256>,
}

impl Secrets {
    /// One secret.
    ///
    /// A secret shorter than [`RECOMMENDED_SECRET_LEN`] bytes is accepted (an
    /// Express app being migrated may have signed its users' cookies with
    /// one, and those must keep verifying) but logs one `tracing` warning.
    ///
    /// # Panics
    /// If `secret` is empty: a session layer without a key is a configuration
    /// bug. The panic names your line, not this crate's. Use
    /// [`Secrets::try_new`] for secrets that come from outside the program.
    ///
    /// ```
    /// let secrets = session_runtime::Secrets::new("a long random string, 32 bytes or more");
    /// assert_eq!(format!("{secrets:?}"), "Secrets([REDACTED; 1])");
    /// ```
    #[must_use]
    #[track_caller]
    #[allow(
        clippy::panic,
        reason = "documented: an empty secret is a configuration bug, reported at the caller's line"
    )]
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        match Self::try_new([secret]) {
            Ok(secrets) => secrets,
            Err(error) => panic!("{error}"),
        }
    }

    /// Several secrets: the first signs, all verify. One `tracing` warning if
    /// any is shorter than [`RECOMMENDED_SECRET_LEN`] bytes.
    ///
    /// # Errors
    /// [`SecretError::Empty`] for an empty list, [`SecretError::EmptySecret`]
    /// when one of them is empty.
    ///
    /// ```
    /// use session_runtime::Secrets;
    /// let rotated = Secrets::try_new(["new secret", "old secret"]).unwrap();
    /// assert!(Secrets::try_new(Vec::<String>::new()).is_err());
    /// # let _ = rotated;
    /// ```
    pub fn try_new<I>(secrets: I) -> Result<Self, SecretError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut lengths = Vec::new();
        let keys = secrets
            .into_iter()
            .map(|secret| {
                let secret = secret.as_ref();
                lengths.push(secret.len());
                if secret.is_empty() {
                    return Err(SecretError::EmptySecret);
                }
                HmacSha256::new_from_slice(secret).map_err(|_| SecretError::EmptySecret)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let signer = keys.first().cloned().ok_or(SecretError::Empty)?;
        if let Some(shortest) = lengths
            .iter()
            .min()
            .filter(|&&len| len < RECOMMENDED_SECRET_LEN)
        {
            tracing::warn!(
                "a session secret is {shortest} bytes long: use at least {RECOMMENDED_SECRET_LEN} random bytes \
                 (say 64 hex characters from a CSPRNG), since a short secret can be found by brute force \
                 from one signed cookie; it is accepted so that cookies already signed with it keep verifying"
            );
        }
        Ok(Secrets { signer, keys })
    }

    /// The unencoded cookie value for `id`: `s:<id>.<signature>`.
    pub(crate) fn sign(&self, id: &str) -> String {
        let mut mac = self.signer.clone();
        mac.update(id.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(2 + id.len() + 1 + 43);
        out.push_str("s:");
        out.push_str(id);
        out.push('.');
        STANDARD_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// The id in an unencoded cookie value, if a secret signed it.
    ///
    /// Like cookie-signature: the value must start with `s:`, the signature
    /// follows the last `.`, and a padded signature is rejected. The tag is
    /// compared in constant time.
    pub(crate) fn unsign<'a>(&self, value: &'a str) -> Option<&'a str> {
        let signed = value.strip_prefix("s:")?;
        let dot = signed.rfind('.')?;
        let (id, signature) = (&signed[..dot], &signed[dot + 1..]);
        // Canonical, unpadded standard base64 of 32 bytes is exactly 43 characters.
        if signature.len() != 43 {
            return None;
        }
        // 43 characters decode to 32 bytes; the decoder wants room for its estimate of 33.
        let mut tag = [0u8; 33];
        let len = STANDARD_NO_PAD.decode_slice(signature, &mut tag).ok()?;
        let tag = tag.get(..len)?;
        let mut verified = false;
        for key in &self.keys {
            let mut mac = key.clone();
            mac.update(id.as_bytes());
            // Every key is tried, so timing does not tell which one matched.
            verified |= mac.verify_slice(tag).is_ok();
        }
        verified.then_some(id)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets([REDACTED; {}])", self.keys.len())
    }
}

impl From<&str> for Secrets {
    /// Same as [`Secrets::new`].
    #[track_caller]
    fn from(secret: &str) -> Self {
        Secrets::new(secret)
    }
}

impl From<String> for Secrets {
    /// Same as [`Secrets::new`].
    #[track_caller]
    fn from(secret: String) -> Self {
        Secrets::new(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_cookie_signature() {
        let secrets = Secrets::new("keyboard cat");
        assert_eq!(
            secrets.sign("apple"),
            "s:apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU"
        );
        assert_eq!(
            secrets.unsign("s:apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU"),
            Some("apple")
        );
    }

    #[test]
    fn rejects_padding_prefix_and_tampering() {
        let secrets = Secrets::new("keyboard cat");
        assert_eq!(
            secrets.unsign("s:apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU="),
            None
        );
        assert_eq!(
            secrets.unsign("apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU"),
            None
        );
        assert_eq!(
            secrets.unsign("s:apples.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCU"),
            None
        );
        assert_eq!(
            secrets.unsign("s:apple.D8Y+pkTAmeR0PobOhY4G97PRW+j7bUnP/5m6/On1MCV"),
            None
        );
        assert_eq!(secrets.unsign("s:apple"), None);
        assert_eq!(secrets.unsign(""), None);
        assert_eq!(Secrets::new("other").unsign(&secrets.sign("apple")), None);
    }

    #[test]
    fn ids_may_contain_dots() {
        let secrets = Secrets::new("k");
        assert_eq!(secrets.unsign(&secrets.sign("a.b")), Some("a.b"));
    }

    #[test]
    fn first_signs_all_verify() {
        let old = Secrets::new("old");
        let rotated = Secrets::try_new(["new", "old"]).unwrap();
        assert_eq!(rotated.unsign(&old.sign("x")), Some("x"));
        assert_eq!(rotated.sign("x"), Secrets::new("new").sign("x"));
        assert_eq!(
            Secrets::try_new([""]).unwrap_err(),
            SecretError::EmptySecret
        );
    }
}
