//! A stored session: express-session's JSON shape, with its cookie settings
//! and the app's fields as raw JSON.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::DecodeError;
use crate::time;

/// The app's data in a stored session: field keys mapped to JSON values, in
/// the order they were first stored (express keeps insertion order too).
///
/// Values stay encoded: a typed view decodes only its own fields, and keys no
/// schema knows are written back byte for byte.
#[derive(Clone, Default)]
pub struct Fields {
    entries: Vec<(Box<str>, Box<RawValue>)>,
}

impl Fields {
    /// The raw JSON stored under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.entries
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// Stores `value` under `key`, keeping the key's position if it exists.
    pub fn set(&mut self, key: &str, value: Box<RawValue>) {
        match self.entries.iter_mut().find(|(k, _)| &**k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key.into(), value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Box<RawValue>> {
        let index = self.entries.iter().position(|(k, _)| &**k == key)?;
        Some(self.entries.remove(index).1)
    }

    /// The keys and raw values, in stored order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.entries.iter().map(|(k, v)| (&**k, &**v))
    }

    /// How many keys are stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v.get())))
            .finish()
    }
}

/// The `SameSite` cookie attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`: never sent on cross-site requests.
    Strict,
    /// `SameSite=Lax`: sent on top-level cross-site navigations.
    Lax,
    /// `SameSite=None`: sent everywhere (browsers require `Secure`).
    None,
}

impl SameSite {
    fn stored(self) -> &'static str {
        match self {
            SameSite::Strict => "strict",
            SameSite::Lax => "lax",
            SameSite::None => "none",
        }
    }
}

/// The `Priority` cookie attribute (a Chrome extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// `Priority=Low`.
    Low,
    /// `Priority=Medium`.
    Medium,
    /// `Priority=High`.
    High,
}

impl Priority {
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            Priority::Low => "Low",
            Priority::Medium => "Medium",
            Priority::High => "High",
        }
    }

    fn stored(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

/// The session cookie's settings as stored with the session (express-session's
/// `req.session.cookie`). A loaded session keeps the settings it was created
/// with, as in express.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieMeta {
    /// Lifetime in milliseconds given at creation; `None` for a browser-session cookie.
    pub original_max_age: Option<u64>,
    /// When the cookie expires, in milliseconds since the Unix epoch.
    pub expires: Option<u64>,
    /// The `HttpOnly` flag.
    pub http_only: bool,
    /// The `Path` attribute.
    pub path: String,
    /// The `Domain` attribute.
    pub domain: Option<String>,
    /// The `Secure` flag.
    pub secure: Option<bool>,
    /// The `SameSite` attribute.
    pub same_site: Option<SameSite>,
    /// The `Partitioned` flag.
    pub partitioned: Option<bool>,
    /// The `Priority` attribute.
    pub priority: Option<Priority>,
}

impl Default for CookieMeta {
    /// express-session's defaults: `Path=/`, `HttpOnly`, browser-session lifetime.
    fn default() -> Self {
        CookieMeta {
            original_max_age: None,
            expires: None,
            http_only: true,
            path: "/".to_owned(),
            domain: None,
            secure: None,
            same_site: None,
            partitioned: None,
            priority: None,
        }
    }
}

impl CookieMeta {
    /// Restarts the lifetime from `now_ms`, as express's `cookie.maxAge = originalMaxAge`.
    pub(crate) fn touch(&mut self, now_ms: u64) {
        if let Some(max_age) = self.original_max_age {
            self.expires = Some(now_ms.saturating_add(max_age));
        }
    }

    /// Whether these are express's default settings (compared without allocating).
    pub(crate) fn is_default(&self) -> bool {
        self.original_max_age.is_none()
            && self.expires.is_none()
            && self.http_only
            && self.path == "/"
            && self.domain.is_none()
            && self.secure.is_none()
            && self.same_site.is_none()
            && self.partitioned.is_none()
            && self.priority.is_none()
    }

    /// Whether this is a persistent cookie rather than a browser-session one.
    pub(crate) fn has_expiry(&self) -> bool {
        self.original_max_age.is_some() || self.expires.is_some()
    }

