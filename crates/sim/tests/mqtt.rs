//! The simulator binary against a real mosquitto on loopback: telemetry
//! with sequence numbers, retained status and will, desired state and
//! commands over MQTT, and the connection and payload faults.

mod support;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use support::{unique, Mosquitto, SimProcess, WAIT};
use twinkit_core::wire::{self, Message};
use twinkit_core::CommandStatus;

/// A test client that keeps what it received: messages a wait skipped
/// stay available to later waits, and `log` holds everything.
struct Subscriber {
    client: Client,
    rx: mpsc::Receiver<(String, Vec<u8>)>,
    backlog: RefCell<VecDeque<(String, Vec<u8>)>>,
    log: RefCell<Vec<(String, Vec<u8>)>>,
}

impl Subscriber {
    fn connect(port: u16, filter: &str) -> Self {
        let mut options = MqttOptions::new(unique("test-sub"), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(10));
        options.set_max_packet_size(2 << 20, 2 << 20);
        let (client, mut connection) = Client::new(options, 64);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .expect("queue subscribe");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                            break;
                        }
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        Self {
            client,
            rx,
            backlog: RefCell::default(),
            log: RefCell::default(),
        }
    }

    /// The oldest publish matching `pred` not yet taken, within the
    /// bounded wait.
    fn wait_for(&self, what: &str, mut pred: impl FnMut(&str, &[u8]) -> bool) -> (String, Vec<u8>) {
        let mut backlog = self.backlog.borrow_mut();
        if let Some(i) = backlog.iter().position(|(t, p)| pred(t, p)) {
            return backlog.remove(i).expect("present");
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(message) => {
                    self.log.borrow_mut().push(message.clone());
                    if pred(&message.0, &message.1) {
                        return message;
                    }
                    backlog.push_back(message);
                }
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    fn publish(&self, topic: String, message: &Value) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, message.to_string())
            .expect("queue publish");
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}

fn decode(payload: &[u8]) -> Message {
    wire::decode_bytes(payload).expect("a valid message")
}

