//! Property tests of everything that reads input a client or a store file
//! controls: the `Cookie` header lookup, the percent decoder, the signature
//! check, the id parser, the stored-record decoder and the date formats.
//!
//! Each property runs [`DEFAULT_CASES`] cases, or `PROPTEST_CASES` when set.
//! The longer run:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test -p session-runtime --lib --release proptests
//! ```

use std::collections::BTreeMap;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::cookie::{
    self, DecodeBuffer, SessionCookie, decode, encode_uri_component, find, read_session_cookie,
};
use crate::id::SessionId;
use crate::record::{
    CookieMeta, Fields, Priority, Record, SameSite, merge_fields_json, push_json_string,
};
use crate::signing::Secrets;
use crate::store::Update;
use crate::time::{self, MAX_MS, iso8601, parse_iso8601};

/// Cases per property in a plain `cargo test`: the whole module takes about
/// 15 s in a debug build on two cores.
const DEFAULT_CASES: u32 = 2048;

/// `ProptestConfig { cases, .. }` would override `PROPTEST_CASES`; this honours it.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// The last millisecond that `toISOString` writes with a four-digit year.
const LAST_FOUR_DIGIT_YEAR_MS: u64 = 253_402_300_799_999;

fn cookie_headers(values: &[String]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for value in values {
        map.append(COOKIE, HeaderValue::from_str(value).ok()?);
    }
    Some(map)
}

/// Cookie headers made of pairs that look like ours and pairs that almost do.
fn cookie_header() -> impl Strategy<Value = String> {
    let name = select(vec![
        "sid", " sid", "sid ", "\tsid", "s id", "Sid", "sidx", "xsid", "", "a", "=",
    ]);
    let equals = select(vec!["=", "", "==", " = ", "=\t"]);
    let value = "[a-z\"%=; \t\u{e9}4A]{0,8}";
    let pair = (name, equals, value).prop_map(|(n, e, v)| format!("{n}{e}{v}"));
    let separator = select(vec![";", "; ", ";;", " ;\t", ";\u{e9}"]);
    prop::collection::vec((pair, separator), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(pair, separator)| pair + separator)
            .collect()
    })
}

/// Text dense with escapes, well-formed or not (`%4A`, `%4`, `%G0`, `%+1`,
/// escapes of bytes that are not UTF-8), long enough to outgrow the decoder's
/// stack buffer.
fn escapes() -> impl Strategy<Value = String> {
    const ALPHABET: [char; 16] = [
        '%', '%', '%', '%', '0', '4', 'A', 'a', 'F', 'f', 'C', '3', 'G', '+', '\u{e9}', ' ',
    ];
    prop::collection::vec(0..ALPHABET.len(), 0..600)
        .prop_map(|indexes| indexes.into_iter().map(|i| ALPHABET[i]).collect())
}

fn session_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,128}"
}

fn secrets() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..80), 1..4)
}

/// Times near the interesting edges as often as anywhere in the range.
fn millis() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..=LAST_FOUR_DIGIT_YEAR_MS,
        0..=MAX_MS,
        LAST_FOUR_DIGIT_YEAR_MS - 100_000..LAST_FOUR_DIGIT_YEAR_MS + 100_000,
        MAX_MS - 100_000..=MAX_MS,
        any::<u64>(),
    ]
}

/// Any text, short: cheaper to generate than `any::<String>()`'s regex.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Values a stored cookie attribute might hold: right ones, near misses, anything.
fn cookie_attribute_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        millis().prop_map(Value::from),
        millis().prop_map(|ms| Value::from(iso8601(ms))),
        select(vec![
            "/",
            "/a",
            "",
            "/; Secure",
            "example.com",
            "lax",
            "LAX",
            "strict",
            "none",
            "auto",
            "low",
            "High",
            "9999-12-31T23:59:60Z",
            "+275760-09-13T00:00:00.001Z",
        ])
        .prop_map(Value::from),
        select(vec![0.0, -0.0, -1.0, 1.5, 8.64e15, 1e300]).prop_map(Value::from),
    ]
}

