//! The WebSocket JSON protocol: one connection may follow many devices
//! (one `hello` each).

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as Frame;
use twinkit_core::wire::{self, ErrorMessage, Heartbeat, Message, MAX_MESSAGE_BYTES};

use super::Shared;
use crate::device::Output;

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, shared.clone(), stop.clone()));
                }
                Err(e) => {
                    eprintln!("twinkit-sim: ws accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

fn error(code: &str, message: String, device_id: Option<&str>) -> Message {
    Message::Error(ErrorMessage {
        device_id: device_id.map(str::to_owned),
        code: code.to_owned(),
        message,
    })
}

enum Step {
    Continue,
    Close,
    Drop,
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let Ok(socket) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut source) = socket.split();
    let mut events = shared.events.subscribe();
    let mut following: HashSet<String> = HashSet::new();
    loop {
        let mut replies = Vec::new();
        let step = tokio::select! {
            frame = source.next() => match frame {
                Some(Ok(Frame::Text(text))) => {
                    handle(&shared, wire::decode(text.as_str()), &mut following, &mut replies);
                    Step::Continue
                }
                Some(Ok(Frame::Binary(bytes))) => {
                    handle(&shared, wire::decode_bytes(&bytes), &mut following, &mut replies);
                    Step::Continue
                }
                Some(Ok(Frame::Close(_))) | None => Step::Close,
                Some(Ok(_)) => Step::Continue,
                Some(Err(e)) => {
                    // Too large or broken framing: say why, then close.
                    replies.push(error("INVALID_FRAME", e.to_string(), None));
                    Step::Close
                }
            },
            event = events.recv() => match event {
                Ok(event) if following.contains(&*event.device_id) => match event.output {
                    Output::Send(message) => {
                        replies.push(message);
                        Step::Continue
                    }
                    Output::Malformed { text } => {
                        if sink.send(Frame::Text(text.into())).await.is_err() {
                            return;
                        }
                        Step::Continue
                    }
                    Output::Disconnect { .. } => Step::Drop,
                },
                Ok(_) => Step::Continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    replies.push(error("LAGGED", format!("{n} device messages skipped: the client reads too slowly"), None));
                    Step::Continue
                }
                Err(broadcast::error::RecvError::Closed) => Step::Close,
            },
            _ = stop.changed() => Step::Close,
        };
        for reply in replies {
            if sink.send(Frame::Text(reply.encode().into())).await.is_err() {
                return;
            }
        }
        match step {
            Step::Continue => {}
            Step::Close => {
                let _ = sink.send(Frame::Close(None)).await;
                return;
            }
            // A `dropConnection` fault: no close frame, the socket just ends.
            Step::Drop => return,
        }
    }
}

fn handle(
    shared: &Shared,
    decoded: Result<Message, wire::WireError>,
    following: &mut HashSet<String>,
    replies: &mut Vec<Message>,
) {
    let message = match decoded {
        Ok(message) => message,
        Err(e) => {
            replies.push(Message::from_error(&e, None));
            return;
        }
    };
    match message {
        Message::Hello(hello) => {
            let id = hello.device_id;
            if !shared.authorized(hello.token.as_ref().map(|t| t.expose())) {
                replies.push(error(
                    "UNAUTHORIZED",
                    "missing or invalid token".into(),
                    Some(&id),
                ));
                return;
            }
            // `Some(state)` when the device is online.
            let answer =
                shared.read_device(&id, |d, now| d.is_online(now).then(|| d.state_message()));
            match answer {
                Some(Some(state)) => {
                    following.insert(id);
                    replies.push(state);
                }
                Some(None) => replies.push(error(
                    "DEVICE_OFFLINE",
                    format!("device `{id}` is offline"),
                    Some(&id),
                )),
                None => replies.push(error(
                    "UNKNOWN_DEVICE",
                    format!("no device `{id}`"),
                    Some(&id),
                )),
            }
        }
        Message::Ping(Heartbeat { timestamp }) => {
            replies.push(Message::Pong(Heartbeat { timestamp }))
        }
        Message::Pong(_) => {}
        message @ (Message::Desired(_) | Message::Command(_)) => {
            let id = message.device_id().unwrap_or_default().to_owned();
            if !following.contains(&id) {
                replies.push(error(
                    "NOT_FOLLOWING",
                    format!("send `hello` for `{id}` first"),
                    Some(&id),
                ));
                return;
            }
            let outcome = shared.with_device(&id, |d, now| d.handle(&message, now));
            match outcome {
                Some(Ok(())) => {}
                Some(Err(e)) => replies.push(error(e.code(), e.to_string(), Some(&id))),
                None => replies.push(error(
                    "UNKNOWN_DEVICE",
                    format!("no device `{id}`"),
                    Some(&id),
                )),
            }
        }
        other => {
            let id = other.device_id().map(str::to_owned);
            replies.push(error(
                "UNEXPECTED_MESSAGE",
                format!("a server does not take `{}` messages", other.type_name()),
                id.as_deref(),
            ));
        }
    }
}
