//! A stored session: express-session's JSON shape, with its cookie settings
//! and the app's fields as raw JSON.

use std::borrow::Cow;
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
    /// Keys the schema names are borrowed (`&'static str`); keys read from
    /// a store are owned.
    entries: Vec<(Cow<'static, str>, Box<RawValue>)>,
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
        self.put(key, value, || Cow::Owned(key.to_owned()));
    }

    /// [`set`](Self::set) for a key the schema names: no copy of the key.
    pub(crate) fn set_static(&mut self, key: &'static str, value: Box<RawValue>) {
        self.put(key, value, || Cow::Borrowed(key));
    }

    /// Replaces `key`'s value, or adds the key that `owned` makes last.
    fn put(&mut self, key: &str, value: Box<RawValue>, owned: impl FnOnce() -> Cow<'static, str>) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((owned(), value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Box<RawValue>> {
        let index = self.entries.iter().position(|(k, _)| &**k == key)?;
        Some(self.entries.remove(index).1)
    }

    /// The keys and raw values, in stored order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> + Clone {
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
///
/// Times are stored as JavaScript can read them: a lifetime or expiry past
/// 8.64e15 ms (`+275760-09-13T00:00:00.000Z`, the latest JavaScript `Date`)
/// is stored as that, and `Set-Cookie` says at most
/// `Expires=Fri, 31 Dec 9999 23:59:59 GMT`, the last HTTP date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieMeta {
    /// Lifetime in milliseconds given at creation; `None` for a browser-session
    /// cookie. Stored as express stores it; [`max_age`](Self::max_age) reads it
    /// as a `Duration`.
    pub original_max_age: Option<u64>,
    /// When the cookie expires, in milliseconds since the Unix epoch.
    /// [`expires_at`](Self::expires_at) reads it as a `SystemTime`.
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
    /// The lifetime the cookie gets whenever it is sent (as
    /// [`CookieMut::set_max_age`](crate::CookieMut::set_max_age) takes it);
    /// `None` for a browser-session cookie.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let mut cookie = session_runtime::CookieMeta::default();
    /// assert_eq!(cookie.max_age(), None);
    /// cookie.original_max_age = Some(90_000);
    /// assert_eq!(cookie.max_age(), Some(Duration::from_secs(90)));
    /// ```
    #[must_use]
    pub fn max_age(&self) -> Option<std::time::Duration> {
        self.original_max_age.map(std::time::Duration::from_millis)
    }

    /// When the cookie expires, as
    /// [`CookieMut::set_expires`](crate::CookieMut::set_expires) takes it;
    /// `None` for a browser-session cookie.
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// let mut cookie = session_runtime::CookieMeta::default();
    /// cookie.expires = Some(1_000);
    /// assert_eq!(cookie.expires_at(), Some(UNIX_EPOCH + Duration::from_secs(1)));
    /// ```
    #[must_use]
    pub fn expires_at(&self) -> Option<std::time::SystemTime> {
        self.expires
            .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
    }

    /// Restarts the lifetime from `now_ms`, as express's `cookie.maxAge = originalMaxAge`.
    /// Never past the latest time a JavaScript `Date` holds ([`time::MAX_MS`]),
    /// where JavaScript would have an invalid date.
    pub(crate) fn touch(&mut self, now_ms: u64) {
        if let Some(max_age) = self.original_max_age {
            self.expires = Some(now_ms.saturating_add(max_age).min(time::MAX_MS));
        }
    }

    /// Whether these are express's default settings but for `SameSite` (the
    /// layer's own default is `Lax`).
    pub(crate) fn is_default_but_same_site(&self) -> bool {
        self.original_max_age.is_none()
            && self.expires.is_none()
            && self.http_only
            && self.path == "/"
            && self.domain.is_none()
            && self.secure.is_none()
            && self.partitioned.is_none()
            && self.priority.is_none()
    }

    /// Whether this is a persistent cookie rather than a browser-session one.
    pub(crate) fn has_expiry(&self) -> bool {
        self.original_max_age.is_some() || self.expires.is_some()
    }

    /// Writes express's `Cookie.prototype.toJSON` shape. Times are clamped to
    /// [`time::MAX_MS`], the range a JavaScript `Date` and number hold exactly.
    #[allow(clippy::expect_used, reason = "`fmt::Write` for `String` never fails")]
    fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str("{\"originalMaxAge\":");
        match self.original_max_age {
            Some(ms) => write!(out, "{}", ms.min(time::MAX_MS)).expect("writing to a String"),
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

    /// Reads what express-session stores, and only what its `cookie.serialize`
    /// would write: `None` where express would throw at Set-Cookie time, and for
    /// a `path` or `domain` that would smuggle attributes into the header.
    fn from_json(value: &serde_json::Value) -> Option<Self> {
        let object = value.as_object()?;
        let defaults = CookieMeta::default();
        // `cookie.serialize` tests both with `if (opt.sameSite)`: falsy values send nothing.
        let same_site = truthy(object.get("sameSite"), |v| match v {
            serde_json::Value::Bool(true) => Some(SameSite::Strict),
            serde_json::Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "strict" => Some(SameSite::Strict),
                "lax" => Some(SameSite::Lax),
                "none" => Some(SameSite::None),
                _ => None,
            },
            _ => None,
        })?;
        let priority = truthy(object.get("priority"), |v| {
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
                Some(v) => attribute_value(v)?,
                None => defaults.path,
            },
            domain: optional(object.get("domain"), attribute_value)?,
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

/// Like [`optional`], for the attributes `cookie.serialize` skips when falsy
/// (`false`, `0`, `""`, `null`).
fn truthy<T>(
    value: Option<&serde_json::Value>,
    read: impl FnOnce(&serde_json::Value) -> Option<T>,
) -> Option<Option<T>> {
    let falsy = match value {
        Some(serde_json::Value::Bool(b)) => !b,
        Some(serde_json::Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(serde_json::Value::String(s)) => s.is_empty(),
        _ => false,
    };
    if falsy {
        Some(None)
    } else {
        optional(value, read)
    }
}

/// A `Path` or `Domain` the layer's own options would accept.
fn attribute_value(value: &serde_json::Value) -> Option<String> {
    value
        .as_str()
        .filter(|text| crate::cookie::is_attribute_value(text))
        .map(str::to_owned)
}

/// JavaScript numbers: accept integral floats too (`86400000.0`), reject
/// negatives and fractions. Past [`time::MAX_MS`] (a lifetime no JavaScript
/// `Date` can add up to), `MAX_MS`.
fn non_negative_ms(value: &serde_json::Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n.min(time::MAX_MS));
    }
    let f = value.as_f64()?;
    // `as` saturates; every float past 2^53 is whole.
    (f >= 0.0 && f.fract() == 0.0).then_some((f as u64).min(time::MAX_MS))
}

#[allow(clippy::expect_used, reason = "serde_json always encodes a `str`")]
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    // Nearly every key needs no escape: copy it between quotes, with no
    // allocation; serde_json writes the others.
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(text.len() + 2);
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(text).expect("strings always encode"));
    }
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
    /// (as `__created`) when the layer has an absolute timeout or knows an
    /// indexed field (`SessionInfo::created`).
    pub created: Option<u64>,
    /// The loading store's name for the stored value this record was read from.
    pub(crate) revision: Option<Box<str>>,
}