#[test]
fn simulator_over_mosquitto() {
    let broker = Mosquitto::start();
    let prefix = unique("t");
    let sub = Subscriber::connect(broker.port, &format!("{prefix}/#"));
    // Let the subscription reach the broker before the simulator publishes,
    // so the first records are seen.
    sub.client
        .publish(format!("{prefix}/probe"), QoS::AtLeastOnce, false, "x")
        .expect("queue probe");
    sub.wait_for("the probe", |t, _| t.ends_with("/probe"));

    let mqtt = format!("127.0.0.1:{}", broker.port);
    let sim = SimProcess::start(&[
        "--mqtt",
        &mqtt,
        "--devices",
        "3",
        "--prefix",
        &prefix,
        "--seq",
        "--interval",
        "200",
    ]);
    assert_eq!(
        sim.line("devices"),
        Some("thermostat-001 motor-002 sensor-003")
    );
    let base = |id: &str, suffix: &str| format!("{prefix}/{id}/{suffix}");

    // Status online (retained), for every device, in any order.
    let mut online = std::collections::BTreeSet::new();
    while online.len() < 3 {
        let (_, payload) = sub.wait_for("online status", |t, p| {
            t.ends_with("/status") && matches!(decode(p), Message::Status(s) if s.online)
        });
        let Message::Status(status) = decode(&payload) else {
            panic!()
        };
        online.insert(status.device_id);
    }
    assert_eq!(
        online.into_iter().collect::<Vec<_>>(),
        ["motor-002", "sensor-003", "thermostat-001"]
    );

    // Telemetry at QoS 1 with consecutive sequence numbers from 1.
    let telemetry = base("thermostat-001", "telemetry");
    let mut seqs = Vec::new();
    while seqs.len() < 5 {
        let (_, payload) = sub.wait_for("telemetry", |t, _| t == telemetry);
        let Message::Telemetry(data) = decode(&payload) else {
            panic!("not telemetry")
        };
        assert!(data.values.contains_key("temperature"));
        seqs.push(data.values["seq"].as_f64().expect("seq is a number"));
    }
    assert_eq!(seqs, [1.0, 2.0, 3.0, 4.0, 5.0]);

    // A desired setpoint comes back in reported state.
    sub.publish(
        base("thermostat-001", "desired"),
        &json!({"type": "desired", "deviceId": "thermostat-001", "desired": {"setpoint": 24.5}, "version": 1}),
    );
    let reported = base("thermostat-001", "reported");
    sub.wait_for("reported setpoint", |t, p| {
        t == reported
            && matches!(decode(p), Message::State(s) if s.reported.get("setpoint") == Some(&json!(24.5)))
    });

    // A command is acknowledged, then completed.
    let responses = base("motor-002", "commands/response");
    let command = |id: &str, name: &str, payload: Value| {
        json!({"type": "command", "commandId": id, "deviceId": "motor-002", "name": name,
               "payload": payload, "timestamp": 1, "status": "sent", "updatedAt": 1, "timeoutAt": 99})
    };
    let reply_of = |id: &'static str, status: CommandStatus| {
        let responses = responses.clone();
        move |t: &str, p: &[u8]| {
            t == responses
                && matches!(decode(p), Message::CommandResponse(r) if r.command_id == id && r.status == status)
        }
    };
    sub.publish(
        base("motor-002", "commands"),
        &command("c-1", "calibrate", json!({})),
    );
    sub.wait_for("acknowledged", reply_of("c-1", CommandStatus::Acknowledged));
    sub.wait_for("completed", reply_of("c-1", CommandStatus::Completed));
    sub.publish(
        base("motor-002", "commands"),
        &command("c-2", "selfDestruct", json!(null)),
    );
    let (_, payload) = sub.wait_for("failed", reply_of("c-2", CommandStatus::Failed));
    let Message::CommandResponse(reply) = decode(&payload) else {
        panic!()
    };
    assert!(reply.error.expect("a reason").contains("selfDestruct"));

    // A malformed payload on the telemetry topic, then valid records again.
    sub.publish(
        base("motor-002", "commands"),
        &command("c-3", "fault", json!({"kind": "malformed"})),
    );
    let motor_telemetry = base("motor-002", "telemetry");
    let (_, bad) = sub.wait_for("a malformed payload", |t, p| {
        t == motor_telemetry && wire::decode_bytes(p).is_err()
    });
    assert_eq!(
        wire::decode_bytes(&bad).unwrap_err().code(),
        "MALFORMED_JSON"
    );
    sub.wait_for("valid telemetry after it", |t, p| {
        t == motor_telemetry && wire::decode_bytes(p).is_ok()
    });

    // Dropping the connection: the broker publishes the will (offline),
    // then the device comes back online.
    sub.publish(
        base("motor-002", "commands"),
        &command(
            "c-4",
            "fault",
            json!({"kind": "dropConnection", "durationMs": 1500}),
        ),
    );
    sub.wait_for("completed drop", reply_of("c-4", CommandStatus::Completed));
    let status = base("motor-002", "status");
    sub.wait_for("offline will", |t, p| {
        t == status && matches!(decode(p), Message::Status(s) if !s.online)
    });
    sub.wait_for("online again", |t, p| {
        t == status && matches!(decode(p), Message::Status(s) if s.online)
    });
    sub.wait_for("telemetry after the outage", |t, p| {
        t == motor_telemetry && wire::decode_bytes(p).is_ok()
    });

    // Invalid desired values are refused; the device keeps its setpoint.
    sub.publish(
        base("thermostat-001", "desired"),
        &json!({"type": "desired", "deviceId": "thermostat-001", "desired": {"setpoint": 99}, "version": 2}),
    );
    sub.publish(
        base("thermostat-001", "desired"),
        &json!({"type": "desired", "deviceId": "thermostat-001", "desired": {"setpoint": 20}, "version": 3}),
    );
    sub.wait_for("setpoint 20", |t, p| {
        t == reported
            && matches!(decode(p), Message::State(s) if s.reported.get("setpoint") == Some(&json!(20.0)))
    });
    let refused_seen = sub.log.borrow().iter().any(|(t, p)| {
        *t == reported
            && matches!(decode(p), Message::State(s) if s.reported.get("setpoint") == Some(&json!(99.0)))
    });
    assert!(!refused_seen, "an out-of-range setpoint was applied");

    // Every motor record arrived exactly once, in order, across the
    // malformed payload and the dropped connection (nothing is sent while
    // offline, so the numbers have no gap).
    let seqs: Vec<f64> = sub
        .log
        .borrow()
        .iter()
        .filter(|(t, _)| *t == motor_telemetry)
        .filter_map(|(_, p)| match wire::decode_bytes(p) {
            Ok(Message::Telemetry(data)) => data.values["seq"].as_f64(),
            _ => None,
        })
        .collect();
    assert!(seqs.len() >= 10, "{seqs:?}");
    let expected: Vec<f64> = (1..=seqs.len()).map(|n| n as f64).collect();
    assert_eq!(seqs, expected);
    drop(sim);
}
