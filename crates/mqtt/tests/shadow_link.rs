//! MqttLink in AWS IoT Device Shadow mode, in memory against
//! mqtt-protocol-core's server role, fed the documents of AWS's public
//! Device Shadow documentation (tests/fixtures/aws-shadow) as the shadow
//! service would publish them; and what a twin makes of the result.
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{Packet, Peer};
use mqtt::packet::{v3_1_1, GenericPacketTrait, Qos};
use mqtt_protocol_core::mqtt;
use serde_json::{json, Value};
use twinkit_core::link::{Frame, Link, LinkEvent};
use twinkit_core::{
    ConnectionConfig, DeviceConfig, DigitalTwin, EventData, EventType, Inbound, MqttTopicScheme,
    Outbound,
};
use twinkit_mqtt::link::MqttLink;
use twinkit_mqtt::{MqttOptions, MqttSession, ProtocolVersion};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const SHADOW: &str = "$aws/things/thermostat-1/shadow";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/aws-shadow/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn drain(link: &mut MqttLink) -> Vec<LinkEvent> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

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

/// The shadow service publishes `payload` on `{SHADOW}/{suffix}`; returns
/// what the link makes of it.
fn shadow_says(
    link: &mut MqttLink,
    peer: &mut Peer,
    suffix: &str,
    payload: &Value,
) -> Vec<LinkEvent> {
    let packet: Packet = v3_1_1::Publish::builder()
        .topic_name(format!("{SHADOW}/{suffix}").as_str())
        .unwrap()
        .qos(Qos::AtMostOnce)
        .payload(payload.to_string().into_bytes())
        .build()
        .unwrap()
        .into();
    peer.out.extend(packet.to_continuous_buffer());
    let bytes = peer.take_out();
    link.handle_frame(Frame::Binary(bytes), 10);
    to_peer(link, peer)
}

/// Publications the peer received: topic and payload (JSON, or null when
/// empty).
fn published(peer: &mut Peer) -> Vec<(String, Value)> {
    peer.take_received()
        .into_iter()
        .filter_map(|p| match p {
            Packet::V3_1_1Publish(p) => {
                let payload = p.payload().as_slice();
                let value = if payload.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(payload).unwrap()
                };
                Some((p.topic_name().to_owned(), value))
            }
            _ => None,
        })
        .collect()
}