impl Record {
    /// The name the store that loaded this record gave the stored value it was
    /// read from, if it keeps one. A store that saves by compare-and-set (the
    /// Redis store) sets it in [`load`](crate::SessionStore::load) and, in
    /// [`update`](crate::SessionStore::update), writes only if the stored value
    /// still has that name. Clones keep it; a new record has none.
    ///
    /// ```
    /// use session_runtime::Record;
    ///
    /// let mut record = Record::default();
    /// assert_eq!(record.revision(), None);
    /// record.set_revision("8f14e45f");
    /// assert_eq!(record.revision(), Some("8f14e45f"));
    /// ```
    #[must_use]
    pub fn revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// Names the stored value this record was read from; see [`revision`](Self::revision).
    pub fn set_revision(&mut self, revision: impl Into<Box<str>>) {
        self.revision = Some(revision.into());
    }

    /// Encodes as express-session and session-file-store store it:
    /// `{"cookie":{…},<fields…>,"__lastAccess":<ms>}` on one line.
    #[must_use]
    pub fn to_json(&self) -> String {
        self.write_json()
    }

    /// The fields alone, for stores that keep the cookie settings, the access
    /// time and the creation time beside the JSON.
    pub(crate) fn fields_json(&self) -> String {
        fields_object(self.fields.iter())
    }

