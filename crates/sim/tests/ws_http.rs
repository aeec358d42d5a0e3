//! The WebSocket JSON and HTTP servers, started in-process on loopback and
//! driven with plain native clients (tungstenite, raw HTTP/1.1).

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{header, http, WAIT};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message as Frame, WebSocket};
use twinkit_core::wire::{self, Message};
use twinkit_core::CommandStatus;
use twinkit_sim::server::{self, RunningServer, ServerOptions};
use twinkit_sim::SimOptions;

struct Server {
    running: Option<RunningServer>,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start(token: Option<&str>, interval_ms: u64) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let options = ServerOptions {
            ws: Some("127.0.0.1:0".parse().expect("addr")),
            http: Some("127.0.0.1:0".parse().expect("addr")),
            devices: 3,
            token: token.map(str::to_owned),
            sim: SimOptions {
                telemetry_interval_ms: interval_ms,
                sequence: true,
                ..SimOptions::default()
            },
            tick_ms: 20,
            ..ServerOptions::default()
        };
        let running = runtime
            .block_on(server::start(options))
            .expect("server starts");
        Self {
            running: Some(running),
            runtime,
        }
    }

    fn ws(&self) -> SocketAddr {
        self.running.as_ref().and_then(|r| r.ws_addr).expect("ws")
    }

    fn http(&self) -> SocketAddr {
        self.running
            .as_ref()
            .and_then(|r| r.http_addr)
            .expect("http")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.runtime.block_on(running.shutdown());
        }
    }
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

fn connect(addr: SocketAddr) -> Socket {
    let (socket, _) = tungstenite::connect(format!("ws://{addr}")).expect("ws connect");
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
    }
    socket
}

fn send(socket: &mut Socket, value: &Value) {
    socket
        .send(Frame::Text(value.to_string().into()))
        .expect("send");
}

/// The next message matching `pred`, within the bounded wait; `Err` when
/// the connection ended.
fn next_matching(
    socket: &mut Socket,
    what: &str,
    mut pred: impl FnMut(&Message) -> bool,
) -> Result<Message, String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Frame::Text(text)) => {
                let message = wire::decode(text.as_str()).expect("the server sends valid messages");
                if pred(&message) {
                    return Ok(message);
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("connection ended: {e}")),
        }
    }
    panic!("timed out waiting for {what}");
}

