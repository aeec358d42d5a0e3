//! The `http` connection type: one polling client per twin
//! ([`HttpLink`], sans-io) with its requests made by `fetch` (gloo-net),
//! its own timer, page listeners and reconnect schedule.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use gloo_net::http::{Request, RequestBuilder};
use twinkit_core::http_link::{HttpLink, HttpRequest, HttpResponse};
use twinkit_core::link::{display_url, LinkEvent};
use twinkit_core::reconnect::Reconnector;
use twinkit_core::{Millis, Outbound};

use crate::hub::{connect_failed, ingest};
use crate::now;
use crate::page::{is_online, PageEvent, PageWatch};
use crate::timer::Timer;
use crate::twin::{Twin, WeakTwin};

pub(crate) struct HttpHost {
    twin: WeakTwin,
    base: String,
    safe_url: String,
    /// `Authorization` header value; never printed.
    authorization: Option<String>,
    link: RefCell<HttpLink>,
    reconnect: RefCell<Reconnector>,
    up: Cell<bool>,
    timer: OnceCell<Timer>,
    page: OnceCell<PageWatch>,
}

impl std::fmt::Debug for HttpHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHost")
            .field("url", &self.safe_url)
            .field("up", &self.up.get())
            .finish()
    }
}

/// `Basic` with a user name, `Bearer` with a password (token) alone.
fn authorization(username: Option<&str>, password: Option<&str>) -> Option<String> {
    match (username, password) {
        (Some(user), Some(password)) => Some(format!(
            "Basic {}",
            base64(format!("{user}:{password}").as_bytes())
        )),
        (None, Some(token)) => Some(format!("Bearer {token}")),
        _ => None,
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl HttpHost {
    pub(crate) fn new(twin: &Twin) -> Option<Rc<HttpHost>> {
        let core = twin.core();
        let config = core.config().connection_config.clone()?;
        let interval = core.config().telemetry_interval_ms();
        Some(Rc::new(HttpHost {
            twin: twin.downgrade(),
            base: config.url.trim_end_matches('/').to_string(),
            safe_url: display_url(&config.url),
            authorization: authorization(config.username.as_deref(), config.password.as_deref()),
            link: RefCell::new(HttpLink::new(core.id(), interval)),
            reconnect: RefCell::new(Reconnector::from_config(&config)),
            up: Cell::new(false),
            timer: OnceCell::new(),
            page: OnceCell::new(),
        }))
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.get()
    }

    pub(crate) fn start(self: &Rc<Self>) {
        let now = now();
        if !is_online() {
            self.reconnect.borrow_mut().handle_offline();
        }
        self.reconnect.borrow_mut().start(now);
        self.page.get_or_init(|| {
            let weak = Rc::downgrade(self);
            PageWatch::new(Rc::new(move |event| {
                if let Some(host) = weak.upgrade() {
                    let now = crate::now();
                    {
                        let mut reconnect = host.reconnect.borrow_mut();
                        match event {
                            PageEvent::Online => reconnect.handle_online(now),
                            PageEvent::Offline => reconnect.handle_offline(),
                            PageEvent::Visible => reconnect.handle_visible(now),
                        }
                    }
                    host.drive(now);
                }
            }))
        });
        self.drive(now);
    }

    pub(crate) fn stop(&self) {
        self.link.borrow_mut().stop();
        self.reconnect.borrow_mut().stop();
        self.up.set(false);
        if let Some(timer) = self.timer.get() {
            timer.cancel();
        }
    }

    pub(crate) fn send(self: &Rc<Self>, outbound: Outbound) -> Result<(), String> {
        let now = now();
        let sent = self.link.borrow_mut().send(outbound, now);
        self.drive(now);
        sent
    }

    fn drive(self: &Rc<Self>, now: Millis) {
        if self.reconnect.borrow_mut().poll_dial(now) {
            self.link.borrow_mut().start(now);
        }
        loop {
            let request = self.link.borrow_mut().poll_request(now);
            let Some(request) = request else { break };
            self.perform(request);
        }
        loop {
            let event = self.link.borrow_mut().poll_event();
            let Some(event) = event else { break };
            self.handle(event, now);
        }
        let deadline = [
            self.reconnect.borrow().poll_timeout(),
            self.link.borrow().poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(deadline) = deadline {
            let weak = Rc::downgrade(self);
            let timer = self.timer.get_or_init(|| {
                Timer::new(move || {
                    if let Some(host) = weak.upgrade() {
                        if let Some(timer) = host.timer.get() {
                            timer.fired();
                        }
                        host.drive(crate::now());
                    }
                })
            });
            timer.arm(deadline, now);
        }
    }

    fn handle(self: &Rc<Self>, event: LinkEvent, now: Millis) {
        let Some(twin) = self.twin.upgrade() else {
            return;
        };
        match event {
            LinkEvent::Up => {
                self.up.set(true);
                self.reconnect.borrow_mut().handle_up();
                let _ = twin.update(|core, now| core.handle_connected(now));
            }
            LinkEvent::Down { reason } => {
                let was_up = self.up.replace(false);
                let next = self
                    .reconnect
                    .borrow_mut()
                    .handle_down(now, js_sys::Math::random());
                if was_up {
                    let _ = twin.update(|core, now| core.handle_disconnected(Some(&reason), now));
                } else {
                    connect_failed(&[twin], &self.safe_url, &reason, next, now);
                }
            }
            LinkEvent::Inbound { inbound, .. } => ingest(&twin, inbound),
            LinkEvent::Rejected { code, message, .. } => {
                let _ = twin.update(|core, now| core.report_error(&code, &message, now));
            }
            _ => {}
        }
    }

    fn perform(self: &Rc<Self>, request: HttpRequest) {
        let url = format!("{}{}", self.base, request.target);
        let safe = self.safe_url.clone();
        let authorization = self.authorization.clone();
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let result = fetch(&url, &safe, authorization.as_deref(), &request).await;
            if let Some(host) = weak.upgrade() {
                let now = crate::now();
                host.link
                    .borrow_mut()
                    .handle_response(request.id, result, now);
                host.drive(now);
            }
        });
    }
}

async fn fetch(
    url: &str,
    safe_url: &str,
    authorization: Option<&str>,
    request: &HttpRequest,
) -> Result<HttpResponse, String> {
    let failed = || format!("request to {safe_url} failed");
    let mut builder: RequestBuilder = match request.method {
        "POST" => Request::post(url),
        _ => Request::get(url),
    }
    // The link does its own conditional requests (If-None-Match, 304).
    // Through the HTTP cache, Chrome holds a request for a URL while an
    // earlier one for it is in flight (its cache lock, up to 20 s).
    .cache(web_sys::RequestCache::NoStore);
    if let Some(tag) = &request.if_none_match {
        builder = builder.header("If-None-Match", tag);
    }
    if let Some(authorization) = authorization {
        builder = builder.header("Authorization", authorization);
    }
    let sent = match &request.body {
        Some(body) => {
            builder
                .header("Content-Type", "application/json")
                .body(body.clone())
                .map_err(|_| failed())?
                .send()
                .await
        }
        None => builder.send().await,
    };
    let response = sent.map_err(|_| failed())?;
    let status = response.status();
    let etag = response.headers().get("etag");
    let body = response.binary().await.map_err(|_| failed())?;
    Ok(HttpResponse { status, etag, body })
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(super::base64(input.as_bytes()), expected);
        }
    }
}
