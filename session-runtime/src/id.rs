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
        let bytes = pool::draw();
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

/// Random bytes for ids: one `getrandom` call fills a thread's buffer for
/// [`IDS_PER_FILL`](pool::IDS_PER_FILL) ids, instead of one system call per
/// id (bench/RESULTS.md, issue #15). Every id is still bytes from the OS
/// CSPRNG, used once: each draw is zeroed in the buffer as it is taken, and a
/// forked child (another process id) never draws from the buffer it inherited,
/// it fills its own.
mod pool {
    use std::cell::RefCell;

    pub(super) const IDS_PER_FILL: usize = 32;
    const ID_BYTES: usize = 24;

    pub(super) struct Pool {
        pub(super) bytes: [u8; ID_BYTES * IDS_PER_FILL],
        /// How many ids were drawn since the fill: all, when empty.
        pub(super) drawn: usize,
        /// The process that filled it.
        filled_by: u32,
    }

    thread_local! {
        static POOL: RefCell<Pool> = const { RefCell::new(Pool::empty()) };
    }

    /// 24 bytes from the OS CSPRNG that no other id got.
    pub(super) fn draw() -> [u8; ID_BYTES] {
        POOL.with_borrow_mut(|pool| pool.draw(std::process::id()))
    }

    impl Pool {
        pub(super) const fn empty() -> Self {
            Pool {
                bytes: [0; ID_BYTES * IDS_PER_FILL],
                drawn: IDS_PER_FILL,
                filled_by: 0,
            }
        }

        /// The next id's bytes, in process `pid`.
        pub(super) fn draw(&mut self, pid: u32) -> [u8; ID_BYTES] {
            if self.drawn >= IDS_PER_FILL || self.filled_by != pid {
                fill(&mut self.bytes);
                self.drawn = 0;
                self.filled_by = pid;
            }
            let mut out = [0; ID_BYTES];
            match self.bytes.chunks_exact_mut(ID_BYTES).nth(self.drawn) {
                Some(chunk) => {
                    out.copy_from_slice(chunk);
                    chunk.fill(0);
                }
                // Not reached (`drawn` is below `IDS_PER_FILL` here); if it
                // were, the id still gets bytes of its own.
                None => fill(&mut out),
            }
            self.drawn += 1;
            out
        }
    }

    /// # Panics
    /// If the operating system's random source fails.
    fn fill(bytes: &mut [u8]) {
        #[allow(
            clippy::expect_used,
            reason = "without the OS CSPRNG no unguessable id can be made: stopping is the only safe answer"
        )]
        getrandom::fill(bytes).expect("the OS random number generator failed");
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
    fn each_draw_is_taken_once_and_a_forked_child_refills() {
        let mut pool = pool::Pool::empty();
        let first = pool.draw(7);
        assert_ne!(first, [0; 24]);
        assert!(
            pool.bytes[..24].iter().all(|&b| b == 0),
            "a draw is zeroed as taken"
        );
        let mut seen = vec![first];
        for _ in 1..pool::IDS_PER_FILL {
            seen.push(pool.draw(7));
        }
        assert!(
            pool.bytes.iter().all(|&b| b == 0),
            "the whole fill was used"
        );
        // Past the fill, a new one.
        seen.push(pool.draw(7));
        assert_eq!(pool.drawn, 1);
        // Another process (a fork's child) does not take what its parent would
        // have drawn next: it fills its own buffer.
        let parent_next = pool.bytes[24..48].to_vec();
        let child = pool.draw(8);
        assert_eq!(pool.drawn, 1, "the child refilled");
        assert_ne!(child.to_vec(), parent_next);
        seen.push(child);
        let distinct: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), seen.len());
    }

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
