//! MqttLink: twinkit's topic scheme and wire payloads over a session, in
//! memory against mqtt-protocol-core's server role.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Packet, Peer};
use mqtt::packet::{v3_1_1, GenericPacketTrait, Qos};
use mqtt_protocol_core::mqtt;
use serde_json::json;
use twinkit_core::link::{Frame, Link, LinkEvent};
use twinkit_core::{CommandStatus, ConnectionConfig, Inbound, Outbound};
use twinkit_mqtt::link::MqttLink;
use twinkit_mqtt::topics::TopicScheme;
use twinkit_mqtt::{MqttOptions, MqttSession, ProtocolVersion};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;

fn drain(link: &mut MqttLink) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

/// Feeds the link's transmissions to the peer; returns the other events.
fn to_peer(link: &mut MqttLink, peer: &mut Peer) -> Vec<LinkEvent> {
    let mut rest = Vec::new();
    for event in drain(link) {
        match event {
            LinkEvent::Transmit(Frame::Binary(bytes)) => peer.feed(&bytes),
            other => rest.push(other),
        }
    }
    rest
}

fn from_peer(link: &mut MqttLink, peer: &mut Peer, now: u64) -> Vec<LinkEvent> {
    let bytes = peer.take_out();
    link.handle_frame(Frame::Binary(bytes), now);
    to_peer(link, peer)
}

/// A PUBLISH as the broker would forward it, queued for the link.
fn publish(peer: &mut Peer, topic: &str, id: u16, payload: serde_json::Value) {
    let packet: Packet = v3_1_1::Publish::builder()
        .topic_name(topic)
        .unwrap()
        .qos(Qos::AtLeastOnce)
        .packet_id(id)
        .payload(payload.to_string().into_bytes())
        .build()
        .unwrap()
        .into();
    peer.out.extend(packet.to_continuous_buffer());
}

fn up() -> (MqttLink, Peer) {
    let session = MqttSession::new(MqttOptions::new("twin").version(V3)).unwrap();
    let mut link = MqttLink::new(session, TopicScheme::default());
    let mut peer = Peer::new(V3, true);
    link.join("dev-1", 0);
    assert_eq!(link.subprotocol(), Some("mqtt"));
    link.handle_open(0);
    assert!(to_peer(&mut link, &mut peer).is_empty());
    peer.connack(V3, false);
    let events = from_peer(&mut link, &mut peer, 1);
    assert_eq!(events, vec![LinkEvent::Up]);
    let subscribed: Vec<String> = peer
        .take_received()
        .into_iter()
        .filter_map(|p| match p {
            Packet::V3_1_1Subscribe(s) => Some(
                s.entries()
                    .iter()
                    .map(|e| e.topic_filter().to_owned())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        })
        .collect();
    let all = subscribed.join(",");
    for suffix in ["telemetry", "reported", "commands/response", "status"] {
        assert!(all.contains(&format!("twinkit/dev-1/{suffix}")), "{all}");
    }
    (link, peer)
}

#[test]
fn device_messages_reach_their_twin_as_inbound() {
    let (mut link, mut peer) = up();
    publish(
        &mut peer,
        "twinkit/dev-1/telemetry",
        1,
        json!({"type": "telemetry", "deviceId": "dev-1", "timestamp": 5, "values": {"t": 20.5}}),
    );
    publish(
        &mut peer,
        "twinkit/dev-1/reported",
        2,
        json!({"type": "state", "deviceId": "dev-1", "reported": {"sp": 21}}),
    );
    publish(
        &mut peer,
        "twinkit/dev-1/commands/response",
        3,
        json!({"type": "commandResponse", "deviceId": "dev-1", "commandId": "c1", "status": "completed"}),
    );
    publish(
        &mut peer,
        "twinkit/dev-1/status",
        4,
        json!({"type": "status", "deviceId": "dev-1", "online": true}),
    );
    let events = from_peer(&mut link, &mut peer, 2);
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        matches!(&events[0], LinkEvent::Inbound { device_id, inbound: Inbound::Telemetry(d) } if device_id == "dev-1" && d.timestamp == 5)
    );
    assert!(
        matches!(&events[1], LinkEvent::Inbound { inbound: Inbound::Reported { values, .. }, .. } if values["sp"] == json!(21))
    );
    assert!(
        matches!(&events[2], LinkEvent::Inbound { inbound: Inbound::CommandResponse(r), .. } if r.status == CommandStatus::Completed)
    );
}

#[test]
fn bad_payloads_are_rejected_and_other_devices_ignored() {
    let (mut link, mut peer) = up();
    publish(
        &mut peer,
        "twinkit/dev-1/telemetry",
        1,
        json!("not an object"),
    );
    publish(
        &mut peer,
        "twinkit/dev-1/telemetry",
        2,
        json!({"type": "state", "deviceId": "dev-1", "reported": {}}),
    );
    publish(
        &mut peer,
        "twinkit/dev-1/telemetry",
        3,
        json!({"type": "telemetry", "deviceId": "dev-2", "timestamp": 1, "values": {}}),
    );
    publish(
        &mut peer,
        "twinkit/dev-9/telemetry",
        4,
        json!({"type": "telemetry", "deviceId": "dev-9", "timestamp": 1, "values": {}}),
    );
    let events = from_peer(&mut link, &mut peer, 2);
    let codes: Vec<&str> = events
        .iter()
        .map(|e| match e {
            LinkEvent::Rejected {
                code, device_id, ..
            } => {
                assert_eq!(device_id.as_deref(), Some("dev-1"));
                code.as_str()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes.len(), 3, "{codes:?}");
    assert_eq!(codes[1], "UNEXPECTED_MESSAGE");
    assert_eq!(codes[2], "INVALID_MESSAGE");
}

#[test]
fn desired_values_and_commands_are_published_as_wire_messages() {
    let (mut link, mut peer) = up();
    link.send(
        "dev-1",
        Outbound::Desired {
            property: "sp".into(),
            value: json!(22),
            version: 3,
            device_version: Some(7),
        },
        5,
    )
    .unwrap();
    assert!(to_peer(&mut link, &mut peer).is_empty());
    let published: Vec<(String, serde_json::Value)> = peer
        .take_received()
        .into_iter()
        .filter_map(|p| match p {
            Packet::V3_1_1Publish(p) => Some((
                p.topic_name().to_owned(),
                serde_json::from_slice(p.payload().as_slice()).unwrap(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        published,
        vec![(
            "twinkit/dev-1/desired".to_string(),
            json!({"type": "desired", "deviceId": "dev-1", "desired": {"sp": 22}, "version": 3,
                   "origin": link.origin(), "deviceVersion": 7})
        )]
    );
}

#[test]
fn config_sets_prefix_version_and_refuses_wildcards() {
    let config = ConnectionConfig {
        url: "ws://127.0.0.1:1/".into(),
        topic: Some("plant/+".into()),
        ..ConnectionConfig::default()
    };
    assert!(MqttLink::from_config(&config)
        .unwrap_err()
        .contains("wildcard"));
    let config = ConnectionConfig {
        topic: Some("acme/plant-1".into()),
        protocol_version: Some(5),
        username: Some("u".into()),
        password: Some("hunter2".into()),
        ..config
    };
    let link = MqttLink::from_config(&config).unwrap();
    assert_eq!(link.session().options().version, ProtocolVersion::V5);
    assert!(!format!("{link:?}").contains("hunter2"));
}