fn inbound(events: Vec<LinkEvent>) -> Vec<Inbound> {
    events
        .into_iter()
        .map(|e| match e {
            LinkEvent::Inbound { device_id, inbound } => {
                assert_eq!(device_id, "thermostat-1");
                inbound
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

fn desired(property: &str, value: Value, version: u64) -> Outbound {
    Outbound::Desired {
        property: property.into(),
        value,
        version,
        device_version: None,
    }
}

/// A link in AWS mode, up, its twin joined: returns it with the `get` it
/// sent on connecting.
fn up() -> (MqttLink, Peer) {
    let session = MqttSession::new(MqttOptions::new("twin").version(V3)).unwrap();
    let mut link = MqttLink::aws_shadow(session, None).unwrap();
    let mut peer = Peer::new(V3, true);
    link.join("thermostat-1", 0);
    link.handle_open(0);
    to_peer(&mut link, &mut peer);
    peer.take_received();
    peer.connack(V3, false);
    let bytes = peer.take_out();
    link.handle_frame(Frame::Binary(bytes), 1);
    assert_eq!(to_peer(&mut link, &mut peer), vec![LinkEvent::Up]);
    let received = peer.take_received();
    let Packet::V3_1_1Subscribe(subscribe) = &received[0] else {
        panic!("{received:?}")
    };
    let filters: Vec<&str> = subscribe
        .entries()
        .iter()
        .map(|e| e.topic_filter())
        .collect();
    assert_eq!(
        filters,
        [
            "$aws/things/thermostat-1/shadow/get/accepted",
            "$aws/things/thermostat-1/shadow/update/accepted",
            "$aws/things/thermostat-1/shadow/update/delta",
            "$aws/things/thermostat-1/shadow/update/rejected",
        ]
    );
    // After the SUBSCRIBE, so the answer is heard: an empty `get`.
    let Packet::V3_1_1Publish(get) = &received[1] else {
        panic!("{received:?}")
    };
    assert_eq!(get.topic_name(), format!("{SHADOW}/get"));
    assert!(get.payload().as_slice().is_empty());
    (link, peer)
}

#[test]
fn get_accepted_loads_reported_and_desired() {
    let (mut link, mut peer) = up();
    // AWS's "Delta state" example document.
    let events = shadow_says(
        &mut link,
        &mut peer,
        "get/accepted",
        &fixture("document-with-delta.json"),
    );
    assert_eq!(
        inbound(events),
        vec![
            Inbound::Reported {
                values: [
                    ("color".into(), json!("GREEN")),
                    ("engine".into(), json!("ON"))
                ]
                .into(),
                timestamp: None,
                version: None,
            },
            Inbound::CloudDesired {
                values: [
                    ("color".into(), json!("RED")),
                    ("state".into(), json!("STOP"))
                ]
                .into()
            },
        ]
    );
}

#[test]
fn desired_values_are_versioned_update_requests_and_accepted_ones_are_not_echoed() {
    let (mut link, mut peer) = up();
    let mut document = fixture("document-nested-delta.json");
    document["state"]["desired"] = json!({});
    shadow_says(&mut link, &mut peer, "get/accepted", &document);
    link.send("thermostat-1", desired("color", json!("BLUE"), 5), 20)
        .unwrap();
    to_peer(&mut link, &mut peer);
    let requests = published(&mut peer);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, format!("{SHADOW}/update"));
    let token = requests[0].1["clientToken"].as_str().unwrap().to_string();
    assert!(token.starts_with("twin-") && token.len() <= 64, "{token}");
    // The version of the document last seen (18), so another writer's
    // change in between is refused by the shadow.
    assert_eq!(
        requests[0].1,
        json!({"state": {"desired": {"color": "BLUE"}}, "clientToken": token, "version": 18})
    );

    // update/accepted for our own request: nothing new for the twin.
    let mut accepted = fixture("accepted-from-template.json");
    accepted["state"]["desired"] = json!({"color": "BLUE"});
    accepted["clientToken"] = json!(token);
    accepted["version"] = json!(19);
    assert!(shadow_says(&mut link, &mut peer, "update/accepted", &accepted).is_empty());

    // Another client's accepted update (AWS's template): its desired values.
    let events = shadow_says(
        &mut link,
        &mut peer,
        "update/accepted",
        &fixture("accepted-from-template.json"),
    );
    assert_eq!(
        inbound(events),
        vec![Inbound::CloudDesired {
            values: [
                ("attribute1".into(), json!(2)),
                ("attribute2".into(), json!("string2")),
                ("attributeN".into(), json!(true)),
            ]
            .into()
        }]
    );
    // A device's report, as update/accepted shows it.
    let report = json!({"state": {"reported": {"temperature": 21.5}}, "version": 20, "timestamp": 1_700_000_003});
    assert_eq!(
        inbound(shadow_says(
            &mut link,
            &mut peer,
            "update/accepted",
            &report
        )),
        vec![Inbound::Reported {
            values: [("temperature".into(), json!(21.5))].into(),
            timestamp: Some(1_700_000_003_000),
            version: None,
        }]
    );
    // The delta template: desired values that differ from reported.
    let events = shadow_says(
        &mut link,
        &mut peer,
        "update/delta",
        &fixture("delta-from-template.json"),
    );
    assert!(
        matches!(&inbound(events)[..], [Inbound::CloudDesired { values }] if values.len() == 3)
    );
    link.send("thermostat-1", desired("color", json!("RED"), 6), 30)
        .unwrap();
    to_peer(&mut link, &mut peer);
    assert_eq!(
        published(&mut peer)[0].1["version"],
        json!(20),
        "the latest version seen"
    );
}

#[test]
fn a_version_conflict_is_retried_when_only_the_version_moved_and_reported_when_someone_wrote() {
    let (mut link, mut peer) = up();
    let document =
        json!({"state": {"desired": {"color": "RED"}, "reported": {"color": "RED"}}, "version": 3});
    shadow_says(&mut link, &mut peer, "get/accepted", &document);

    // 1. A device report moved the version: 409, get, same desired color,
    //    so the request goes again on the new version.
    link.send("thermostat-1", desired("color", json!("BLUE"), 7), 20)
        .unwrap();
    to_peer(&mut link, &mut peer);
    let token = published(&mut peer)[0].1["clientToken"].clone();
    let mut conflict = fixture("error-from-template.json");
    conflict["clientToken"] = token;
    assert!(shadow_says(&mut link, &mut peer, "update/rejected", &conflict).is_empty());
    assert_eq!(
        published(&mut peer),
        vec![(format!("{SHADOW}/get"), Value::Null)]
    );
    let moved = json!({"state": {"desired": {"color": "RED"}, "reported": {"color": "RED", "t": 20}}, "version": 4});
    let events = inbound(shadow_says(&mut link, &mut peer, "get/accepted", &moved));
    assert_eq!(
        events.len(),
        1,
        "reported only, color is ours in flight: {events:?}"
    );
    let again = published(&mut peer);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1["state"], json!({"desired": {"color": "BLUE"}}));
    assert_eq!(again[0].1["version"], json!(4));

    // 2. Someone else wrote the color meanwhile: the twin takes the winner
    //    and hears that its value lost.
    let mut conflict = fixture("error-from-template.json");
    conflict["clientToken"] = again[0].1["clientToken"].clone();
    shadow_says(&mut link, &mut peer, "update/rejected", &conflict);
    published(&mut peer);
    let written = json!({"state": {"desired": {"color": "GREEN"}, "reported": {"color": "RED", "t": 20}}, "version": 6});
    let events = inbound(shadow_says(&mut link, &mut peer, "get/accepted", &written));
    assert_eq!(
        events[1..],
        [
            Inbound::CloudDesired {
                values: [("color".into(), json!("GREEN"))].into()
            },
            Inbound::DesiredConflict {
                property: "color".into(),
                attempted: json!("BLUE"),
                base_version: 7,
            },
        ]
    );
    assert!(
        published(&mut peer).is_empty(),
        "no retry after a real conflict"
    );

    // Other refusals are errors; other clients' refusals are not ours.
    link.send("thermostat-1", desired("color", json!([1]), 8), 40)
        .unwrap();
    to_peer(&mut link, &mut peer);
    let token = published(&mut peer)[0].1["clientToken"].clone();
    let other = json!({"code": 400, "message": "Missing required node: state", "clientToken": "someone-else"});
    assert!(shadow_says(&mut link, &mut peer, "update/rejected", &other).is_empty());
    let ours =
        json!({"code": 400, "message": "Missing required node: state", "clientToken": token});
    match &shadow_says(&mut link, &mut peer, "update/rejected", &ours)[..] {
        [LinkEvent::Rejected { code, message, .. }] => {
            assert_eq!(code, "SHADOW_REJECTED");
            assert!(
                message.contains("Missing required node") && message.contains("400"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_documents_commands_and_thing_names_are_refused() {
    let (mut link, mut peer) = up();
    match &shadow_says(&mut link, &mut peer, "update/delta", &json!([1, 2]))[..] {
        [LinkEvent::Rejected { code, .. }] => assert_eq!(code, "INVALID_SHADOW_DOCUMENT"),
        other => panic!("{other:?}"),
    }
    let command: twinkit_core::DeviceCommand = serde_json::from_value(json!({
        "commandId": "c1", "deviceId": "thermostat-1", "name": "reboot", "payload": {},
        "status": "sent", "timestamp": 1, "updatedAt": 1, "timeoutAt": 30001
    }))
    .unwrap();
    let refused = link
        .send("thermostat-1", Outbound::Command(command), 5)
        .unwrap_err();
    assert!(refused.contains("no commands"), "{refused}");

    let mut config = ConnectionConfig {
        url: "ws://127.0.0.1:1/".into(),
        topic_scheme: Some(MqttTopicScheme::AwsShadow),
        thing_name: Some("bad name".into()),
        ..ConnectionConfig::default()
    };
    assert!(MqttLink::from_config(&config)
        .unwrap_err()
        .contains("thing name"));
    config.thing_name = Some("Plant_7:line-2".into());
    let mut link = MqttLink::from_config(&config).unwrap();
    link.join("any.device", 0);
    assert!(
        drain(&mut link).is_empty(),
        "the thing name, not the device id"
    );
}

#[test]
fn config_refuses_a_shadow_mode_it_cannot_follow() {
    let config = |connection_type: &str, connection: Value| {
        DeviceConfig::from_value(json!({
            "id": "dev.1", "name": "D", "type": "sensor", "properties": [],
            "connectionType": connection_type,
            "connectionConfig": connection,
        }))
    };
    let url = "ws://127.0.0.1:1/";
    let refused = |c: Result<DeviceConfig, twinkit_core::ConfigError>| c.unwrap_err().to_string();
    assert!(refused(config(
        "mqtt",
        json!({"url": url, "topicScheme": "aws-shadow"})
    ))
    .contains("thingName"));
    assert!(refused(config(
        "websocket",
        json!({"url": url, "topicScheme": "aws-shadow"})
    ))
    .contains("topicScheme"));
    assert!(refused(config("mqtt", json!({"url": url, "thingName": "x"}))).contains("thingName"));
    assert!(
        refused(config("mqtt", json!({"url": url, "topicScheme": "aws"}))).contains("topicScheme")
    );
    let ok = config(
        "mqtt",
        json!({"url": url, "topicScheme": "aws-shadow", "thingName": "dev-1", "keepalive": 60}),
    )
    .unwrap();
    let connection = ok.connection_config.unwrap();
    assert_eq!(connection.thing_name.as_deref(), Some("dev-1"));
    assert_eq!(connection.keepalive, Some(60));
}

#[test]
fn a_twin_takes_shadow_desired_values_without_sending_them_and_reports_conflicts() {
    let config = DeviceConfig::from_json(
        r#"{"id": "thermostat-1", "name": "T", "type": "thermostat",
            "connectionType": "mqtt",
            "connectionConfig": {"url": "ws://127.0.0.1:1/", "topicScheme": "aws-shadow"},
            "properties": [{"name": "color", "type": "string", "writable": true},
                           {"name": "t", "type": "number", "telemetry": true}]}"#,
    )
    .unwrap();
    let mut twin = DigitalTwin::new(config).unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&errors);
    let _subscription = twin.on(EventType::Error, move |event| {
        if let EventData::Error(info) = &event.data {
            seen.borrow_mut().push(info.clone());
        }
    });
    twin.connect(0);
    twin.handle_connected(0);
    twin.set_desired("color", json!("BLUE"), 1).unwrap();
    let Some(Outbound::Desired { version, .. }) = twin.poll_outbound(2) else {
        panic!()
    };
    // The shadow says another writer set GREEN, then that BLUE lost.
    twin.ingest(
        Inbound::CloudDesired {
            values: [("color".into(), json!("GREEN")), ("t".into(), json!(3))].into(),
        },
        3,
    )
    .unwrap();
    assert_eq!(twin.state().desired().get("color"), Some(&json!("GREEN")));
    assert_eq!(
        twin.poll_outbound(4),
        None,
        "the shadow's own value is not sent back"
    );
    twin.ingest(
        Inbound::DesiredConflict {
            property: "color".into(),
            attempted: json!("BLUE"),
            base_version: version,
        },
        5,
    )
    .unwrap();
    let errors = errors.borrow();
    // `t` is read-only: refused as desired; then the conflict.
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].property.as_deref(), Some("t"));
    assert_eq!(errors[1].code, "CONFLICT");
    assert_eq!(errors[1].property.as_deref(), Some("color"));
    assert!(
        errors[1].message.contains("GREEN") && errors[1].message.contains("color"),
        "{}",
        errors[1].message
    );
}
