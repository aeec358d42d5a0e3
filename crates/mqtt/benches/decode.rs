//! Native benchmark: PUBLISH packets carrying a 10-property JSON telemetry
//! record, decoded by `MqttSession` and turned into twin input, each beside
//! a baseline in the same run. Entries are merged into
//! `target/bench/results.json` as `{"name": {"value", "unit", "baseline", "ratio"}}`.
//!
//! Run with `npm run bench` (or `cargo bench -p twinkit-mqtt --bench decode`).
//! Medians over several rounds; measurements, never assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use serde_json::{json, Value};
use twinkit_core::wire;
use twinkit_mqtt::topics::TopicScheme;
use twinkit_mqtt::{MqttEvent, MqttOptions, MqttSession, ProtocolVersion, QoS};

const ROUNDS: usize = 7;
const BATCH: usize = 1_000;

fn median(mut f: impl FnMut() -> f64) -> f64 {
    let mut samples: Vec<f64> = (0..ROUNDS).map(|_| f()).collect();
    samples.sort_by(f64::total_cmp);
    samples[ROUNDS / 2]
}

fn payload(i: usize) -> Vec<u8> {
    let values: BTreeMap<String, Value> = (0..10)
        .map(|p| (format!("p{p}"), json!(20.0 + ((i + p) % 13) as f64 * 0.5)))
        .collect();
    serde_json::to_vec(&json!({"type": "telemetry", "deviceId": "motor-1", "timestamp": 1_700_000_000_000u64 + i as u64, "values": values}))
        .unwrap()
}

/// A connected session (fed a CONNACK) and one buffer of `BATCH` PUBLISH
/// packets as a broker would send them.
fn setup(version: ProtocolVersion) -> (MqttSession, Vec<u8>) {
    let mut sender = MqttSession::new(MqttOptions::new("sender").version(version)).unwrap();
    sender.connect(0).unwrap();
    while sender.poll_transmit().is_some() {}
    let connack: &[u8] = match version {
        ProtocolVersion::V3_1_1 => &[0x20, 0x02, 0x00, 0x00],
        _ => &[0x20, 0x03, 0x00, 0x00, 0x00],
    };
    sender.handle_bytes(connack, 0);
    let topic = TopicScheme::default()
        .topic("motor-1", twinkit_mqtt::topics::Channel::Telemetry)
        .unwrap();
    let mut wire = Vec::new();
    for i in 0..BATCH {
        sender
            .publish(&topic, payload(i), QoS::AtMostOnce, false, 0)
            .unwrap();
        while let Some(bytes) = sender.poll_transmit() {
            wire.extend(bytes);
        }
    }
    let mut receiver = MqttSession::new(
        MqttOptions::new("receiver")
            .version(version)
            .max_packet_size(16 * 1024 * 1024),
    )
    .unwrap();
    receiver.connect(0).unwrap();
    while receiver.poll_transmit().is_some() {}
    receiver.handle_bytes(connack, 0);
    while receiver.poll_event().is_some() {}
    (receiver, wire)
}

fn main() {
    let mut results: BTreeMap<String, Value> = BTreeMap::new();
    let mut add = |name: &str, value: f64, unit: &str, baseline: f64, note: &str| {
        let ratio = value / baseline;
        println!("{name:<34} {value:>14.1} {unit:<10} baseline {baseline:>14.1}  ratio {ratio:>7.3}  ({note})");
        results.insert(
            name.to_string(),
            json!({"value": value, "unit": unit, "baseline": baseline, "ratio": ratio, "note": note}),
        );
    };
    let scheme = TopicScheme::default();

    for (version, suffix) in [
        (ProtocolVersion::V5, "v5"),
        (ProtocolVersion::V3_1_1, "v311"),
    ] {
        let (mut session, wire) = setup(version);
        let payloads: Vec<Vec<u8>> = (0..BATCH).map(payload).collect();

        // 1. MQTT decode alone: bytes in, Message events out.
        let decode = median(|| {
            let start = Instant::now();
            session.handle_bytes(&wire, 1);
            let mut n = 0;
            while let Some(event) = session.poll_event() {
                if let MqttEvent::Message(m) = event {
                    black_box(&m);
                    n += 1;
                }
            }
            assert_eq!(n, BATCH);
            BATCH as f64 / start.elapsed().as_secs_f64()
        });
        // Baseline: parsing the same JSON payloads with serde_json alone.
        let json_only = median(|| {
            let start = Instant::now();
            for p in &payloads {
                black_box(serde_json::from_slice::<Value>(p).unwrap());
            }
            BATCH as f64 / start.elapsed().as_secs_f64()
        });
        add(
            &format!("mqtt_{suffix}_publish_decode_10_props"),
            decode,
            "msg/s",
            json_only,
            "MqttSession::handle_bytes of 1,000 coalesced QoS 0 PUBLISH; baseline: serde_json::Value parse of the same payloads",
        );

        // 2. Decode into twin input: topic parse + the checked wire message.
        let to_inbound = median(|| {
            let start = Instant::now();
            session.handle_bytes(&wire, 1);
            let mut n = 0;
            while let Some(event) = session.poll_event() {
                if let MqttEvent::Message(m) = event {
                    black_box(scheme.parse(&m.topic).unwrap());
                    black_box(wire::decode_bytes(&m.payload).unwrap());
                    n += 1;
                }
            }
            assert_eq!(n, BATCH);
            BATCH as f64 / start.elapsed().as_secs_f64()
        });
        let payload_only = median(|| {
            let start = Instant::now();
            for p in &payloads {
                black_box(wire::decode_bytes(p).unwrap());
            }
            BATCH as f64 / start.elapsed().as_secs_f64()
        });
        add(
            &format!("mqtt_{suffix}_publish_to_inbound_10_props"),
            to_inbound,
            "msg/s",
            payload_only,
            "PUBLISH bytes to a checked wire telemetry message (twinkit_core::wire::decode_bytes) with its topic parsed; baseline: decode_bytes of the payloads alone (ratio = share left after MQTT framing)",
        );
    }

    twinkit_bench::write_results(env!("CARGO_MANIFEST_DIR"), results);
}