    /// About how many bytes the fields take in the stored JSON: each key and
    /// value, with its quotes, colon and comma. What the layer's
    /// `max_record_size` limits.
    pub(crate) fn fields_len(&self) -> usize {
        encoded_len(self.fields.iter())
    }

    #[allow(clippy::expect_used, reason = "`fmt::Write` for `String` never fails")]
    fn write_json(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(112 + self.fields_len());
        out.push_str("{\"cookie\":");
        self.cookie.write_json(&mut out);
        for (key, value) in self.fields.iter() {
            push_field(&mut out, key, value);
        }
        let mut stamp = |key: &str, ms: Option<u64>| {
            if let Some(ms) = ms {
                write!(out, ",\"{key}\":{ms}").expect("writing to a String");
            }
        };
        stamp("__created", self.created);
        stamp("__lastAccess", self.last_access);
        out.push('}');
        out
    }

    /// Reads what [`to_json`](Self::to_json) writes, and what express-session's
    /// stores write. A missing `cookie` gives express's default cookie settings.
    ///
    /// # Errors
    /// When the text is not a JSON object, or `cookie` / `__lastAccess` have
    /// the wrong shape. A `cookie` has the wrong shape when express would fail
    /// to send it (an unknown `sameSite` or `priority`, an `expires` that
    /// `Date.parse` rejects) or when its `path` or `domain` is not printable
    /// ASCII without `;`, which would add attributes to `Set-Cookie`.
    pub fn from_json(text: &str) -> Result<Self, DecodeError> {
        let object: RawObject = serde_json::from_str(text).map_err(|error| {
            // The only data error is a value that is not an object: serde would quote it.
            if error.is_data() {
                DecodeError::Json(de::Error::custom(format_args!(
                    "another kind of JSON value at line {} column {}",
                    error.line(),
                    error.column()
                )))
            } else {
                DecodeError::Json(error)
            }
        })?;
        let mut record = Record::default();
        let mut entries = object.0;
        let mut failed = None;
        // The object's own entries become the fields (its keys are already
        // unique), less the three the runtime keeps beside them: one vector
        // and one allocation per key and value, whatever the record holds.
        entries.retain(|(key, value)| {
            let kept = match &**key {
                "cookie" => serde_json::from_str::<serde_json::Value>(value.get())
                    .ok()
                    .and_then(|parsed| CookieMeta::from_json(&parsed))
                    .map(|cookie| record.cookie = cookie)
                    .ok_or(DecodeError::Cookie),
                "__lastAccess" => {
                    read_ms(value, "__lastAccess").map(|ms| record.last_access = Some(ms))
                }
                "__created" => read_ms(value, "__created").map(|ms| record.created = Some(ms)),
                _ => return true,
            };
            if let Err(error) = kept {
                failed.get_or_insert(error);
            }
            false
        });
        if let Some(error) = failed {
            return Err(error);
        }
        record.fields.entries = entries;
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

/// A JSON object with its values left raw and its key order kept, a
/// duplicate key's last value in its first place, as `JSON.parse` keeps them.
struct Object<K, V>(Vec<(K, V)>);

/// An object whose keys and values are its own: a stored record's.
type RawObject = Object<Cow<'static, str>, Box<RawValue>>;

/// An object borrowed from its text: keys (owned only when they have
/// escapes) and raw values.
type BorrowedObject<'a> = Object<Key<'a>, &'a RawValue>;

impl<'de, K, V> serde::Deserialize<'de> for Object<K, V>
where
    K: serde::Deserialize<'de> + PartialEq,
    V: serde::Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for ObjectVisitor<K, V>
        where
            K: serde::Deserialize<'de> + PartialEq,
            V: serde::Deserialize<'de>,
        {
            type Value = Object<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object<K, V>, A::Error> {
                let mut entries: Vec<(K, V)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<K, V>()? {
                    match entries.iter_mut().find(|(k, _)| *k == key) {
                        Some(entry) => entry.1 = value,
                        None => entries.push((key, value)),
                    }
                }
                Ok(Object(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

/// `stored`, a fields object as [`Record::fields_json`] writes it, with
/// `update`'s taken and changed fields applied: the text that decoding it,
/// [`Update::apply_to`](crate::store::Update::apply_to) and `fields_json`
/// give, without building a record. The memory store's save: keys and values
/// stay borrowed from `stored` and the update, so a save allocates the list
/// and the new text, whatever the session holds. `None` when `stored` is not
/// a JSON object.
pub(crate) fn merge_fields_json(stored: &str, update: &crate::store::Update<'_>) -> Option<String> {
    let Object(mut entries): BorrowedObject<'_> = serde_json::from_str(stored).ok()?;
    for (key, seen) in update.taken {
        if let Some(index) = entries
            .iter()
            .position(|(Key(k), v)| k == key && v.get() == seen.get())
        {
            entries.remove(index);
        }
    }
    for &key in update.changed {
        let position = entries.iter().position(|(Key(k), _)| k == key);
        match (update.record.fields.get(key), position) {
            (Some(value), Some(index)) => {
                if let Some(entry) = entries.get_mut(index) {
                    entry.1 = value;
                }
            }
            (Some(value), None) => entries.push((Key(Cow::Borrowed(key)), value)),
            (None, Some(index)) => {
                entries.remove(index);
            }
            (None, None) => {}
        }
    }
    Some(fields_object(entries.iter().map(|(Key(k), v)| (&**k, *v))))
}

/// About how many bytes `fields` take in an object: each key and value, with
/// its quotes, colon and comma (exactly, when no key needs an escape).
fn encoded_len<'a>(fields: impl Iterator<Item = (&'a str, &'a RawValue)>) -> usize {
    fields.map(|(k, v)| k.len() + v.get().len() + 4).sum()
}

/// `"key":value` after what `out` holds, with a comma unless it is the
/// object's first member.
fn push_field(out: &mut String, key: &str, value: &RawValue) {
    if out.len() > 1 {
        out.push(',');
    }
    push_json_string(out, key);
    out.push(':');
    out.push_str(value.get());
}

/// `fields` as a JSON object. Sized exactly when no key needs an escape (`{}`,
/// or each field and its comma, less one comma, plus the braces), so that the
/// memory store's `into_boxed_str` need not shrink it.
fn fields_object<'a>(fields: impl Iterator<Item = (&'a str, &'a RawValue)> + Clone) -> String {
    let mut out = String::with_capacity((encoded_len(fields.clone()) + 1).max(2));
    out.push('{');
    for (key, value) in fields {
        push_field(&mut out, key, value);
    }
    out.push('}');
    out
}

/// A key borrowed from the text unless it has escapes.
#[derive(PartialEq)]
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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

    fn cookie(json: &str) -> Result<CookieMeta, DecodeError> {
        Record::from_json(&format!(r#"{{"cookie":{json}}}"#)).map(|record| record.cookie)
    }

    fn is_cookie_error<T: fmt::Debug>(result: Result<T, DecodeError>) -> bool {
        matches!(result, Err(DecodeError::Cookie))
    }

    #[test]
    fn far_future_lifetimes_load_save_and_reload() {
        // A stored originalMaxAge past ~2.5e14 ms used to put the next `expires`
        // past year 9999, written as a five-digit year that no reader accepts.
        let now = 1_795_771_751_250;
        for (max_age, expires) in [
            ("300000000000000", "null"),
            ("8640000000000000", r#""+275760-09-13T00:00:00.000Z""#),
            ("18446744073709551615", r#""9999-12-31T23:59:59.999Z""#),
            ("18446744073709551616", r#""+010000-01-01T00:00:00.000Z""#),
            ("1e300", "null"),
        ] {
            let text = format!(
                r#"{{"cookie":{{"originalMaxAge":{max_age},"expires":{expires},"httpOnly":true,"path":"/"}},"__lastAccess":{now}}}"#
            );
            let mut record = Record::from_json(&text).expect(&text);
            record.cookie.touch(now);
            let saved = record.to_json();
            let reloaded = Record::from_json(&saved).expect(&saved);
            assert_eq!(reloaded.cookie, record.cookie, "{text}");
            assert_eq!(reloaded.to_json(), saved);
            let max_age = reloaded.cookie.original_max_age.unwrap();
            assert!(max_age <= time::MAX_MS, "{text}");
            assert!(reloaded.cookie.expires.unwrap() <= time::MAX_MS, "{text}");
            // And the cookie for it can be written.
            let header = crate::cookie::set_cookie("sid", "s:a.b", &reloaded.cookie);
            assert!(header.contains("; Expires="), "{header}");
        }
    }

    #[test]
    fn lifetimes_are_clamped_to_what_a_javascript_date_holds() {
        let mut meta = CookieMeta {
            original_max_age: Some(u64::MAX),
            ..CookieMeta::default()
        };
        meta.touch(1_795_771_751_250);
        assert_eq!(meta.expires, Some(time::MAX_MS));
        meta.touch(u64::MAX);
        assert_eq!(meta.expires, Some(time::MAX_MS));
        let record = Record {
            cookie: meta,
            ..Record::default()
        };
        assert_eq!(
            record.to_json(),
            r#"{"cookie":{"originalMaxAge":8640000000000000,"expires":"+275760-09-13T00:00:00.000Z","httpOnly":true,"path":"/"}}"#
        );
    }

    #[test]
    fn an_expiry_javascript_cannot_read_is_not_a_session() {
        for expires in [
            "9999-12-31T23:59:60Z",
            "+275760-09-13T00:00:00.001Z",
            "10000-01-01T00:00:00.000Z",
            "tomorrow",
        ] {
            let json = format!(r#"{{"expires":"{expires}"}}"#);
            assert!(is_cookie_error(cookie(&json)), "{expires}");
        }
        assert!(is_cookie_error(cookie(r#"{"expires":1795771751250}"#)));
    }

    #[test]
    fn stored_paths_and_domains_that_would_inject_attributes_are_not_a_session() {
        for value in [
            "/; Domain=evil.example",
            "/\r\nSet-Cookie: x=1",
            "/\u{1}",
            "/\u{7f}",
            "/caf\u{e9}",
            "",
        ] {
            let value = serde_json::to_string(value).unwrap();
            for key in ["path", "domain"] {
                let json = format!(r#"{{"{key}":{value}}}"#);
                assert!(is_cookie_error(cookie(&json)), "{json}");
            }
        }
        let fine = cookie(r#"{"path":"/a b/~!","domain":".example.com"}"#).unwrap();
        assert_eq!(fine.path, "/a b/~!");
        assert_eq!(fine.domain.as_deref(), Some(".example.com"));
    }

    #[test]
    fn same_site_reads_as_cookie_serialize_does() {
        for (json, expected) in [
            ("true", Some(SameSite::Strict)),
            ("false", None),
            ("null", None),
            (r#""strict""#, Some(SameSite::Strict)),
            (r#""Strict""#, Some(SameSite::Strict)),
            (r#""lax""#, Some(SameSite::Lax)),
            (r#""LAX""#, Some(SameSite::Lax)),
            (r#""none""#, Some(SameSite::None)),
            (r#""None""#, Some(SameSite::None)),
            // Falsy: `cookie.serialize` writes no attribute.
            (r#""""#, None),
            ("0", None),
        ] {
            let meta = cookie(&format!(r#"{{"sameSite":{json}}}"#)).expect(json);
            assert_eq!(meta.same_site, expected, "{json}");
        }
        assert_eq!(cookie("{}").unwrap().same_site, None);
        // What `cookie.serialize` throws on.
        for json in [r#""auto""#, r#""other""#, r#"" lax""#, "1", "[]", "{}"] {
            let text = format!(r#"{{"sameSite":{json}}}"#);
            assert!(is_cookie_error(cookie(&text)), "{json}");
        }
    }

    #[test]
    fn priority_reads_as_cookie_serialize_does() {
        for (json, expected) in [
            (r#""low""#, Some(Priority::Low)),
            (r#""Low""#, Some(Priority::Low)),
            (r#""medium""#, Some(Priority::Medium)),
            (r#""MEDIUM""#, Some(Priority::Medium)),
            (r#""high""#, Some(Priority::High)),
            (r#""High""#, Some(Priority::High)),
            ("null", None),
            (r#""""#, None),
            ("false", None),
            ("0", None),
        ] {
            let meta = cookie(&format!(r#"{{"priority":{json}}}"#)).expect(json);
            assert_eq!(meta.priority, expected, "{json}");
        }
        for json in [r#""urgent""#, "true", "1", r#""high ""#] {
            let text = format!(r#"{{"priority":{json}}}"#);
            assert!(is_cookie_error(cookie(&text)), "{json}");
        }
    }

    #[test]
    fn flags_are_booleans() {
        let read = |key: &str, json: &str| cookie(&format!(r#"{{"{key}":{json}}}"#));
        for key in ["secure", "partitioned"] {
            let get = |meta: CookieMeta| match key {
                "secure" => meta.secure,
                _ => meta.partitioned,
            };
            assert_eq!(get(read(key, "true").unwrap()), Some(true), "{key}");
            assert_eq!(get(read(key, "false").unwrap()), Some(false), "{key}");
            assert_eq!(get(read(key, "null").unwrap()), None, "{key}");
            assert_eq!(get(cookie("{}").unwrap()), None, "{key}");
            assert!(is_cookie_error(read(key, r#""true""#)), "{key}");
            assert!(is_cookie_error(read(key, "1")), "{key}");
        }
        assert!(!read("httpOnly", "false").unwrap().http_only);
        assert!(read("httpOnly", "true").unwrap().http_only);
        assert!(cookie("{}").unwrap().http_only);
        assert!(is_cookie_error(read("httpOnly", "1")));
    }

    #[test]
    fn original_max_age_is_a_non_negative_whole_number() {
        for (json, expected) in [
            ("86400000", Some(86_400_000)),
            ("86400000.0", Some(86_400_000)),
            ("8.64e7", Some(86_400_000)),
            ("0", Some(0)),
            ("-0.0", Some(0)),
            ("null", None),
        ] {
            let meta = cookie(&format!(r#"{{"originalMaxAge":{json}}}"#)).expect(json);
            assert_eq!(meta.original_max_age, expected, "{json}");
        }
        for json in [
            "-1",
            "-1.0",
            "1.5",
            "0.5",
            r#""86400000""#,
            "true",
            "-1e300",
        ] {
            let text = format!(r#"{{"originalMaxAge":{json}}}"#);
            assert!(is_cookie_error(cookie(&text)), "{json}");
        }
        for json in ["-1", "1.5", r#""1""#] {
            let text = format!(r#"{{"__lastAccess":{json}}}"#);
            assert!(
                matches!(
                    Record::from_json(&text),
                    Err(DecodeError::Timestamp("__lastAccess"))
                ),
                "{json}"
            );
        }
    }

    /// What a store implementation reads from `Record::fields`.
    #[test]
    fn fields_say_whether_they_are_empty_and_show_their_raw_json() {
        let empty = Record::from_json(r#"{"cookie":{"path":"/"}}"#)
            .unwrap()
            .fields;
        assert!(empty.is_empty());
        assert_eq!(format!("{empty:?}"), "{}");
        let mut fields = Record::from_json(r#"{"views":1,"user":{"name":"bob"}}"#)
            .unwrap()
            .fields;
        assert!(!fields.is_empty());
        assert_eq!(
            format!("{fields:?}"),
            r#"{"views": "1", "user": "{\"name\":\"bob\"}"}"#
        );
        fields.remove("views");
        assert!(!fields.is_empty());
        fields.remove("user");
        assert!(fields.is_empty());
    }

    #[test]
    fn a_record_that_is_not_an_object_is_not_quoted_in_the_error() {
        for text in [r#""secret-token""#, "123456789", "[\"secret-token\"]"] {
            let error = Record::from_json(text).unwrap_err().to_string();
            assert!(!error.contains("secret-token"), "{error}");
            assert!(!error.contains("123456789"), "{error}");
        }
    }
}
