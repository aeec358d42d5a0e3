//! The HTTP REST shape, served by tiny_http on two worker threads.
//!
//! tiny_http is a small synchronous server with few dependencies: this
//! shape needs five JSON routes and no streaming, so a full async stack
//! (hyper/axum) would cost compile time for nothing. CORS is open (`*`),
//! so a dashboard on another port can poll it.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;
use tiny_http::{Header, Method, Request, Response, Server};
use twinkit_core::wire::http::{
    decode_command_request, decode_desired_request, etag, etag_matches, status_for,
    DesiredAccepted, ErrorBody, Route, MAX_BODY_BYTES,
};

use super::Shared;

const WORKERS: usize = 2;

pub(crate) struct HttpServer {
    server: Arc<Server>,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl HttpServer {
    pub fn start(addr: SocketAddr, shared: Arc<Shared>) -> std::io::Result<Self> {
        let server = Server::http(addr).map_err(std::io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|_| {
                let server = server.clone();
                let shared = shared.clone();
                let stopping = stopping.clone();
                std::thread::spawn(move || {
                    while !stopping.load(Ordering::Acquire) {
                        match server.recv() {
                            Ok(request) => respond(&shared, request),
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Ok(Self {
            server,
            stopping,
            workers,
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::Release);
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    // Names and values here are ASCII built by this module.
    Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap_or_else(|()| {
        Header::from_bytes(&b"X-Invalid"[..], &b"1"[..]).expect("ASCII header")
    })
}

fn cors(response: Response<std::io::Cursor<Vec<u8>>>) -> Response<std::io::Cursor<Vec<u8>>> {
    response
        .with_header(header("Access-Control-Allow-Origin", "*"))
        .with_header(header("Access-Control-Expose-Headers", "ETag"))
}

fn json(status: u16, body: &impl Serialize) -> Response<std::io::Cursor<Vec<u8>>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    cors(
        Response::from_data(bytes)
            .with_status_code(status)
            .with_header(header("Content-Type", "application/json")),
    )
}

fn fail(status: u16, code: &str, message: impl Into<String>) -> Response<std::io::Cursor<Vec<u8>>> {
    json(status, &ErrorBody::new(code, message))
}

fn request_header<'a>(request: &'a Request, name: &'static str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn respond(shared: &Shared, mut request: Request) {
    let response = route(shared, &mut request);
    let _ = request.respond(response);
}

fn read_body(request: &mut Request) -> Result<Vec<u8>, Response<std::io::Cursor<Vec<u8>>>> {
    let mut body = Vec::new();
    // One byte over the limit is enough to know it is too large.
    let limit = (MAX_BODY_BYTES + 1) as u64;
    request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(|e| fail(400, "BAD_REQUEST", format!("cannot read the body: {e}")))?;
    Ok(body)
}

fn route(shared: &Shared, request: &mut Request) -> Response<std::io::Cursor<Vec<u8>>> {
    if *request.method() == Method::Options {
        return cors(Response::from_data(Vec::new()).with_status_code(204))
            .with_header(header("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
            .with_header(header(
                "Access-Control-Allow-Headers",
                "Content-Type, If-None-Match, Authorization",
            ))
            .with_header(header("Access-Control-Max-Age", "600"));
    }
    let method = request.method().as_str().to_owned();
    let route = match Route::parse(&method, request.url()) {
        Ok(route) => route,
        Err(e) => {
            let mut response = fail(e.status(), e.code(), e.to_string());
            if let twinkit_core::wire::http::RouteError::MethodNotAllowed { allowed, .. } = &e {
                response = response.with_header(header("Allow", allowed));
            }
            return response;
        }
    };
    let bearer = request_header(request, "Authorization").and_then(|v| v.strip_prefix("Bearer "));
    if !shared.authorized(bearer) {
        return fail(401, "UNAUTHORIZED", "missing or invalid bearer token")
            .with_header(header("WWW-Authenticate", "Bearer"));
    }
    let device_id = route.device_id().to_owned();
    let status = shared.read_device(&device_id, |d, now| (d.is_online(now), d.version()));
    match status {
        None => return fail(404, "NOT_FOUND", format!("no device `{device_id}`")),
        Some((false, _)) => {
            return fail(
                503,
                "DEVICE_OFFLINE",
                format!("device `{device_id}` is offline"),
            )
        }
        Some(_) => {}
    }
    match route {
        Route::State { .. } => {
            let if_none_match = request_header(request, "If-None-Match").map(str::to_owned);
            let body = shared.read_device(&device_id, |d, _| d.state_body());
            let Some(body) = body else {
                return fail(404, "NOT_FOUND", format!("no device `{device_id}`"));
            };
            let tag = etag(body.version);
            if if_none_match.is_some_and(|v| etag_matches(&v, body.version)) {
                return cors(Response::from_data(Vec::new()).with_status_code(304))
                    .with_header(header("ETag", &tag));
            }
            json(200, &body)
                .with_header(header("ETag", &tag))
                .with_header(header("Cache-Control", "no-cache"))
        }
        Route::Desired { .. } => {
            let body = match read_body(request) {
                Ok(body) => body,
                Err(response) => return response,
            };
            let desired = match decode_desired_request(&body) {
                Ok(desired) => desired,
                Err(e) => return fail(status_for(&e), e.code(), e.to_string()),
            };
            match shared.with_device(&device_id, |d, now| {
                // Relayed to WebSocket clients like their own edits; an
                // HTTP client has no connection id to name.
                d.accept_desired(&desired.desired, None, None, now)
            }) {
                Some(Ok(version)) => json(202, &DesiredAccepted { version }),
                Some(Err(e)) => fail(e.http_status(), e.code(), e.to_string()),
                None => fail(404, "NOT_FOUND", format!("no device `{device_id}`")),
            }
        }
        Route::Commands { .. } => {
            let body = match read_body(request) {
                Ok(body) => body,
                Err(response) => return response,
            };
            let command = match decode_command_request(&body) {
                Ok(command) => command,
                Err(e) => return fail(status_for(&e), e.code(), e.to_string()),
            };
            let outcome = shared.with_device(&device_id, |d, now| {
                d.handle_command(&command.command_id, &command.name, &command.payload, now)
            });
            match outcome {
                Some(Ok(response)) => json(202, &response),
                Some(Err(e)) => fail(e.http_status(), e.code(), e.to_string()),
                None => fail(404, "NOT_FOUND", format!("no device `{device_id}`")),
            }
        }
        Route::Command { command_id, .. } => {
            match shared.read_device(&device_id, |d, _| d.command(&command_id).cloned()) {
                Some(Some(response)) => json(200, &response),
                _ => fail(
                    404,
                    "NOT_FOUND",
                    format!("no command `{command_id}` on `{device_id}`"),
                ),
            }
        }
        Route::Telemetry { since, limit, .. } => {
            match shared.read_device(&device_id, |d, _| d.telemetry_page(since, limit)) {
                Some(page) => json(200, &page),
                None => fail(404, "NOT_FOUND", format!("no device `{device_id}`")),
            }
        }
        _ => fail(404, "NOT_FOUND", "no such route"),
    }
}