fn stored_cookie() -> impl Strategy<Value = Value> {
    let nullable = |value: BoxedStrategy<Value>| prop_oneof![1 => Just(Value::Null), 4 => value];
    let flag = || nullable(any::<bool>().prop_map(Value::from).boxed());
    // Mostly values express writes, so that many records load and the
    // properties about loaded records get exercised.
    let known = (
        (
            prop::option::of(nullable(millis().prop_map(Value::from).boxed())),
            prop::option::of(nullable(
                millis().prop_map(|ms| Value::from(iso8601(ms))).boxed(),
            )),
            prop::option::of(any::<bool>().prop_map(Value::from)),
        ),
        (
            prop::option::of(attribute_value().prop_map(Value::from)),
            prop::option::of(nullable(attribute_value().prop_map(Value::from).boxed())),
        ),
        (
            prop::option::of(flag()),
            prop::option::of(select(vec![
                Value::from(true),
                Value::from(false),
                Value::from("strict"),
                Value::from("Lax"),
                Value::from("none"),
                Value::from(""),
                Value::Null,
            ])),
            prop::option::of(flag()),
            prop::option::of(select(vec![
                Value::from("low"),
                Value::from("Medium"),
                Value::from("HIGH"),
                Value::from(false),
                Value::Null,
            ])),
        ),
    );
    let key = prop_oneof![
        select(vec![
            "originalMaxAge",
            "expires",
            "httpOnly",
            "path",
            "domain",
            "secure",
            "sameSite",
            "partitioned",
            "priority",
        ])
        .prop_map(str::to_owned),
        text(),
    ];
    // Then a few keys, known or not, with anything in them.
    let odd = prop::collection::btree_map(key, cookie_attribute_value(), 0..3);
    let object = (known, odd).prop_map(
        |(
            (
                (max_age, expires, http_only),
                (path, domain),
                (secure, same_site, partitioned, priority),
            ),
            odd,
        )| {
            let known = [
                ("originalMaxAge", max_age),
                ("expires", expires),
                ("httpOnly", http_only),
                ("path", path),
                ("domain", domain),
                ("secure", secure),
                ("sameSite", same_site),
                ("partitioned", partitioned),
                ("priority", priority),
            ];
            let mut object: serde_json::Map<String, Value> = known
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value?)))
                .collect();
            object.extend(odd);
            Value::Object(object)
        },
    );
    prop_oneof![4 => object, 1 => json_value()]
}

/// A stored record as a store file might hold it, written by anyone.
fn stored_record() -> impl Strategy<Value = String> {
    let time = prop_oneof![millis().prop_map(Value::from), json_value()];
    (
        prop::option::of(stored_cookie()),
        prop::collection::btree_map(text(), json_value(), 0..5),
        prop::option::of(time),
    )
        .prop_map(|(cookie, fields, last_access)| {
            let mut object = serde_json::Map::new();
            if let Some(cookie) = cookie {
                object.insert("cookie".to_owned(), cookie);
            }
            object.extend(fields);
            if let Some(last_access) = last_access {
                object.insert("__lastAccess".to_owned(), last_access);
            }
            Value::Object(object).to_string()
        })
}

/// A `Path` or `Domain` the layer's options accept: printable ASCII but `;`.
fn attribute_value() -> impl Strategy<Value = String> {
    "[\x20-\x3a\x3c-\x7e]{1,40}"
}

fn cookie_meta() -> impl Strategy<Value = CookieMeta> {
    let same_site = select(vec![SameSite::Strict, SameSite::Lax, SameSite::None]);
    let priority = select(vec![Priority::Low, Priority::Medium, Priority::High]);
    (
        (prop::option::of(millis()), prop::option::of(millis())),
        (
            any::<bool>(),
            attribute_value(),
            prop::option::of(attribute_value()),
        ),
        (
            prop::option::of(any::<bool>()),
            prop::option::of(same_site),
            prop::option::of(any::<bool>()),
            prop::option::of(priority),
        ),
    )
        .prop_map(
            |(
                (original_max_age, expires),
                (http_only, path, domain),
                (secure, same_site, partitioned, priority),
            )| CookieMeta {
                original_max_age,
                expires,
                http_only,
                path,
                domain,
                secure,
                same_site,
                partitioned,
                priority,
            },
        )
}

/// Fields as the layer keeps them: any key but the runtime's own.
fn fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    let key = text().prop_filter("the runtime's own keys", |k| {
        !matches!(k.as_str(), "cookie" | "__lastAccess" | "__created")
    });
    prop::collection::vec((key, json_value()), 0..6)
}

