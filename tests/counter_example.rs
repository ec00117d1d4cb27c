//! The counter example as a user runs it: a real process on a real port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/counter`, which `scripts/test.sh` builds with
/// `cargo build --examples` before the tests. (Cargo cannot be run from inside a
/// test: the running `cargo test` holds the build directory's lock; and
/// `cargo test --all-targets` builds examples as test harnesses, not as programs.)
fn counter_binary() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join("counter");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --examples` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A running example, killed on drop.
struct Server {
    child: Child,
    address: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(configure: impl FnOnce(&mut Command)) -> Server {
    let mut command = Command::new(counter_binary());
    command
        .env_remove("PORT")
        .env_remove("HOST")
        .env_remove("SESSION_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .unwrap_or_else(|| panic!("no http:// line on stdout: {line:?}"))
        .trim()
        .to_owned();
    Server {
        child,
        address,
        stderr,
    }
}

/// (status line, header lines, body)
fn request(
    address: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
) -> (String, Vec<String>, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n{cookie}\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_owned();
    (status, lines.map(str::to_owned).collect(), body.to_owned())
}

/// The value of the first header called `name` (case-insensitive).
fn header(headers: &[String], name: &str) -> Option<String> {
    headers.iter().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

fn set_cookie(headers: &[String]) -> Option<String> {
    header(headers, "set-cookie")
}

#[test]
fn counter_contract_over_the_port_from_env() {
    let port = free_port();
    let server = start(|c| {
        c.env("PORT", port.to_string()).arg("1"); // PORT wins over the positional argument
    });
    assert_eq!(server.address, format!("127.0.0.1:{port}"));

    let (status, headers, body) = request(&server.address, "GET", "/", None);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        header(&headers, "content-type").as_deref(),
        Some("application/json")
    );
    assert!(body.contains("\"count\": 1"), "{body}");
    let cookie = set_cookie(&headers).expect("the first visit sets the cookie");
    assert!(cookie.starts_with("_es_demo=s%3A"), "{cookie}");
    assert!(
        cookie.ends_with("; Path=/; HttpOnly"),
        "browser-session cookie: {cookie}"
    );
}

#[test]
fn counter_contract_with_cookie_peek_and_logout() {
    let port = free_port();
    let server = start(|c| {
        c.arg(port.to_string());
    });
    assert_eq!(
        server.address,
        format!("127.0.0.1:{port}"),
        "port from the first positional argument"
    );
    let (_, headers, _) = request(&server.address, "GET", "/", None);
    let cookie = set_cookie(&headers)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let (_, headers, body) = request(&server.address, "GET", "/", Some(&cookie));
    assert!(body.contains("\"count\": 2"), "{body}");
    assert_eq!(set_cookie(&headers), None);

    let (status, headers, body) = request(&server.address, "GET", "/peek", Some(&cookie));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"count\": 2"), "{body}");
    assert_eq!(set_cookie(&headers), None, "peek never sets a cookie");

    let (_, headers, body) = request(&server.address, "GET", "/peek", None);
    assert!(body.contains("\"count\": 0"), "{body}");
    assert_eq!(set_cookie(&headers), None, "peek never creates a session");

    let (status, headers, _) = request(&server.address, "POST", "/logout", Some(&cookie));
    assert_eq!(status, "HTTP/1.1 200 OK");
    let cleared = set_cookie(&headers).expect("logout clears the cookie");
    assert!(
        cleared.starts_with("_es_demo=;")
            && cleared.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        "{cleared}"
    );
    let (_, _, body) = request(&server.address, "GET", "/peek", Some(&cookie));
    assert!(
        body.contains("\"count\": 0"),
        "the session is gone from the store: {body}"
    );
}

#[test]
fn host_env_and_secret_list() {
    let port = free_port();
    let server = start(|c| {
        c.env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("SESSION_SECRET", "new,old");
    });
    let (_, headers, _) = request(&server.address, "GET", "/", None);
    assert!(set_cookie(&headers).is_some());
    drop(server);
}

#[test]
fn unset_secret_warns_on_stderr() {
    let mut server = start(|c| {
        c.arg(free_port().to_string());
    });
    let _ = server.child.kill();
    let _ = server.child.wait();
    let stderr = std::mem::replace(&mut server.stderr, std::thread::spawn(String::new));
    let text = stderr.join().unwrap();
    assert!(text.contains("SESSION_SECRET"), "{text}");
}

#[test]
fn bad_options_exit_non_zero_with_a_message() {
    for args in [
        &["--store", "redis"][..],
        &["--bogus"][..],
        &["not-a-port"][..],
    ] {
        let started = Instant::now();
        let output = Command::new(counter_binary())
            .args(args)
            .env_remove("PORT")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
