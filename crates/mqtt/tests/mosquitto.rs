//! MqttSession against a real mosquitto on 127.0.0.1, driven over
//! std::net::TcpStream. The test starts the broker from
//! tests/mosquitto/mosquitto.conf.template on free ports and stops it on
//! drop. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use twinkit_mqtt::{
    ConnectionState, DisconnectReason, Message, MqttEvent, MqttOptions, MqttSession,
    ProtocolVersion, QoS,
};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const WAIT: Duration = Duration::from_secs(10);
/// The broker's test account: made for each run, not a secret.
const USER: &str = "twin";
const PASSWORD: &str = "twin-test-password";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A mosquitto process with its own ports and data directory.
struct Broker {
    child: Option<Child>,
    dir: PathBuf,
    tcp_port: u16,
    auth_port: u16,
}

impl Broker {
    fn start() -> Self {
        static RUN: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "twinkit-mqtt-test-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // mosquitto started as root drops to its own user: let it write here.
        set_mode(&dir, 0o777);
        let passwd = dir.join("passwd");
        let status = Command::new("mosquitto_passwd")
            .arg("-c")
            .arg("-b")
            .arg(&passwd)
            .arg(USER)
            .arg(PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mosquitto_passwd (Debian package mosquitto, installed by scripts/setup.sh)");
        assert!(status.success());
        set_mode(&passwd, 0o644);
        let (tcp_port, ws_port, auth_port) = (free_port(), free_port(), free_port());
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/mosquitto/mosquitto.conf.template"),
        )
        .unwrap();
        let config = template
            .replace("@TCP_PORT@", &tcp_port.to_string())
            .replace("@WS_PORT@", &ws_port.to_string())
            .replace("@AUTH_PORT@", &auth_port.to_string())
            .replace("@WS_AUTH_PORT@", &free_port().to_string())
            .replace("@DATA_DIR@", dir.to_str().unwrap());
        std::fs::write(dir.join("mosquitto.conf"), config).unwrap();
        let mut broker = Self {
            child: None,
            dir,
            tcp_port,
            auth_port,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("mosquitto.log"))
            .unwrap();
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start /usr/sbin/mosquitto (installed by scripts/setup.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", self.tcp_port)).is_err()
            || TcpStream::connect(("127.0.0.1", self.auth_port)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the broker with SIGTERM (it saves its sessions) and starts it
    /// again on the same ports and data.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + WAIT;
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A session driven over a TCP socket, as the browser transport drives it
/// over a WebSocket.
struct Client {
    session: MqttSession,
    stream: Option<TcpStream>,
    events: Vec<MqttEvent>,
}

impl Client {
    fn new(options: MqttOptions) -> Self {
        Self {
            session: MqttSession::new(options).unwrap(),
            stream: None,
            events: Vec::new(),
        }
    }

    fn open(&mut self, port: u16) {
        // Events of the previous connection are not about this one.
        self.events.clear();
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        self.stream = Some(stream);
        self.session.connect(now()).unwrap();
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(bytes) = self.session.poll_transmit() {
            if let Some(stream) = self.stream.as_mut() {
                if stream.write_all(&bytes).is_err() {
                    self.closed();
                    return;
                }
            }
        }
    }

    fn closed(&mut self) {
        self.stream = None;
        self.session.handle_disconnected(now());
    }

    /// One round of I/O: read what arrived, run timers, send, collect events.
    fn turn(&mut self) {
        self.turn_late(Some(0));
    }

    /// [`Client::turn`] with the session's timers run `late` ms after their
    /// deadline, as a hidden tab's are; `None`: never (a frozen page).
    fn turn_late(&mut self, late: Option<u64>) {
        let mut buffer = [0u8; 4096];
        if let Some(stream) = self.stream.as_mut() {
            match stream.read(&mut buffer) {
                Ok(0) => self.closed(),
                Ok(n) => self.session.handle_bytes(&buffer[..n], now()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => self.closed(),
            }
        }
        let due = self.session.poll_timeout().zip(late);
        if due.is_some_and(|(deadline, late)| deadline + late <= now()) {
            self.session.handle_timeout(now());
        }
        self.flush();
        while let Some(event) = self.session.poll_event() {
            if matches!(event, MqttEvent::Disconnected { .. }) {
                self.stream = None;
            }
            self.events.push(event);
        }
    }

    /// Turns until an event matches (bounded), returning it; the events
    /// before it stay in `events`.
    fn wait_for(&mut self, what: &str, matches: impl Fn(&MqttEvent) -> bool) -> MqttEvent {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(index) = self.events.iter().position(&matches) {
                return self.events.remove(index);
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events: {:?}",
                self.events
            );
            self.turn();
        }
    }

    fn connect(&mut self, port: u16) -> bool {
        self.open(port);
        match self.wait_for("CONNACK", |e| {
            matches!(
                e,
                MqttEvent::Connected { .. } | MqttEvent::Disconnected { .. }
            )
        }) {
            MqttEvent::Connected { session_present } => session_present,
            other => panic!("not connected: {other:?}"),
        }
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.session.subscribe(filter, qos, now()).unwrap();
        self.flush();
        let event = self.wait_for("SUBACK", |e| matches!(e, MqttEvent::Subscribed { .. }));
        assert_eq!(
            event,
            MqttEvent::Subscribed {
                filter: filter.into(),
                result: Ok(qos)
            }
        );
    }

    /// Turns for a while and returns every message that arrived.
    fn drain_messages(&mut self, settle: Duration) -> Vec<Message> {
        let until = Instant::now() + settle;
        while Instant::now() < until {
            self.turn();
        }
        let mut messages = Vec::new();
        self.events.retain(|e| match e {
            MqttEvent::Message(m) => {
                messages.push(m.clone());
                false
            }
            _ => true,
        });
        messages
    }

    /// Closes the socket without DISCONNECT (as a lost network would).
    fn drop_connection(&mut self) {
        self.stream = None;
        self.session.handle_disconnected(now());
        self.turn();
    }
}

fn options(id: &str, version: ProtocolVersion) -> MqttOptions {
    MqttOptions::new(id).version(version).keep_alive_secs(30)
}

#[test]
fn publish_qos_0_1_2_round_trip_through_mosquitto() {
    let broker = Broker::start();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut sub = Client::new(options(&format!("sub-{version:?}"), version));
        let mut publisher = Client::new(options(&format!("pub-{version:?}"), version));
        assert!(!sub.connect(broker.tcp_port));
        assert!(!publisher.connect(broker.tcp_port));
        sub.subscribe("it/rt/#", QoS::ExactlyOnce);
        let mut ids = Vec::new();
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            let mut message =
                Message::new(format!("it/rt/{i}"), format!("{{\"seq\":{i}}}"), qos, false);
            if version == ProtocolVersion::V5 {
                message.properties.user_properties = vec![("seq".into(), i.to_string())];
                message.properties.content_type = Some("application/json".into());
            }
            ids.push(publisher.session.publish_message(message, now()).unwrap());
        }
        publisher.flush();
        for id in ids {
            publisher.wait_for(
                "publish completion",
                |e| matches!(e, MqttEvent::PublishCompleted { id: done, .. } if *done == id),
            );
        }
        let mut received = Vec::new();
        while received.len() < 3 {
            match sub.wait_for("messages", |e| matches!(e, MqttEvent::Message(_))) {
                MqttEvent::Message(m) => received.push(m),
                _ => unreachable!(),
            }
        }
        received.sort_by(|a, b| a.topic.cmp(&b.topic));
        for (i, message) in received.iter().enumerate() {
            assert_eq!(message.topic, format!("it/rt/{i}"));
            assert_eq!(message.payload, format!("{{\"seq\":{i}}}").into_bytes());
            assert_eq!(
                message.qos as u8, i as u8,
                "subscribed at QoS 2: delivered at the publish QoS"
            );
            if version == ProtocolVersion::V5 {
                assert_eq!(
                    message.properties.user_properties,
                    vec![("seq".into(), i.to_string())]
                );
                assert_eq!(
                    message.properties.content_type.as_deref(),
                    Some("application/json")
                );
            }
        }
        assert!(
            sub.drain_messages(Duration::from_millis(200)).is_empty(),
            "no duplicates"
        );
        sub.session.disconnect(now());
        sub.turn();
        assert_eq!(sub.session.state(), ConnectionState::Disconnected);
    }
}

#[test]
fn wrong_credentials_are_refused_with_a_clear_reason() {
    let broker = Broker::start();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut client =
            Client::new(options("auth-bad", version).credentials(USER, "not-the-password"));
        client.open(broker.auth_port);
        let event = client.wait_for("refusal", |e| matches!(e, MqttEvent::Disconnected { .. }));
        let MqttEvent::Disconnected { reason } = &event else {
            unreachable!()
        };
        assert!(reason.is_refusal(), "{reason:?}");
        let text = reason.to_string();
        // mosquitto answers 5 "not authorized" on 3.1.1 and 0x86 "bad user
        // name or password" on 5.
        match version {
            ProtocolVersion::V3_1_1 => assert!(
                matches!(reason, DisconnectReason::Refused { code: 4 | 5, .. }),
                "{text}"
            ),
            _ => assert!(
                matches!(
                    reason,
                    DisconnectReason::Refused {
                        code: 0x86 | 0x87,
                        ..
                    }
                ),
                "{text}"
            ),
        }
        assert!(
            text.starts_with("connection refused by the broker: "),
            "{text}"
        );
        assert!(!format!("{event:?} {text} {:?}", client.session).contains("not-the-password"));

        // No credentials at all on the authenticated listener: refused too.
        let mut anonymous = Client::new(options("auth-none", version));
        anonymous.open(broker.auth_port);
        let event = anonymous.wait_for("refusal", |e| matches!(e, MqttEvent::Disconnected { .. }));
        assert!(matches!(event, MqttEvent::Disconnected { reason } if reason.is_refusal()));

        let mut good = Client::new(options("auth-good", version).credentials(USER, PASSWORD));
        assert!(!good.connect(broker.auth_port));
    }
    assert!(
        !broker.log().contains(PASSWORD),
        "the broker never logs the password"
    );
}

/// A subscriber with a persistent session is offline; QoS 1 messages are
/// published for it, some while the broker is down (queued in the
/// publisher's session); mosquitto restarts from its persistence file; the
/// subscriber resumes and gets every message exactly once, in order.
#[test]
fn session_resumes_after_broker_restart_and_queued_qos1_arrive_exactly_once() {
    let mut broker = Broker::start();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        // Clean start off on the first connect too: mosquitto 2.0.11 keeps a
        // v5 session begun with clean start across reconnects but drops it
        // when it reloads its persistence file after a restart.
        let persistent = |id: &str| match version {
            ProtocolVersion::V3_1_1 => options(id, version).clean_start(false),
            _ => options(id, version)
                .clean_start(false)
                .session_expiry_secs(3600),
        };
        let topic = format!("it/persist/{version:?}");
        let mut sub = Client::new(persistent(&format!("persist-sub-{version:?}")));
        sub.connect(broker.tcp_port);
        sub.subscribe(&topic, QoS::AtLeastOnce);
        sub.drop_connection();

        let mut publisher = Client::new(persistent(&format!("persist-pub-{version:?}")));
        publisher.connect(broker.tcp_port);
        for seq in 0..5 {
            publisher
                .session
                .publish(
                    &topic,
                    format!("{{\"seq\":{seq}}}"),
                    QoS::AtLeastOnce,
                    false,
                    now(),
                )
                .unwrap();
        }
        publisher.flush();
        for _ in 0..5 {
            publisher.wait_for("PUBACK", |e| {
                matches!(e, MqttEvent::PublishCompleted { .. })
            });
        }

        // The broker goes away; the publisher keeps publishing into its queue.
        broker.stop();
        publisher.wait_for("disconnect", |e| {
            matches!(e, MqttEvent::Disconnected { .. })
        });
        for seq in 5..8 {
            publisher
                .session
                .publish(
                    &topic,
                    format!("{{\"seq\":{seq}}}"),
                    QoS::AtLeastOnce,
                    false,
                    now(),
                )
                .unwrap();
        }
        assert_eq!(publisher.session.queued(), 3);

        broker.spawn();
        assert!(
            publisher.connect(broker.tcp_port),
            "publisher session restored from persistence: {}",
            broker.log()
        );
        for _ in 5..8 {
            publisher.wait_for("PUBACK", |e| {
                matches!(e, MqttEvent::PublishCompleted { .. })
            });
        }
        broker.restart();
        publisher.drop_connection();

        assert!(
            sub.connect(broker.tcp_port),
            "subscriber session restored from persistence"
        );
        let mut seqs = Vec::new();
        let deadline = Instant::now() + WAIT;
        while seqs.len() < 8 && Instant::now() < deadline {
            for message in sub.drain_messages(Duration::from_millis(50)) {
                assert_eq!(message.topic, topic);
                let value: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                seqs.push(value["seq"].as_u64().unwrap());
            }
        }
        // Nothing more comes: each message exactly once.
        for message in sub.drain_messages(Duration::from_millis(300)) {
            let value: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            seqs.push(value["seq"].as_u64().unwrap());
        }
        assert_eq!(
            seqs,
            (0..8).collect::<Vec<_>>(),
            "{version:?}: {}",
            broker.log()
        );
    }
}

