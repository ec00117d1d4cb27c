//! The in-process client: requests go through a `Router` with `oneshot`,
//! no socket, and the session cookie is kept like a browser keeps it.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use tower::ServiceExt;

use super::cookie::{cookie_pair, sid_of};

/// A response, read whole (in process, or off a socket by [`super::wire`]).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    pub fn set_cookie(&self) -> Option<String> {
        let all = self.set_cookies();
        assert!(all.len() <= 1, "more than one Set-Cookie: {all:?}");
        all.into_iter().next()
    }

    /// The session id in the response's Set-Cookie, as express-session's tests read it.
    pub fn sid(&self) -> Option<String> {
        sid_of(&self.set_cookie()?)
    }

    /// The value of header `name`, if there is one.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body {:?} is not JSON: {e}", self.body))
    }
}

/// Sends requests to a router in-process, keeping the session cookie like a browser.
pub struct Client {
    router: Router,
    /// `name=value` of the current cookie.
    pub cookie: Option<String>,
}

impl Client {
    pub fn new(router: Router) -> Self {
        Client {
            router,
            cookie: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.request("GET", path).await
    }

    pub async fn post(&mut self, path: &str) -> Reply {
        self.request("POST", path).await
    }

    pub async fn request(&mut self, method: &str, path: &str) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        let reply = send(&self.router, builder.body(Body::empty()).unwrap()).await;
        if let Some(set) = reply.set_cookies().last() {
            let expired = set.contains("Expires=Thu, 01 Jan 1970");
            self.cookie = (!expired).then(|| cookie_pair(set).to_owned());
        }
        reply
    }
}

/// One GET through the router, with extra request headers.
pub async fn get_with(router: &Router, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut builder = Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(router, builder.body(Body::empty()).unwrap()).await
}

/// One GET through the router, with the given `Cookie` header.
pub async fn get_with_cookie(router: &Router, path: &str, cookie: &str) -> Reply {
    get_with(router, path, &[("cookie", cookie)]).await
}

pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}