    /// Writes express's `Cookie.prototype.toJSON` shape.
    fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str("{\"originalMaxAge\":");
        match self.original_max_age {
            Some(ms) => write!(out, "{ms}").expect("writing to a String"),
            None => out.push_str("null"),
        }
        if let Some(partitioned) = self.partitioned {
            write!(out, ",\"partitioned\":{partitioned}").expect("writing to a String");
        }
        if let Some(priority) = self.priority {
            write!(out, ",\"priority\":\"{}\"", priority.stored()).expect("writing to a String");
        }
        match self.expires {
            Some(ms) => {
                write!(out, ",\"expires\":\"{}\"", time::iso8601(ms)).expect("writing to a String")
            }
            None => out.push_str(",\"expires\":null"),
        }
        if let Some(secure) = self.secure {
            write!(out, ",\"secure\":{secure}").expect("writing to a String");
        }
        write!(out, ",\"httpOnly\":{}", self.http_only).expect("writing to a String");
        if let Some(domain) = &self.domain {
            out.push_str(",\"domain\":");
            push_json_string(out, domain);
        }
        out.push_str(",\"path\":");
        push_json_string(out, &self.path);
        if let Some(same_site) = self.same_site {
            write!(out, ",\"sameSite\":\"{}\"", same_site.stored()).expect("writing to a String");
        }
        out.push('}');
    }

    fn from_json(value: &serde_json::Value) -> Option<Self> {
        let object = value.as_object()?;
        let defaults = CookieMeta::default();
        let same_site = optional(object.get("sameSite"), |v| match v {
            serde_json::Value::Bool(true) => Some(Some(SameSite::Strict)),
            serde_json::Value::Bool(false) => Some(None),
            serde_json::Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "strict" => Some(Some(SameSite::Strict)),
                "lax" => Some(Some(SameSite::Lax)),
                "none" => Some(Some(SameSite::None)),
                _ => None,
            },
            _ => None,
        })?
        .flatten();
        let priority = optional(object.get("priority"), |v| {
            match v.as_str()?.to_ascii_lowercase().as_str() {
                "low" => Some(Priority::Low),
                "medium" => Some(Priority::Medium),
                "high" => Some(Priority::High),
                _ => None,
            }
        })?;
        let meta = CookieMeta {
            original_max_age: optional(object.get("originalMaxAge"), non_negative_ms)?,
            expires: optional(object.get("expires"), |v| time::parse_iso8601(v.as_str()?))?,
            http_only: match object.get("httpOnly") {
                Some(v) => v.as_bool()?,
                None => defaults.http_only,
            },
            path: match object.get("path") {
                Some(v) => v.as_str()?.to_owned(),
                None => defaults.path,
            },
            domain: optional(object.get("domain"), |v| v.as_str().map(str::to_owned))?,
            secure: optional(object.get("secure"), serde_json::Value::as_bool)?,
            same_site,
            partitioned: optional(object.get("partitioned"), serde_json::Value::as_bool)?,
            priority,
        };
        Some(meta)
    }
}

/// `None` (bad value) when present but unreadable; `Some(None)` when absent or null.
fn optional<T>(
    value: Option<&serde_json::Value>,
    read: impl FnOnce(&serde_json::Value) -> Option<T>,
) -> Option<Option<T>> {
    match value {
        None | Some(serde_json::Value::Null) => Some(None),
        Some(v) => read(v).map(Some),
    }
}

/// JavaScript numbers: accept integral floats too (`86400000.0`), reject negatives.
fn non_negative_ms(value: &serde_json::Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f < 9.0e15).then_some(f as u64)
}

pub(crate) fn push_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).expect("strings always encode"));
}

/// One session as a store keeps it.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// The cookie settings the session was created with.
    pub cookie: CookieMeta,
    /// The app's fields.
    pub fields: Fields,
    /// When the session was last saved or touched, in milliseconds since the
    /// Unix epoch (session-file-store's `__lastAccess`); `None` when unknown.
    pub last_access: Option<u64>,
    /// When the session was created, in milliseconds since the Unix epoch, kept
    /// (as `__created`) only when the layer has an absolute timeout.
    pub created: Option<u64>,
}

impl Record {
    /// Encodes as express-session and session-file-store store it:
    /// `{"cookie":{…},<fields…>,"__lastAccess":<ms>}` on one line.
    #[must_use]
    pub fn to_json(&self) -> String {
        self.write_json(true)
    }

    /// The fields (and `__created`) alone, for stores that keep the cookie
    /// settings and the access time beside the JSON.
    pub(crate) fn fields_json(&self) -> String {
        self.write_json(false)
    }

    /// About how many bytes the fields take in the stored JSON: each key and
    /// value, with its quotes, colon and comma. What the layer's
    /// `max_record_size` limits.
    pub(crate) fn fields_len(&self) -> usize {
        self.fields
            .entries
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum()
    }