/// Keepalive 2 s: mosquitto drops a client silent for 1.5 × 2 s (checked
/// coarsely: seen after about 6 s). One client's timers all run 900 ms
/// late (just under half the keepalive, the margin the session keeps) and
/// it stays connected over several keepalives; a frozen one, whose timers
/// never run, is dropped, so the broker does enforce keepalive here. The
/// exact 1.5 × window is checked in tests/session.rs against a model.
#[test]
fn late_timers_still_ping_in_time_and_mosquitto_drops_a_silent_client() {
    let broker = Broker::start();
    let options = |id: &str| MqttOptions::new(id).keep_alive_secs(2).ping_timeout(2_000);
    let mut late = Client::new(options("late-timers"));
    let mut frozen = Client::new(options("frozen"));
    late.connect(broker.tcp_port);
    frozen.connect(broker.tcp_port);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) || frozen.stream.is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "mosquitto never dropped the frozen client\n{}",
            broker.log()
        );
        late.turn_late(Some(900));
        frozen.turn_late(None);
    }
    assert_eq!(
        late.session.state(),
        ConnectionState::Connected,
        "{:?}\n{}",
        late.events,
        broker.log()
    );
    assert!(late.events.is_empty(), "{:?}", late.events);
    assert_eq!(
        frozen.events,
        vec![MqttEvent::Disconnected {
            reason: DisconnectReason::TransportClosed
        }],
        "{}",
        broker.log()
    );
}

