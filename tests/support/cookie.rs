//! Cookie values as express-session writes and reads them, computed without
//! the runtime.

/// express-session's cookie value (`s:<id>.<mac>`, percent-encoded) for `id`,
/// computed with hmac/sha2/base64 directly rather than through the runtime.
pub fn signed_value(secret: &[u8], id: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(id.as_bytes());
    let tag = base64::engine::general_purpose::STANDARD_NO_PAD.encode(mac.finalize().into_bytes());
    format!("s:{id}.{tag}")
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace('+', "%2B")
        .replace('/', "%2F")
}

/// The `name=value` a browser sends back for a `Set-Cookie` value.
pub fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().trim()
}

/// The session id in a signed session cookie's `Set-Cookie`, as
/// express-session's tests read it.
pub fn sid_of(set_cookie: &str) -> Option<String> {
    let value = cookie_pair(set_cookie).split_once('=')?.1;
    let decoded = value.replace("%3A", ":");
    let signed = decoded.strip_prefix("s:")?;
    Some(signed[..signed.rfind('.')?].to_owned())
}

/// The `Expires` attribute of a `Set-Cookie` value.
pub fn expires_attr(set_cookie: &str) -> Option<&str> {
    set_cookie
        .split("; ")
        .find_map(|attr| attr.strip_prefix("Expires="))
}