/// Keys for the memory store's merge: from a small pool, so that stored
/// fields, changes and flash values meet, or any text but the runtime's own.
fn merge_key() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec!["a", "b", "c", "é\"\\\n"]).prop_map(str::to_owned),
        text().prop_filter("the runtime's own keys", |k| {
            !matches!(k.as_str(), "cookie" | "__lastAccess" | "__created")
        }),
    ]
}

/// Text with the characters a JSON string escapes, and others.
fn escapable() -> impl Strategy<Value = String> {
    let special = select(vec!['"', '\\', '\n', '\u{1f}', '\u{7f}', '\u{0}', 'é', 'a']);
    prop::collection::vec(prop_oneof![any::<char>(), special], 0..10).prop_map(String::from_iter)
}

fn record(meta: CookieMeta, entries: &[(String, Value)], last_access: Option<u64>) -> Record {
    let mut fields = Fields::default();
    for (key, value) in entries {
        let raw = RawValue::from_string(value.to_string()).expect("a Value encodes as JSON");
        fields.set(key, raw);
    }
    Record {
        cookie: meta,
        fields,
        last_access,
        ..Record::default()
    }
}

fn field_pairs(record: &Record) -> Vec<(String, String)> {
    record
        .fields
        .iter()
        .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
        .collect()
}

/// `cookie.parse`'s decoding, written plainly: `decodeURIComponent` for a
/// value with a `%`, the raw value when an escape is malformed or the bytes
/// are not UTF-8 (where `decodeURIComponent` throws).
fn reference_decode(raw: &str) -> String {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(at) = rest.find('%') {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let hex = rest
            .get(at + 1..at + 3)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
            return raw.to_owned();
        };
        out.push(byte);
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest.as_bytes());
    String::from_utf8(out).unwrap_or_else(|_| raw.to_owned())
}