fn expect(socket: &mut Socket, what: &str, pred: impl FnMut(&Message) -> bool) -> Message {
    next_matching(socket, what, pred).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn error_code(message: &Message) -> Option<&str> {
    match message {
        Message::Error(e) => Some(&e.code),
        _ => None,
    }
}

fn command(device: &str, id: &str, name: &str, payload: Value) -> Value {
    json!({"type": "command", "commandId": id, "deviceId": device, "name": name, "payload": payload,
           "timestamp": 1, "status": "sent", "updatedAt": 1, "timeoutAt": 2})
}

#[test]
fn websocket_protocol() {
    let server = Server::start(None, 200);
    let mut ws = connect(server.ws());

    send(
        &mut ws,
        &json!({"type": "hello", "deviceId": "thermostat-001"}),
    );
    let state = expect(&mut ws, "state after hello", |m| {
        matches!(m, Message::State(_))
    });
    assert_eq!(state.device_id(), Some("thermostat-001"));
    let telemetry = expect(&mut ws, "telemetry", |m| matches!(m, Message::Telemetry(_)));
    assert_eq!(telemetry.device_id(), Some("thermostat-001"));

    // One socket, several devices.
    send(&mut ws, &json!({"type": "hello", "deviceId": "motor-002"}));
    expect(
        &mut ws,
        "motor telemetry",
        |m| matches!(m, Message::Telemetry(t) if t.device_id == "motor-002"),
    );

    // A second client of the thermostat sees the first one's edit relayed,
    // with its writer and the device's version.
    let mut other = connect(server.ws());
    send(
        &mut other,
        &json!({"type": "hello", "deviceId": "thermostat-001"}),
    );
    let Message::State(before) = expect(&mut other, "state after hello", |m| {
        matches!(m, Message::State(_))
    }) else {
        unreachable!()
    };
    send(
        &mut ws,
        &json!({"type": "desired", "deviceId": "thermostat-001", "desired": {"setpoint": 23, "mode": null}, "version": 1, "origin": "page-a"}),
    );
    for socket in [&mut ws, &mut other] {
        let Message::Desired(relayed) = expect(socket, "relayed desired", |m| {
            matches!(m, Message::Desired(_))
        }) else {
            unreachable!()
        };
        assert_eq!(relayed.origin.as_deref(), Some("page-a"));
        assert_eq!(
            relayed.desired,
            [("setpoint".to_string(), json!(23))].into()
        );
        assert!(relayed.version > before.version.unwrap());
    }
    expect(
        &mut ws,
        "reported setpoint",
        |m| matches!(m, Message::State(s) if s.reported.get("setpoint") == Some(&json!(23.0))),
    );

    send(
        &mut ws,
        &command("motor-002", "c-1", "resetWear", json!(null)),
    );
    expect(
        &mut ws,
        "acknowledged",
        |m| matches!(m, Message::CommandResponse(r) if r.command_id == "c-1" && r.status == CommandStatus::Acknowledged),
    );
    expect(
        &mut ws,
        "completed",
        |m| matches!(m, Message::CommandResponse(r) if r.command_id == "c-1" && r.status == CommandStatus::Completed),
    );

    // Bad input gets an error and the connection stays usable.
    for (input, code) in [
        ("{\"type\":\"subscribe\"}", "UNKNOWN_MESSAGE_TYPE"),
        ("{not json", "MALFORMED_JSON"),
        (
            "{\"type\":\"desired\",\"deviceId\":\"thermostat-001\",\"desired\":{\"__proto__\":1},\"version\":2}",
            "INVALID_MESSAGE",
        ),
        (
            "{\"type\":\"desired\",\"deviceId\":\"thermostat-001\",\"desired\":{\"setpoint\":99},\"version\":2}",
            "OUT_OF_RANGE",
        ),
        (
            "{\"type\":\"desired\",\"deviceId\":\"sensor-003\",\"desired\":{\"samplingRate\":500},\"version\":2}",
            "NOT_FOLLOWING",
        ),
        ("{\"type\":\"hello\",\"deviceId\":\"nobody\"}", "UNKNOWN_DEVICE"),
        ("{\"type\":\"telemetry\",\"deviceId\":\"thermostat-001\",\"timestamp\":1,\"values\":{}}", "UNEXPECTED_MESSAGE"),
    ] {
        ws.send(Frame::Text(input.into())).expect("send");
        let reply = expect(&mut ws, code, |m| error_code(m).is_some());
        assert_eq!(error_code(&reply), Some(code), "{input}: {reply:?}");
    }
    send(&mut ws, &json!({"type": "ping", "timestamp": 42}));
    let pong = expect(&mut ws, "pong", |m| matches!(m, Message::Pong(_)));
    assert!(matches!(pong, Message::Pong(h) if h.timestamp == Some(42)));

    // A malformed payload fault reaches the socket as a broken frame.
    send(
        &mut ws,
        &command("motor-002", "c-2", "fault", json!({"kind": "malformed"})),
    );
    let deadline = Instant::now() + WAIT;
    let mut saw_malformed = false;
    while !saw_malformed && Instant::now() < deadline {
        if let Ok(Frame::Text(text)) = ws.read() {
            saw_malformed = wire::decode(text.as_str()).is_err();
        }
    }
    assert!(saw_malformed, "no malformed frame");

    // Dropping the connection: the socket ends without a close frame, and
    // the device refuses a hello until it is back.
    send(
        &mut ws,
        &command(
            "motor-002",
            "c-3",
            "fault",
            json!({"kind": "dropConnection", "durationMs": 1000}),
        ),
    );
    let ended = next_matching(&mut ws, "the end of the connection", |_| false);
    assert!(ended.is_err());
    let mut again = connect(server.ws());
    send(
        &mut again,
        &json!({"type": "hello", "deviceId": "motor-002"}),
    );
    let reply = expect(&mut again, "offline", |m| error_code(m).is_some());
    assert_eq!(error_code(&reply), Some("DEVICE_OFFLINE"));
    std::thread::sleep(Duration::from_millis(1_100));
    send(
        &mut again,
        &json!({"type": "hello", "deviceId": "motor-002"}),
    );
    expect(&mut again, "state when back", |m| {
        matches!(m, Message::State(_))
    });
}

#[test]
fn websocket_and_http_tokens() {
    let secret = "s3cret-token";
    let server = Server::start(Some(secret), 200);
    let mut ws = connect(server.ws());
    send(
        &mut ws,
        &json!({"type": "hello", "deviceId": "motor-002", "token": "wrong"}),
    );
    let reply = expect(&mut ws, "unauthorized", |m| error_code(m).is_some());
    assert_eq!(error_code(&reply), Some("UNAUTHORIZED"));
    assert!(!format!("{reply:?}").contains("wrong"));
    send(
        &mut ws,
        &json!({"type": "hello", "deviceId": "motor-002", "token": secret}),
    );
    let state = expect(&mut ws, "state", |m| matches!(m, Message::State(_)));
    assert!(!state.encode().contains(secret));

    let (status, headers, body) = http(server.http(), "GET", "/devices/motor-002/state", &[], b"");
    assert_eq!(status, 401);
    assert_eq!(header(&headers, "www-authenticate"), Some("Bearer"));
    assert!(!String::from_utf8_lossy(&body).contains(secret));
    let bearer = format!("Bearer {secret}");
    let (status, _, _) = http(
        server.http(),
        "GET",
        "/devices/motor-002/state",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(status, 200);
}

fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[test]
fn http_rest_shape() {
    // A long interval keeps the state version still between requests.
    let server = Server::start(None, 60_000);
    let addr = server.http();
    std::thread::sleep(Duration::from_millis(100));

    let (status, headers, body) = http(addr, "GET", "/devices/thermostat-001/state", &[], b"");
    assert_eq!(status, 200);
    let state = body_json(&body);
    let etag = header(&headers, "etag").expect("an ETag").to_owned();
    assert_eq!(etag, format!("\"{}\"", state["version"]));
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert!(state["reported"]["temperature"].is_number());
    let (status, _, body) = http(
        addr,
        "GET",
        "/devices/thermostat-001/state",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(status, 304);
    assert!(body.is_empty());

    // Desired: accepted, pending, then reported; relayed to WebSocket
    // clients of the device like their own edits, with no writer named.
    let mut follower = connect(server.ws());
    send(
        &mut follower,
        &json!({"type": "hello", "deviceId": "thermostat-001"}),
    );
    expect(&mut follower, "state after hello", |m| {
        matches!(m, Message::State(_))
    });
    let (status, _, body) = http(
        addr,
        "POST",
        "/devices/thermostat-001/desired",
        &[("Content-Type", "application/json")],
        br#"{"desired":{"setpoint":25}}"#,
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let accepted = body_json(&body)["version"].as_u64().expect("a version");
    assert!(accepted > 0);
    let Message::Desired(relayed) = expect(&mut follower, "relayed desired", |m| {
        matches!(m, Message::Desired(_))
    }) else {
        unreachable!()
    };
    assert_eq!(relayed.origin, None);
    assert_eq!(relayed.version, accepted);
    assert_eq!(
        relayed.desired,
        [("setpoint".to_string(), json!(25))].into()
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, _, body) = http(addr, "GET", "/devices/thermostat-001/state", &[], b"");
        let state = body_json(&body);
        if state["reported"]["setpoint"] == json!(25.0) {
            assert_eq!(state["desired"], json!({}));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "setpoint never reported: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, _) = http(
        addr,
        "GET",
        "/devices/thermostat-001/state",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(
        status, 200,
        "the state changed, so the old ETag no longer matches"
    );

    // Commands: 202 acknowledged, then completed when queried.
    let (status, _, body) = http(
        addr,
        "POST",
        "/devices/motor-002/commands",
        &[],
        br#"{"commandId":"c-1","name":"calibrate","payload":{}}"#,
    );
    assert_eq!(status, 202);
    assert_eq!(body_json(&body)["status"], "acknowledged");
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _, body) = http(addr, "GET", "/devices/motor-002/commands/c-1", &[], b"");
        assert_eq!(status, 200);
        let reply = body_json(&body);
        if reply["status"] == "completed" {
            assert!(reply["result"]["removedOffsets"].is_object());
            break;
        }
        assert_eq!(reply["status"], "acknowledged");
        assert!(Instant::now() < deadline, "command never completed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, _, body) = http(
        addr,
        "POST",
        "/devices/motor-002/commands",
        &[],
        br#"{"commandId":"c-2","name":"launch"}"#,
    );
    let reply = body_json(&body);
    assert_eq!(reply["status"], "failed");
    assert!(reply["error"]
        .as_str()
        .expect("a reason")
        .contains("launch"));

    // Telemetry since a time.
    let (status, _, body) = http(
        addr,
        "GET",
        "/devices/sensor-003/telemetry?since=0",
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let page = body_json(&body);
    assert_eq!(page["records"].as_array().expect("records").len(), 1);
    assert_eq!(page["records"][0]["values"]["seq"], json!(1.0));
    let next = page["next"].as_u64().expect("next");
    let (_, _, body) = http(
        addr,
        "GET",
        &format!("/devices/sensor-003/telemetry?since={next}"),
        &[],
        b"",
    );
    assert_eq!(body_json(&body)["records"], json!([]));

    // Errors, each with a JSON body naming the problem.
    let big = vec![b'x'; wire::MAX_MESSAGE_BYTES + 10];
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        (
            "GET",
            "/devices/nobody/state".into(),
            vec![],
            404,
            "NOT_FOUND",
        ),
        (
            "GET",
            "/devices/motor-002/commands/unknown".into(),
            vec![],
            404,
            "NOT_FOUND",
        ),
        ("GET", "/elsewhere".into(), vec![], 404, "NOT_FOUND"),
        (
            "DELETE",
            "/devices/motor-002/state".into(),
            vec![],
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            "GET",
            "/devices/motor-002/telemetry?since=soon".into(),
            vec![],
            400,
            "BAD_REQUEST",
        ),
        (
            "POST",
            "/devices/motor-002/desired".into(),
            b"{".to_vec(),
            400,
            "MALFORMED_JSON",
        ),
        (
            "POST",
            "/devices/motor-002/desired".into(),
            br#"{"desired":{"constructor":{}}}"#.to_vec(),
            400,
            "INVALID_MESSAGE",
        ),
        (
            "POST",
            "/devices/motor-002/desired".into(),
            br#"{"desired":{"speed":500}}"#.to_vec(),
            422,
            "OUT_OF_RANGE",
        ),
        (
            "POST",
            "/devices/motor-002/desired".into(),
            br#"{"desired":{"vibration":1}}"#.to_vec(),
            422,
            "NOT_WRITABLE",
        ),
        (
            "POST",
            "/devices/motor-002/commands".into(),
            br#"{"name":"reboot"}"#.to_vec(),
            400,
            "INVALID_MESSAGE",
        ),
        (
            "POST",
            "/devices/motor-002/desired".into(),
            big,
            413,
            "MESSAGE_TOO_LARGE",
        ),
    ];
    for (method, target, body, expected, code) in cases {
        let (status, headers, reply) = http(addr, method, &target, &[], &body);
        assert_eq!(status, expected, "{method} {target}");
        let reply = body_json(&reply);
        assert_eq!(reply["error"]["code"], code, "{method} {target}: {reply}");
        if status == 405 {
            assert_eq!(header(&headers, "allow"), Some("GET"));
        }
    }
    // The refused values changed nothing.
    let (_, _, body) = http(addr, "GET", "/devices/motor-002/state", &[], b"");
    assert_eq!(body_json(&body)["desired"], json!({}));

    // CORS preflight for a dashboard on another origin.
    let (status, headers, _) = http(
        addr,
        "OPTIONS",
        "/devices/motor-002/desired",
        &[
            ("Origin", "http://127.0.0.1:8080"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(status, 204);
    assert!(header(&headers, "access-control-allow-headers")
        .is_some_and(|h| h.contains("If-None-Match")));

    // A dropped device answers 503 until it is back.
    let (status, _, _) = http(
        addr,
        "POST",
        "/devices/sensor-003/commands",
        &[],
        br#"{"commandId":"d","name":"fault","payload":{"kind":"dropConnection","durationMs":800}}"#,
    );
    assert_eq!(status, 202);
    let (status, _, body) = http(addr, "GET", "/devices/sensor-003/state", &[], b"");
    assert_eq!(status, 503);
    assert_eq!(body_json(&body)["error"]["code"], "DEVICE_OFFLINE");
    std::thread::sleep(Duration::from_millis(900));
    let (status, _, _) = http(addr, "GET", "/devices/sensor-003/state", &[], b"");
    assert_eq!(status, 200);
}
