//! The adversarial suite's case runner (`tests/tests/adversarial*.rs`).
//!
//! A case is one attack on one route: a name, a method and a path template, written together
//! as `"name", METHOD, "/path/{var}"` so that `adversarial_inventory.rs` can read from the
//! source which routes the suite attacks and how many distinct cases it holds. `{var}` in a
//! template is filled from the [`Arena`]'s variables (ids and tokens made at run time).
//! Requests go out with exactly the credentials the case names: no cookie jar, no redirects.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{Server, client_for};

pub const GET: Method = Method::GET;
pub const POST: Method = Method::POST;
pub const PUT: Method = Method::PUT;
pub const PATCH: Method = Method::PATCH;
pub const DELETE: Method = Method::DELETE;
pub const HEAD: Method = Method::HEAD;

/// Where the cases of one test run: the server's address, the variables templates name, and
/// the names already used (each must be unique).
#[derive(Debug)]
pub struct Arena {
    pub http: reqwest::Client,
    pub base: String,
    vars: Mutex<HashMap<&'static str, String>>,
    names: Mutex<HashSet<String>>,
}

impl Arena {
    /// An arena on `server`, with a client that keeps no cookies and follows no redirects,
    /// over HTTP/1.1 or (on a TLS server) whatever the server offers.
    pub fn new(server: &Server) -> Self {
        // A fresh connection per case: a server that answers before reading a refused body
        // closes the connection, and a pooled one would fail the next case.
        let http = client_for(server)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        Self::with_client(server, http)
    }

    pub fn with_client(server: &Server, http: reqwest::Client) -> Self {
        Self::at(server.base(), http)
    }

    /// An arena on another listener of a server (its port-80 redirect, say).
    pub fn at(base: String, http: reqwest::Client) -> Self {
        Self {
            http,
            base,
            vars: Mutex::new(HashMap::new()),
            names: Mutex::new(HashSet::new()),
        }
    }

    /// Names `value` `{name}` in later templates.
    pub fn set(&self, name: &'static str, value: impl Into<String>) {
        self.vars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, value.into());
    }

    pub fn var(&self, name: &str) -> String {
        self.vars
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no variable `{name}` is set"))
    }

    /// `template` with each `{var}` (a name of letters, digits and `_`) replaced by its value;
    /// other braces (a JSON header value) stay as they are.
    pub fn fill(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let name = rest[start + 1..]
                .split_once('}')
                .map(|(name, _)| name)
                .filter(|n| {
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            match name {
                Some(name) => {
                    out.push_str(&self.var(name));
                    rest = &rest[start + name.len() + 2..];
                }
                None => {
                    out.push('{');
                    rest = &rest[start + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn claim(&self, name: &str) {
        let fresh = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned());
        assert!(fresh, "two cases are named `{name}`");
    }

    /// A case that is not one request (a file's mode, a raw connection): `ok` must hold.
    pub fn check(&self, name: &'static str, ok: bool, detail: impl std::fmt::Display) {
        self.claim(name);
        assert!(ok, "case `{name}`: {detail}");
    }

    /// How many cases ran here.
    pub fn count(&self) -> usize {
        self.names.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>, String),
    Form(Vec<(String, String)>),
    /// Sent chunked, without a `Content-Length`.
    Chunked(Vec<u8>),
}

/// One attack: build it with [`atk`], add credentials, headers and a body, then run it with
/// [`Attack::is`].
#[derive(Debug)]
#[must_use = "an attack does nothing until `is` runs it"]
pub struct Attack {
    pub name: &'static str,
    method: Method,
    template: &'static str,
    headers: Vec<(String, String)>,
    body: Body,
}

pub fn atk(name: &'static str, method: Method, template: &'static str) -> Attack {
    Attack {
        name,
        method,
        template,
        headers: Vec::new(),
        body: Body::None,
    }
}

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

impl Attack {
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The owners' session cookie (`sv_session`, or its `__Host-` name over TLS).
    pub fn cookie(self, name: &str, value: &str) -> Self {
        self.header("cookie", format!("{name}={value}"))
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    pub fn raw(mut self, body: Vec<u8>, content_type: &str) -> Self {
        self.body = Body::Raw(body, content_type.to_owned());
        self
    }

    /// A body sent chunked, so the request carries no `Content-Length`.
    pub fn chunked(mut self, body: Vec<u8>) -> Self {
        self.body = Body::Chunked(body);
        self
    }

    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        self.body = Body::Form(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self
    }

    pub async fn send(self, arena: &Arena) -> Answer {
        arena.claim(self.name);
        let path = arena.fill(self.template);
        let mut req = arena
            .http
            .request(self.method.clone(), format!("{}{path}", arena.base));
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), arena.fill(v));
        }
        req = match self.body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(b, ct) => req.header("content-type", ct).body(b),
            Body::Form(f) => req.form(&f),
            Body::Chunked(b) => req.body(reqwest::Body::wrap_stream(futures_util::stream::iter([
                Ok::<_, std::io::Error>(b),
            ]))),
        };
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("case `{}`: {} {path}: {e}", self.name, self.method));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            bytes,
            json,
        }
    }

    /// Runs the case: the answer must be `status`, and (unless `error` is empty) a JSON error
    /// whose code is `error` and whose message says something.
    pub async fn is(self, arena: &Arena, status: u16, error: &str) -> Answer {
        let name = self.name;
        let answer = self.send(arena).await;
        assert_eq!(
            answer.status,
            status,
            "case `{name}`: got HTTP {}, want {status}: {}",
            answer.status,
            answer.text()
        );
        if !error.is_empty() {
            assert_eq!(
                answer.json["error"].as_str(),
                Some(error),
                "case `{name}`: wrong error: {}",
                answer.text()
            );
            assert!(
                answer.json["message"]
                    .as_str()
                    .is_some_and(|m| m.len() > 10),
                "case `{name}`: the error says nothing: {}",
                answer.text()
            );
        }
        answer
    }
}