/// MqttLink, as the browser runtime drives it, over TCP to mosquitto: the
/// session comes up, a device's messages reach the twin's side, and no
/// turn produces an endless stream of events.
#[test]
fn mqtt_link_comes_up_and_carries_device_messages_through_mosquitto() {
    use twinkit_core::link::{Frame, Link, LinkEvent};
    use twinkit_core::ConnectionConfig;
    use twinkit_mqtt::link::MqttLink;

    let broker = Broker::start();
    let config = ConnectionConfig {
        url: "ws://127.0.0.1/".into(),
        ..ConnectionConfig::default()
    };
    let mut link = MqttLink::from_config(&config).unwrap();
    link.join("dev-1", now());
    let mut stream = TcpStream::connect(("127.0.0.1", broker.tcp_port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    link.handle_open(now());
    let mut device = Client::new(options("device-1", ProtocolVersion::V3_1_1));
    let mut up = false;
    let mut published = false;
    let mut inbound = Vec::new();
    let deadline = Instant::now() + WAIT;
    while inbound.is_empty() {
        assert!(Instant::now() < deadline, "no telemetry through the link");
        let mut turn_events = 0;
        while let Some(event) = link.poll_event() {
            turn_events += 1;
            assert!(turn_events < 1_000, "endless events: {event:?}");
            match event {
                LinkEvent::Transmit(Frame::Binary(bytes)) => stream.write_all(&bytes).unwrap(),
                LinkEvent::Up => up = true,
                LinkEvent::Inbound { inbound: i, .. } => inbound.push(i),
                other => panic!("{other:?}"),
            }
        }
        let mut buffer = [0u8; 4096];
        match stream.read(&mut buffer) {
            Ok(0) => panic!("broker closed the connection"),
            Ok(n) => link.handle_frame(Frame::Binary(buffer[..n].to_vec()), now()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        if link.poll_timeout().is_some_and(|t| t <= now()) {
            link.handle_timeout(now());
        }
        if up && !published {
            // Give the SUBSCRIBE a moment to be acknowledged.
            std::thread::sleep(Duration::from_millis(100));
            device.connect(broker.tcp_port);
            let payload =
                r#"{"type":"telemetry","deviceId":"dev-1","timestamp":5,"values":{"t":1}}"#;
            device
                .session
                .publish(
                    "twinkit/dev-1/telemetry",
                    payload,
                    QoS::AtLeastOnce,
                    false,
                    now(),
                )
                .unwrap();
            device.flush();
            published = true;
        }
        if published {
            device.turn();
        }
    }
    assert!(up);
    assert_eq!(inbound.len(), 1, "{inbound:?}");
}
