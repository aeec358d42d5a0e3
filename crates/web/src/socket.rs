//! A WebSocket that owns its handlers: binary frames as bytes, text as
//! strings, and on drop the handlers are detached and the socket closed.

use std::rc::Rc;

use js_sys::{ArrayBuffer, Uint8Array};
use twinkit_core::link::Frame;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// Largest frame accepted from the network; larger frames close the socket.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// What a socket reports.
#[derive(Debug)]
pub(crate) enum SocketEvent {
    Open,
    Frame(Frame),
    /// Closed (or failed to open); `reason` is safe to show.
    Closed {
        reason: String,
    },
}

pub(crate) struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("ready_state", &self.ws.ready_state())
            .finish()
    }
}

impl Socket {
    /// Opens `url` (with a subprotocol, if given). `safe_url` is the URL
    /// without credentials, for messages.
    pub(crate) fn open(
        url: &str,
        safe_url: &str,
        subprotocol: Option<&str>,
        handler: Rc<dyn Fn(SocketEvent)>,
    ) -> Result<Socket, String> {
        let ws = match subprotocol {
            Some(p) => WebSocket::new_with_str(url, p),
            None => WebSocket::new(url),
        }
        .map_err(|_| format!("cannot open a WebSocket to {safe_url}"))?;
        ws.set_binary_type(BinaryType::Arraybuffer);

        let h = Rc::clone(&handler);
        let on_open = Closure::<dyn FnMut()>::new(move || h(SocketEvent::Open));
        let h = Rc::clone(&handler);
        let socket = ws.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            let frame = if let Some(text) = data.as_string() {
                (text.len() <= MAX_FRAME_BYTES).then_some(Frame::Text(text))
            } else if let Ok(buffer) = data.dyn_into::<ArrayBuffer>() {
                (buffer.byte_length() as usize <= MAX_FRAME_BYTES)
                    .then(|| Frame::Binary(Uint8Array::new(&buffer).to_vec()))
            } else {
                return;
            };
            match frame {
                Some(frame) => h(SocketEvent::Frame(frame)),
                None => {
                    let _ = socket.close_with_code_and_reason(1009, "frame too large");
                }
            }
        });
        let h = Rc::clone(&handler);
        let safe = safe_url.to_string();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            let reason = match (event.code(), event.reason()) {
                (1000, _) => "connection closed".to_string(),
                (1006, _) => format!("connection to {safe} lost or refused"),
                (code, r) if r.is_empty() => format!("connection closed (code {code})"),
                (code, r) => format!(
                    "connection closed (code {code}: {})",
                    twinkit_core::limits::printable(&r)
                ),
            };
            h(SocketEvent::Closed { reason })
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    pub(crate) fn send(&self, frame: &Frame) -> Result<(), String> {
        match frame {
            Frame::Text(text) => self.ws.send_with_str(text),
            Frame::Binary(bytes) => self.ws.send_with_u8_array(bytes),
        }
        .map_err(|_| "the WebSocket refused to send".to_string())
    }
}

impl Socket {
    /// Stops reporting and closes. Safe inside the socket's own callbacks
    /// (the closures stay alive until the socket is dropped).
    pub(crate) fn detach(&self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.detach();
    }
}