/// Whether a `Set-Cookie` value is one cookie with attributes this crate writes.
fn is_well_formed_set_cookie(header: &str) -> bool {
    let mut parts = header.split("; ");
    let first_is_pair = parts.next().is_some_and(|pair| pair.contains('='));
    let known = [
        "Domain=",
        "Path=",
        "Expires=",
        "HttpOnly",
        "Secure",
        "Partitioned",
        "Priority=",
        "SameSite=",
    ];
    first_is_pair
        && header.bytes().all(|b| (0x20..0x7f).contains(&b))
        && parts.all(|attribute| known.iter().any(|k| attribute.starts_with(k)))
        && header.matches(';').count() == header.matches("; ").count()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_cookie_header_is_read_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        name in "[a-z.]{0,12}",
        max_length in 0usize..2048,
        secrets in secrets(),
    ) {
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let mut map = HeaderMap::new();
            map.append(COOKIE, value);
            let secrets = Secrets::try_new(secrets).expect("non-empty secrets");
            let _ = find(&map, &name);
            let _ = read_session_cookie(&map, &name, &secrets, max_length);
        }
    }

    #[test]
    fn find_agrees_with_the_cookie_crate(header in cookie_header()) {
        let map = cookie_headers(std::slice::from_ref(&header)).expect("a valid header value");
        let expected = ::cookie::Cookie::split_parse(header.as_str())
            .flatten()
            .find(|cookie| cookie.name() == "sid")
            .map(|cookie| cookie.value_trimmed().to_owned());
        let ours = find(&map, "sid").map(|raw| String::from_utf8_lossy(raw).into_owned());
        prop_assert_eq!(ours, expected, "{:?}", header);
    }

    #[test]
    fn the_first_header_with_the_cookie_wins(first in cookie_header(), second in cookie_header()) {
        let both = cookie_headers(&[first.clone(), second.clone()]).expect("valid header values");
        let one = |header: &String| {
            let map = cookie_headers(std::slice::from_ref(header)).expect("a valid header value");
            find(&map, "sid").map(<[u8]>::to_vec)
        };
        let expected = one(&first).or_else(|| one(&second));
        prop_assert_eq!(find(&both, "sid").map(<[u8]>::to_vec), expected);
    }

    #[test]
    fn a_signed_id_is_read_back_from_its_set_cookie(
        id in session_id(),
        secrets in secrets(),
        before in "[a-z]{1,5}=[a-z0-9%]{0,8}",
        after in "[a-z]{1,5}=[a-z0-9%]{0,8}",
    ) {
        let secrets = Secrets::try_new(secrets).expect("non-empty secrets");
        let set_cookie = cookie::set_cookie("connect.sid", &secrets.sign(&id), &CookieMeta::default());
        let pair = set_cookie.split("; ").next().expect("a name=value pair");
        let map = cookie_headers(&[format!("{before}; {pair}; {after}")]).expect("a valid header value");
        let expected = SessionCookie::Verified(SessionId::parse(&id).expect("a valid id"));
        prop_assert_eq!(read_session_cookie(&map, "connect.sid", &secrets, 1024), expected);
    }

    #[test]
    fn sign_then_unsign_gives_the_id_back(id in session_id(), keys in secrets(), signer in 0usize..4) {
        let all = Secrets::try_new(&keys).expect("non-empty secrets");
        let signed = all.sign(&id);
        prop_assert_eq!(all.unsign(&signed), Some(id.as_str()));
        // Signed with any one of them (a rotated-out secret), verified by the list.
        let one = Secrets::try_new([&keys[signer % keys.len()]]).expect("a non-empty secret");
        let signed = one.sign(&id);
        prop_assert_eq!(all.unsign(&signed), Some(id.as_str()));
    }

    #[test]
    fn a_changed_signature_is_rejected(id in session_id(), keys in secrets(), at in 0usize..43, by in 1u8..64) {
        let secrets = Secrets::try_new(&keys).expect("non-empty secrets");
        let signed = secrets.sign(&id);
        const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bytes = signed.into_bytes();
        let index = bytes.len() - 43 + at;
        let old = BASE64.iter().position(|&c| c == bytes[index]).expect("a base64 digit");
        bytes[index] = BASE64[(old + usize::from(by)) % 64];
        let tampered = String::from_utf8(bytes).expect("ASCII");
        prop_assert_eq!(secrets.unsign(&tampered), None);
    }

    #[test]
    fn unsign_takes_any_text(value in any::<String>(), keys in secrets()) {
        let secrets = Secrets::try_new(keys).expect("non-empty secrets");
        let _ = secrets.unsign(&value);
        let _ = secrets.unsign(&format!("s:{value}"));
    }

    #[test]
    fn decode_is_decode_uri_component_or_the_raw_value(raw in escapes()) {
        let mut buffer: DecodeBuffer = [0; 192];
        let decoded = decode(&raw, &mut buffer);
        let expected = reference_decode(&raw);
        prop_assert_eq!(decoded.as_ref(), expected.as_str());
    }

    #[test]
    fn encode_then_decode_gives_the_text_back(text in any::<String>()) {
        let mut encoded = String::new();
        encode_uri_component(&text, &mut encoded);
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
        let mut buffer: DecodeBuffer = [0; 192];
        let decoded = decode(&encoded, &mut buffer);
        prop_assert_eq!(decoded.as_ref(), text.as_str());
    }

    #[test]
    fn session_ids_are_exactly_the_safe_charset(text in any::<String>(), id in session_id()) {
        let safe = !text.is_empty()
            && text.len() <= 128
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        prop_assert_eq!(SessionId::parse(&text).is_some(), safe);
        prop_assert_eq!(SessionId::parse(&id).map(|id| id.as_str().to_owned()), Some(id));
    }

    #[test]
    fn any_text_is_decoded_as_a_record_without_panicking(text in any::<String>()) {
        let _ = Record::from_json(&text);
    }

    #[test]
    fn a_stored_record_that_loads_saves_and_reloads_the_same(text in stored_record()) {
        if let Ok(record) = Record::from_json(&text) {
            let saved = record.to_json();
            let reloaded = Record::from_json(&saved).expect("what to_json writes loads");
            prop_assert_eq!(&reloaded.cookie, &record.cookie);
            prop_assert_eq!(reloaded.to_json(), saved);
            // Whatever the file said, the cookie written for it is one
            // cookie with known attributes, before and after a touch.
            let mut touched = record.cookie.clone();
            touched.touch(time::now_ms());
            for meta in [&record.cookie, &touched] {
                let header = cookie::set_cookie("sid", "s:id.sig", meta);
                prop_assert!(is_well_formed_set_cookie(&header), "{}", header);
                let header = cookie::clear_cookie("sid", meta);
                prop_assert!(is_well_formed_set_cookie(&header), "{}", header);
            }
        }
    }

    #[test]
    fn a_record_round_trips_through_its_json(
        meta in cookie_meta(),
        entries in fields(),
        last_access in prop::option::of(millis()),
    ) {
        let record = record(meta, &entries, last_access);
        let reloaded = Record::from_json(&record.to_json()).expect("what to_json writes loads");
        // Times past a JavaScript Date's range are stored as its end.
        let mut expected = record.cookie.clone();
        expected.original_max_age = expected.original_max_age.map(|ms| ms.min(MAX_MS));
        expected.expires = expected.expires.map(|ms| ms.min(MAX_MS));
        prop_assert_eq!(&reloaded.cookie, &expected);
        prop_assert_eq!(field_pairs(&reloaded), field_pairs(&record));
        prop_assert_eq!(reloaded.last_access, record.last_access.map(|ms| ms.min(MAX_MS)));
        let distinct: BTreeMap<_, _> = entries.iter().map(|(k, _)| (k, ())).collect();
        prop_assert_eq!(reloaded.fields.len(), distinct.len());
    }

    #[test]
    fn the_memory_stores_merge_is_decode_apply_encode(
        stored in prop::collection::vec((merge_key(), json_value()), 0..5),
        next in prop::collection::vec((merge_key(), json_value()), 0..5),
        changed in prop::collection::vec(merge_key(), 0..5),
        taken in prop::collection::vec((merge_key(), any::<bool>()), 0..3),
    ) {
        let stored = record(CookieMeta::default(), &stored, None).fields_json();
        let next = record(CookieMeta::default(), &next, None);
        let current = Record::from_json(&stored).expect("what fields_json writes loads");
        let mut changed_keys: Vec<&str> = Vec::new();
        for key in &changed {
            if !changed_keys.contains(&key.as_str()) {
                changed_keys.push(key);
            }
        }
        // A flash value read as it is stored (removed) or as another (kept).
        let seen: Vec<(String, Box<RawValue>)> = taken
            .iter()
            .map(|(key, same)| {
                let raw = match current.fields.get(key) {
                    Some(value) if *same => value.to_owned(),
                    _ => RawValue::from_string("\"another\"".to_owned()).expect("JSON"),
                };
                (key.clone(), raw)
            })
            .collect();
        let taken: Vec<(&str, &RawValue)> = seen.iter().map(|(k, v)| (k.as_str(), &**v)).collect();
        let update = Update { record: &next, changed: &changed_keys, lock: None, taken: &taken };
        let mut expected = current.clone();
        update.apply_to(&mut expected);
        prop_assert_eq!(merge_fields_json(&stored, &update), Some(expected.fields_json()));
        prop_assert_eq!(merge_fields_json("[1]", &update), None);
    }

    #[test]
    fn encode_uri_component_escapes_exactly_the_reserved_bytes(text in any::<String>()) {
        let mut out = String::new();
        encode_uri_component(&text, &mut out);
        let expected: String = text
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn a_key_is_written_as_serde_json_writes_it(key in escapable()) {
        let mut out = String::from("{");
        push_json_string(&mut out, &key);
        prop_assert_eq!(out, format!("{{{}", serde_json::to_string(&key).expect("a string encodes")));
    }

    #[test]
    fn iso8601_round_trips_every_javascript_time(ms in millis()) {
        let text = iso8601(ms);
        prop_assert_eq!(parse_iso8601(&text), Some(ms.min(MAX_MS)));
        let expected_len = if ms.min(MAX_MS) > LAST_FOUR_DIGIT_YEAR_MS { 27 } else { 24 };
        prop_assert_eq!(text.len(), expected_len, "{}", text);
    }

    #[test]
    fn parse_iso8601_takes_any_text(
        text in any::<String>(),
        near in "[+-]?[0-9]{0,7}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{0,12})?)?Z?",
    ) {
        for text in [&text, &near] {
            if let Some(ms) = parse_iso8601(text) {
                prop_assert!(ms <= MAX_MS, "{}", text);
            }
        }
    }

    #[test]
    fn expires_is_the_http_date_of_the_second(ms in millis()) {
        let meta = CookieMeta { expires: Some(ms), ..CookieMeta::default() };
        let header = cookie::set_cookie("sid", "v", &meta);
        let date = header
            .split("; ")
            .find_map(|attribute| attribute.strip_prefix("Expires="))
            .expect("an Expires attribute");
        let parsed = httpdate::parse_http_date(date).expect("an HTTP date");
        let secs = parsed.duration_since(std::time::UNIX_EPOCH).expect("after the epoch").as_secs();
        prop_assert_eq!(secs, ms.min(253_402_300_799_999) / 1000);
    }
}
