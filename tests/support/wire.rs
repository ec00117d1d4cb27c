//! HTTP/1.1 over a real TCP socket, for what only the wire shows (framing,
//! `Date`, when the head leaves) and for servers in other processes. One
//! request per connection (`Connection: close`); the response is parsed into
//! the same [`Reply`] the in-process client returns, chunked bodies decoded.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Reply;

/// How long a connect or a whole response may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on a real socket on 127.0.0.1; returns its address.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// `method path` with an empty body and an optional `Cookie` header.
pub async fn request(addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>) -> Reply {
    let stream = open(addr, method, path, cookie, "Content-Length: 0").await;
    read_reply(stream, addr).await
}

/// `POST path` with the form `body` (`application/x-www-form-urlencoded`,
/// already encoded) and an optional `Cookie` header.
pub async fn post_form(addr: SocketAddr, path: &str, cookie: Option<&str>, body: &str) -> Reply {
    let framing = format!(
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}",
        body.len()
    );
    let mut stream = open(addr, "POST", path, cookie, &framing).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    read_reply(stream, addr).await
}

/// `POST path` whose body is sent chunked, each chunk after its delay in
/// milliseconds: a request that arrives in pieces over time.
pub async fn request_chunked(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    chunks: &[(&str, u64)],
) -> Reply {
    let mut stream = open(addr, "POST", path, cookie, "Transfer-Encoding: chunked").await;
    for (chunk, delay_ms) in chunks {
        tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        stream.write_all(framed.as_bytes()).await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    read_reply(stream, addr).await
}

/// Connects and sends a request head with `framing`, the body's header lines
/// (`Content-Length: 0`, `Transfer-Encoding: chunked`, or a `Content-Type`
/// and a length); the caller sends the body and reads.
pub async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    framing: &str,
) -> TcpStream {
    let mut stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .unwrap_or_else(|_| panic!("no connection to {addr} within {TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{framing}\r\n");
    if let Some(cookie) = cookie {
        head.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn read_reply(mut stream: TcpStream, addr: SocketAddr) -> Reply {
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("no response from {addr} within {TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("reading the response from {addr}: {e}"));
    parse(&String::from_utf8_lossy(&raw))
}

fn parse(text: &str) -> Reply {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("malformed response: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("malformed status line: {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("malformed header line: {line:?}"));
        headers.append(
            HeaderName::try_from(name.trim()).unwrap(),
            HeaderValue::try_from(value.trim()).unwrap(),
        );
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.to_str().unwrap().contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
