//! The one clock of the tests: the wall clock in express's units
//! (milliseconds since the epoch), and HTTP dates in seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Seconds since the epoch of an HTTP date (`Thu, 15 Jan 2026 12:00:00 GMT`).
pub fn http_date_secs(text: &str) -> i64 {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let day: i64 = parts[1].parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .unwrap() as i64
        + 1;
    let year: i64 = parts[3].parse().unwrap();
    let hms: Vec<i64> = parts[4].split(':').map(|p| p.parse().unwrap()).collect();
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + day - 1 - 719_468;
    days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

/// Seconds between a `Set-Cookie`'s `Expires` and now.
pub fn expires_in_secs(set_cookie: &str) -> i64 {
    let expires =
        super::expires_attr(set_cookie).unwrap_or_else(|| panic!("no Expires: {set_cookie}"));
    http_date_secs(expires) - (now_ms() / 1000) as i64
}
