//! Reading the `Cookie` header and writing `Set-Cookie` as the `cookie` npm
//! module does (the one express-session uses).

use std::borrow::Cow;
use std::time::SystemTime;

use cookie::Cookie;
use cookie::time::OffsetDateTime;
use http::HeaderMap;
use http::header::COOKIE;

use crate::id::SessionId;
use crate::record::{CookieMeta, SameSite};
use crate::signing::Secrets;

/// What a request's session cookie turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionCookie {
    /// No cookie of that name.
    Absent,
    /// A cookie that no secret signed, or whose signed id is not a valid id.
    Rejected,
    /// The id in a cookie that one of the secrets signed.
    Verified(SessionId),
}

/// express-session's `getcookie`: the first cookie called `name`,
/// percent-decoded, verified against every secret and parsed as an id. The
/// layer's only way from a request to its session id, and what the
/// `cookie_parse_and_verify` micro-benchmark measures.
pub(crate) fn read_session_cookie(
    headers: &HeaderMap,
    name: &str,
    secrets: &Secrets,
    max_length: usize,
) -> SessionCookie {
    match find(headers, name) {
        None => SessionCookie::Absent,
        // Longer than any cookie the layer signs: not worth decoding and HMACing once per secret.
        Some(raw) if raw.len() > max_length => rejected(),
        Some(raw) => verify(raw, secrets),
    }
}

fn verify(raw: &[u8], secrets: &Secrets) -> SessionCookie {
    let mut buffer: DecodeBuffer = [0; 192];
    // Not UTF-8: no secret signed it (express would fail its signature too).
    let Ok(raw) = std::str::from_utf8(raw) else {
        return rejected();
    };
    let value = decode(raw, &mut buffer);
    let Some(id) = secrets.unsign(&value) else {
        return rejected();
    };
    SessionId::parse(id).map_or(SessionCookie::Rejected, SessionCookie::Verified)
}

fn rejected() -> SessionCookie {
    tracing::debug!("session cookie is unsigned or its signature is invalid; ignoring it");
    SessionCookie::Rejected
}

/// The raw value of the first cookie called `name` across all `Cookie`
/// headers, trimmed and with surrounding quotes stripped, as `cookie.parse`:
/// the first occurrence wins. [`decode`] percent-decodes it.
///
/// Bytes, not `str`: express's parser works on the raw header, so a cookie
/// that another script set with UTF-8 (or any other non-ASCII byte) does not
/// hide ours, as it would behind `HeaderValue::to_str`.
///
/// Hand-written rather than the `cookie` crate's `Cookie::split_parse`, which
/// the tests hold it to: the crate builds a whole `Cookie` (with a UTF-8
/// `chars()` scan) for every pair before the name can be compared, about 1k
/// instructions per cookie under callgrind. With three cookies in the header
/// that was 7.7 % of a read request's user-space instructions, over the 5 %
/// this hot path may spend on it (bench/RESULTS.md, issue #9).
pub(crate) fn find<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers.get_all(COOKIE).iter().find_map(|header| {
        header.as_bytes().split(|&b| b == b';').find_map(|pair| {
            let mut halves = pair.splitn(2, |&b| b == b'=');
            let key = halves.next()?;
            let value = halves.next()?;
            (key.trim_ascii() == name.as_bytes()).then(|| strip_quotes(value.trim_ascii()))
        })
    })
}

fn strip_quotes(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    }
}

/// Room for a decoded cookie value on the stack; longer ones go to the heap.
pub(crate) type DecodeBuffer = [u8; 192];

/// `decodeURIComponent` as `cookie.parse` applies it: only to values with a
/// `%`, keeping the raw value when an escape is malformed or not UTF-8.
pub(crate) fn decode<'a>(raw: &'a str, buffer: &'a mut DecodeBuffer) -> Cow<'a, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let mut heap = Vec::new();
    let mut len = 0;
    let mut bytes = raw.bytes();
    while let Some(next) = bytes.next() {
        let byte = if next == b'%' {
            // Two hex digits, no more lenient than `decodeURIComponent`
            // (`u8::from_str_radix` would take the `+1` of `%+1`).
            let high = bytes.next().as_ref().and_then(hex_digit);
            let low = bytes.next().as_ref().and_then(hex_digit);
            let (Some(high), Some(low)) = (high, low) else {
                return Cow::Borrowed(raw);
            };
            (high << 4) | low
        } else {
            next
        };
        match buffer.get_mut(len) {
            Some(slot) => *slot = byte,
            None => {
                if heap.is_empty() {
                    heap.extend_from_slice(&buffer[..]);
                }
                heap.push(byte);
            }
        }
        len += 1;
    }
    if heap.is_empty() {
        let decoded = buffer.get(..len).unwrap_or_default();
        std::str::from_utf8(decoded).map_or(Cow::Borrowed(raw), Cow::Borrowed)
    } else {
        String::from_utf8(heap).map_or(Cow::Borrowed(raw), Cow::Owned)
    }
}