    fn write_json(&self, with_meta: bool) -> String {
        use std::fmt::Write as _;
        let fields_len = self.fields_len();
        let mut out = String::with_capacity(if with_meta { 112 } else { 2 } + fields_len);
        out.push('{');
        if with_meta {
            out.push_str("\"cookie\":");
            self.cookie.write_json(&mut out);
        }
        for (key, value) in &self.fields.entries {
            if out.len() > 1 {
                out.push(',');
            }
            push_json_string(&mut out, key);
            out.push(':');
            out.push_str(value.get());
        }
        let mut stamp = |key: &str, ms: Option<u64>| {
            if let Some(ms) = ms {
                if out.len() > 1 {
                    out.push(',');
                }
                write!(out, "\"{key}\":{ms}").expect("writing to a String");
            }
        };
        stamp("__created", self.created);
        if with_meta {
            stamp("__lastAccess", self.last_access);
        }
        out.push('}');
        out
    }

    /// Reads what [`to_json`](Self::to_json) writes, and what express-session's
    /// stores write. A missing `cookie` gives express's default cookie settings.
    ///
    /// # Errors
    /// When the text is not a JSON object, or `cookie` / `__lastAccess` have the wrong shape.
    pub fn from_json(text: &str) -> Result<Self, DecodeError> {
        let object: RawObject = serde_json::from_str(text).map_err(DecodeError::Json)?;
        let mut record = Record::default();
        for (key, value) in object.0 {
            match &*key {
                "cookie" => {
                    let parsed: serde_json::Value =
                        serde_json::from_str(value.get()).map_err(|_| DecodeError::Cookie)?;
                    record.cookie = CookieMeta::from_json(&parsed).ok_or(DecodeError::Cookie)?;
                }
                "__lastAccess" => record.last_access = Some(read_ms(&value, "__lastAccess")?),
                "__created" => record.created = Some(read_ms(&value, "__created")?),
                _ => record.fields.set(&key, value),
            }
        }
        Ok(record)
    }
}

/// A timestamp key the runtime keeps beside the fields.
fn read_ms(value: &RawValue, key: &'static str) -> Result<u64, DecodeError> {
    serde_json::from_str::<serde_json::Value>(value.get())
        .ok()
        .as_ref()
        .and_then(non_negative_ms)
        .ok_or(DecodeError::Timestamp(key))
}

/// A JSON object with its values left raw and its key order kept.
struct RawObject(Vec<(Box<str>, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject, A::Error> {
                let mut entries: Vec<(Box<str>, Box<RawValue>)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
                    // JSON.parse keeps the last of duplicate keys.
                    match entries.iter_mut().find(|(k, _)| **k == *key) {
                        Some(entry) => entry.1 = value,
                        None => entries.push((key.into(), value)),
                    }
                }
                Ok(RawObject(entries))
            }
        }
        deserializer
            .deserialize_map(ObjectVisitor)
            .map_err(|e: D::Error| {
                de::Error::custom(format_args!("a stored session must be a JSON object: {e}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_session_file_store_shape() {
        let text = r#"{"cookie":{"originalMaxAge":86400000,"expires":"2026-11-28T09:29:11.249Z","httpOnly":true,"path":"/"},"views":1,"user":{"name":"bob","tags":["a","b"]},"__lastAccess":1795771751250}"#;
        let record = Record::from_json(text).unwrap();
        assert_eq!(record.cookie.original_max_age, Some(86_400_000));
        assert_eq!(record.last_access, Some(1_795_771_751_250));
        assert_eq!(record.fields.get("views").unwrap().get(), "1");
        assert_eq!(record.to_json(), text);
    }

    #[test]
    fn browser_session_cookie_shape() {
        let text = r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"__lastAccess":1795771884557}"#;
        assert_eq!(Record::from_json(text).unwrap().to_json(), text);
    }

    #[test]
    fn rejects_non_objects_and_bad_cookies() {
        for bad in [
            "",
            "[]",
            "1",
            "null",
            "{",
            "{\"cookie\":1}",
            "{\"__lastAccess\":\"x\"}",
            "\u{0}\u{1}",
        ] {
            assert!(Record::from_json(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn full_cookie_meta_round_trips() {
        let meta = CookieMeta {
            original_max_age: Some(1000),
            expires: Some(1_000),
            http_only: false,
            path: "/a\"b".into(),
            domain: Some("example.com".into()),
            secure: Some(true),
            same_site: Some(SameSite::Lax),
            partitioned: Some(true),
            priority: Some(Priority::High),
        };
        let record = Record {
            cookie: meta.clone(),
            ..Record::default()
        };
        assert_eq!(Record::from_json(&record.to_json()).unwrap().cookie, meta);
    }
}