fn hex_digit(byte: &u8) -> Option<u8> {
    char::from(*byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` is escaped.
pub(crate) fn encode_uri_component(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(text.len());
    // Runs of bytes kept as they are go in whole: a signed value has three
    // bytes to escape (`:` and base64's `+` and `/`) among about eighty.
    let mut kept = 0;
    for (at, byte) in text.bytes().enumerate() {
        if is_unreserved(byte) {
            continue;
        }
        // Every byte of a non-ASCII char is escaped, so a run that starts
        // inside one is empty (where `get` gives `None`).
        out.push_str(text.get(kept..at).unwrap_or_default());
        kept = at + 1;
        out.push('%');
        for nibble in [byte >> 4, byte & 0xf] {
            out.push(char::from(
                HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    out.push_str(text.get(kept..).unwrap_or_default());
}

/// What `encodeURIComponent` leaves as it is: ASCII letters, digits and `-_.!~*'()`.
const fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Whether `name` is a valid cookie name (an RFC 7230 token), as `cookie.serialize` requires.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` can stand as a `Path` or `Domain` attribute: printable
/// ASCII without `;`, so that it cannot end the attribute and start another.
/// The one rule for the layer's options, stored cookies and `Set-Cookie`.
pub(crate) fn is_attribute_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b';')
}

/// A `Set-Cookie` value: `name=value; Domain=…; Path=…; Expires=…; HttpOnly; Secure; Partitioned; Priority=…; SameSite=…`,
/// the attribute order of express-session (it never sends `Max-Age`).
pub(crate) fn set_cookie(name: &str, signed_value: &str, meta: &CookieMeta) -> String {
    let mut value = String::with_capacity(signed_value.len() + 16);
    encode_uri_component(signed_value, &mut value);
    write(&build(name, value, meta, meta.expires), meta)
}

/// A `Set-Cookie` that makes the browser drop the cookie: empty value, `Expires` at the epoch,
/// with the same `Domain` and `Path` (else the browser would keep the original).
pub(crate) fn clear_cookie(name: &str, meta: &CookieMeta) -> String {
    write(&build(name, String::new(), meta, Some(0)), meta)
}

/// The session cookie as the `cookie` crate models it, `value` already encoded.
fn build<'a>(
    name: &'a str,
    value: String,
    meta: &'a CookieMeta,
    expires: Option<u64>,
) -> Cookie<'a> {
    let mut cookie = Cookie::new(name, value);
    if let Some(path) = attribute(&meta.path, "path") {
        cookie.set_path(path);
    }
    cookie.set_http_only(meta.http_only);
    cookie.set_secure(meta.secure);
    cookie.set_partitioned(meta.partitioned);
    cookie.set_same_site(meta.same_site.map(|same_site| match same_site {
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::None => cookie::SameSite::None,
    }));
    if let Some(ms) = expires {
        cookie.set_expires(expires_at(ms));
    }
    cookie
}

/// `value`, unless it is not [an attribute value](is_attribute_value). Records
/// from the stores are checked when read; this guards the ones a custom store
/// or the app builds.
fn attribute<'a>(value: &'a str, name: &'static str) -> Option<&'a str> {
    if is_attribute_value(value) {
        Some(value)
    } else {
        tracing::warn!(
            attribute = name,
            "session cookie attribute is not a valid value; leaving it out"
        );
        None
    }
}

/// The last second an HTTP date can write: `Fri, 31 Dec 9999 23:59:59 GMT`.
const LAST_HTTP_DATE_MS: u64 = 253_402_300_799_000;

/// `ms` since the epoch; past year 9999, which HTTP dates cannot write (and
/// `httpdate` panics on), the last second of 9999: a cookie that never
/// expires either way. Clamped here rather than left to `time`'s range, which
/// reaches year 999999 when anything in the build enables its `large-dates`.
fn expires_at(ms: u64) -> OffsetDateTime {
    // In range for every build of `time`, so the fallback is never taken.
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms.min(LAST_HTTP_DATE_MS)) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The crate's cookie written as express-session writes it.
///
/// Not the crate's own `Display`: it orders the attributes differently
/// (`HttpOnly; SameSite; Partitioned; Secure; Path; Domain; Max-Age; Expires`)
/// and adds `Secure` to a `Partitioned` or `SameSite=None` cookie by itself.
/// Nor its `percent-encode` feature: its set is not `encodeURIComponent`'s (it
/// keeps `+` and escapes `(` and `)`), which would break express's vectors.
/// Two attributes come from `meta`: `Domain`, because `Cookie::domain` drops a
/// leading dot that express sends as configured, and `Priority`, which the
/// crate does not have. `push_str` into one sized buffer, not `fmt`: this runs
/// for every new session.
fn write(cookie: &Cookie<'_>, meta: &CookieMeta) -> String {
    let (name, value) = cookie.name_value();
    let mut out = String::with_capacity(name.len() + value.len() + 128);
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    if let Some(domain) = meta.domain.as_deref().and_then(|d| attribute(d, "domain")) {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    if let Some(path) = cookie.path() {
        out.push_str("; Path=");
        out.push_str(path);
    }
    if let Some(at) = cookie.expires_datetime() {
        // In range for `httpdate`: `expires_at` keeps it before year 10000.
        out.push_str("; Expires=");
        out.push_str(&httpdate::fmt_http_date(SystemTime::from(at)));
    }
    if cookie.http_only() == Some(true) {
        out.push_str("; HttpOnly");
    }
    if cookie.secure() == Some(true) {
        out.push_str("; Secure");
    }
    if cookie.partitioned() == Some(true) {
        out.push_str("; Partitioned");
    }
    if let Some(priority) = meta.priority {
        out.push_str("; Priority=");
        out.push_str(priority.attribute());
    }
    if let Some(same_site) = cookie.same_site() {
        out.push_str(match same_site {
            cookie::SameSite::Strict => "; SameSite=Strict",
            cookie::SameSite::Lax => "; SameSite=Lax",
            cookie::SameSite::None => "; SameSite=None",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Priority;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(COOKIE, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn found(values: &[&str], name: &str) -> Option<String> {
        let map = headers(values);
        let raw = std::str::from_utf8(find(&map, name)?).unwrap();
        let mut buffer = [0; 192];
        Some(decode(raw, &mut buffer).into_owned())
    }

    #[test]
    fn a_cookie_longer_than_the_limit_is_not_read() {
        let secrets = crate::signing::Secrets::new("keyboard cat");
        // A valid cookie with every byte percent-encoded: long, and still valid.
        let signed = secrets.sign("apple");
        let value: String = signed.bytes().map(|b| format!("%{b:02X}")).collect();
        let map = headers(&[&format!("sid={value}")]);
        let apple = SessionCookie::Verified(SessionId::parse("apple").unwrap());
        assert_eq!(
            read_session_cookie(&map, "sid", &secrets, value.len()),
            apple
        );
        assert_eq!(
            read_session_cookie(&map, "sid", &secrets, value.len() - 1),
            SessionCookie::Rejected
        );
    }

    #[test]
    fn session_cookie_is_absent_rejected_or_verified() {
        let secrets = crate::signing::Secrets::new("keyboard cat");
        let read = |value: &str| read_session_cookie(&headers(&[value]), "sid", &secrets, 1024);
        assert_eq!(read("other=1"), SessionCookie::Absent);
        assert_eq!(read("sid=s%3Aapple.forged"), SessionCookie::Rejected);
        // Signed, but not an id the layer accepts.
        let mut bad_id = String::from("sid=");
        encode_uri_component(&secrets.sign("a b"), &mut bad_id);
        assert_eq!(read(&bad_id), SessionCookie::Rejected);
        assert_eq!(
            read("a=1; sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"),
            SessionCookie::Verified(SessionId::parse("apple").unwrap())
        );
    }

    #[test]
    fn first_occurrence_wins_across_headers() {
        assert_eq!(
            found(&["a=1; sid=first", "sid=second"], "sid").as_deref(),
            Some("first")
        );
        assert_eq!(found(&["a=1"], "missing"), None);
    }

    #[test]
    fn finds_what_the_cookie_crate_parses() {
        // The `cookie` crate is the reference for the hand-written lookup.
        let cases = [
            "sid=a",
            " sid = a ",
            "a=1; sid=b; sid=c",
            "sid=\"q\"",
            "sid=\"",
            "sid=\"\"",
            "x; sid=a",
            "=x; sid=b",
            "sid=",
            "sid==a",
            "sid=a=b",
            ";; sid=a ;;",
            "a=1;\tsid=b",
            "sidx=1; xsid=2; sid=3",
            "s id=1; sid=2",
            "a=\"1;2\"; sid=3",
            "name=Jos\u{e9}; sid=\u{e9}t\u{e9}",
        ];
        for header in cases {
            let expected = Cookie::split_parse(header)
                .flatten()
                .find(|cookie| cookie.name() == "sid")
                .map(|cookie| cookie.value_trimmed().to_owned());
            let map = headers(&[header]);
            let ours = find(&map, "sid").map(|raw| String::from_utf8(raw.to_vec()).unwrap());
            assert_eq!(ours, expected, "{header:?}");
        }
    }

    #[test]
    fn unicode_whitespace_is_part_of_a_value_as_in_express() {
        // express's `cookie.parse` trims spaces and tabs only; the `cookie`
        // crate trims all Unicode whitespace, so the property test that holds
        // `find` to the crate generates none. Node 20, cookie 0.7.2:
        // parse("sid=\u00a0a\u3000") → { sid: "\u00a0a\u3000" }.
        assert_eq!(
            found(&["sid=\u{a0}a\u{3000}"], "sid").as_deref(),
            Some("\u{a0}a\u{3000}")
        );
        assert_eq!(found(&["\u{3000}sid=1"], "sid"), None);
    }

    #[test]
    fn finds_the_cookie_next_to_non_ascii_ones() {
        // express parses the raw header; `HeaderValue::to_str` would refuse it.
        assert_eq!(
            found(&["name=Jos\u{e9}; sid=s%3Aab"], "sid").as_deref(),
            Some("s:ab")
        );
        let mut latin1 = HeaderMap::new();
        latin1.append(
            COOKIE,
            HeaderValue::from_bytes(b"name=Jos\xe9; sid=s%3Aab").unwrap(),
        );
        assert_eq!(find(&latin1, "sid"), Some(&b"s%3Aab"[..]));
        // The session cookie itself with such a byte is found, then fails its signature.
        let secrets = crate::signing::Secrets::new("k");
        let mut own = HeaderMap::new();
        own.append(COOKIE, HeaderValue::from_bytes(b"sid=s%3A\xe9.x").unwrap());
        assert_eq!(
            read_session_cookie(&own, "sid", &secrets, 1024),
            SessionCookie::Rejected
        );
    }

    #[test]
    fn decodes_quotes_and_percent() {
        assert_eq!(found(&["sid=\"s%3Aab\""], "sid").as_deref(), Some("s:ab"));
        assert_eq!(found(&[" sid = s:a+b "], "sid").as_deref(), Some("s:a+b"));
        // A malformed escape or invalid UTF-8 is kept raw, as `cookie.parse` does.
        assert_eq!(found(&["sid=%zz"], "sid").as_deref(), Some("%zz"));
        assert_eq!(found(&["sid=a%FFb"], "sid").as_deref(), Some("a%FFb"));
        assert_eq!(found(&["sid=a%4"], "sid").as_deref(), Some("a%4"));
        assert_eq!(found(&["sid=%+1%41"], "sid").as_deref(), Some("%+1%41"));
        assert_eq!(found(&["sid=%4a%4A"], "sid").as_deref(), Some("JJ"));
    }

    #[test]
    fn long_values_decode_past_the_stack_buffer() {
        let long = "%41".repeat(300);
        assert_eq!(
            found(&[&format!("sid={long}")], "sid"),
            Some("A".repeat(300))
        );
        let edge = "%41".repeat(192);
        assert_eq!(
            found(&[&format!("sid={edge}")], "sid"),
            Some("A".repeat(192))
        );
        let over = "%41".repeat(193);
        assert_eq!(
            found(&[&format!("sid={over}")], "sid"),
            Some("A".repeat(193))
        );
    }

    #[test]
    fn encodes_like_encode_uri_component() {
        let mut out = String::new();
        encode_uri_component("s:%.+/=a-_!~*'()", &mut out);
        assert_eq!(out, "s%3A%25.%2B%2F%3Da-_!~*'()");
    }

    #[test]
    fn attribute_order_matches_express() {
        // express-session with {domain, expires: 2026-01-15T12:00:00Z, secure, partitioned, priority: 'high', sameSite: 'lax'}
        let meta = CookieMeta {
            original_max_age: None,
            expires: Some(1_768_478_400_000),
            http_only: true,
            path: "/".into(),
            domain: Some("example.com".into()),
            secure: Some(true),
            same_site: Some(SameSite::Lax),
            partitioned: Some(true),
            priority: Some(Priority::High),
        };
        let signed =
            crate::signing::Secrets::new("keyboard cat").sign("tQ8cEjIsoeA3r6XOCPnZd8H8PFnH0xWv");
        assert_eq!(
            set_cookie("connect.sid", &signed, &meta),
            "connect.sid=s%3AtQ8cEjIsoeA3r6XOCPnZd8H8PFnH0xWv.3KiB7xY%2Bo1izrUDl0U1gjXaQYzXy%2FlJEWNvyj1y4bhw; \
             Domain=example.com; Path=/; Expires=Thu, 15 Jan 2026 12:00:00 GMT; HttpOnly; Secure; Partitioned; Priority=High; SameSite=Lax"
        );
    }

    #[test]
    fn writes_what_express_writes_where_the_crate_would_not() {
        let cases = [
            // The crate would drop the dot and add `Secure` for both of the others.
            (
                CookieMeta {
                    domain: Some(".example.com".into()),
                    partitioned: Some(true),
                    same_site: Some(SameSite::None),
                    ..CookieMeta::default()
                },
                "sid=s%3Aa%2Bb(c); Domain=.example.com; Path=/; HttpOnly; Partitioned; SameSite=None",
            ),
            // Past what an HTTP date can say, the last second of 9999, not a panic.
            (
                CookieMeta {
                    expires: Some(u64::MAX),
                    ..CookieMeta::default()
                },
                "sid=s%3Aa%2Bb(c); Path=/; Expires=Fri, 31 Dec 9999 23:59:59 GMT; HttpOnly",
            ),
        ];
        for (meta, expected) in cases {
            assert_eq!(set_cookie("sid", "s:a+b(c)", &meta), expected);
        }
    }

    #[test]
    fn express_genid_vectors() {
        // express-session's tests "allow custom function" and "encode unsafe chars".
        let secrets = crate::signing::Secrets::new("keyboard cat");
        let meta = CookieMeta::default();
        assert_eq!(
            set_cookie("connect.sid", &secrets.sign("apple"), &meta),
            "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU; Path=/; HttpOnly"
        );
        assert_eq!(
            set_cookie("connect.sid", &secrets.sign("%"), &meta),
            "connect.sid=s%3A%25.kzQ6x52kKVdF35Qh62AWk4ZekS28K5XYCXKa%2FOTZ01g; Path=/; HttpOnly"
        );
        assert_eq!(
            set_cookie("connect.sid", &secrets.sign("/foo"), &meta),
            "connect.sid=s%3A%2Ffoo.paEKBtAHbV5s1IB8B2zPnzAgYmmnRPIqObW4VRYj%2FMQ; Path=/; HttpOnly"
        );
    }

    #[test]
    fn clear_cookie_expires_at_epoch() {
        assert_eq!(
            clear_cookie("connect.sid", &CookieMeta::default()),
            "connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
        );
    }

    #[test]
    fn cookie_names_are_tokens() {
        assert!(is_valid_name("connect.sid"));
        assert!(!is_valid_name("a b"));
        assert!(!is_valid_name("a;b"));
        assert!(!is_valid_name(""));
    }

    #[test]
    fn attribute_values_that_would_inject_are_never_written() {
        // A store file can hold anything; the layer's own options refuse these.
        for bad in [
            "/; Domain=evil.example",
            "/\r\nSet-Cookie: x=1",
            "/\u{0}",
            "/\u{7f}",
            "/caf\u{e9}",
            "",
        ] {
            let meta = CookieMeta {
                path: bad.to_owned(),
                domain: Some(bad.to_owned()),
                ..CookieMeta::default()
            };
            assert_eq!(
                set_cookie("sid", "s:a", &meta),
                "sid=s%3Aa; HttpOnly",
                "{bad:?}"
            );
            assert_eq!(
                clear_cookie("sid", &meta),
                "sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly",
                "{bad:?}"
            );
        }
        assert!(is_attribute_value("/a b/~!"));
        assert!(is_attribute_value(".example.com"));
    }

    #[test]
    fn expires_is_the_last_second_of_9999_at_most() {
        for (ms, expires) in [
            (253_402_300_799_000, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (253_402_300_799_999, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (253_402_300_800_000, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (crate::time::MAX_MS, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (951_782_400_999, "Tue, 29 Feb 2000 00:00:00 GMT"),
        ] {
            let meta = CookieMeta {
                expires: Some(ms),
                ..CookieMeta::default()
            };
            assert_eq!(
                set_cookie("sid", "v", &meta),
                format!("sid=v; Path=/; Expires={expires}; HttpOnly"),
                "{ms}"
            );
        }
    }
}
