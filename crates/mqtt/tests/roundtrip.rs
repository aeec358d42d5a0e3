//! Property tests: messages round-trip through the codec, input splits do
//! not matter, and no input makes the session panic.
#![allow(clippy::unwrap_used)]

mod common;

use common::{connected, drain, events};
use proptest::prelude::*;
use twinkit_mqtt::{
    ConnectionState, Message, MessageProperties, MqttEvent, MqttOptions, ProtocolVersion, QoS,
};

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(ProtocolVersion::V3_1_1), Just(ProtocolVersion::V5)]
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn topic() -> impl Strategy<Value = String> {
    // Levels of printable text, no wildcards, no NUL, unicode included.
    proptest::collection::vec("[a-zA-Z0-9_é$ -]{0,12}", 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("non-empty", |t| !t.is_empty())
}

fn properties() -> impl Strategy<Value = MessageProperties> {
    (
        proptest::option::of(1u32..1_000_000),
        proptest::option::of("[a-z/+.]{1,20}"),
        proptest::option::of(topic()),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
        proptest::collection::vec(("[a-z]{0,8}", "\\PC{0,8}"), 0..4),
    )
        .prop_map(
            |(expiry, content_type, response_topic, correlation_data, user)| MessageProperties {
                message_expiry_secs: expiry,
                content_type,
                response_topic,
                correlation_data,
                user_properties: user,
            },
        )
}

fn message(version: ProtocolVersion) -> impl Strategy<Value = Message> {
    (
        topic(),
        proptest::collection::vec(any::<u8>(), 0..300),
        qos(),
        any::<bool>(),
        properties(),
    )
        .prop_map(move |(topic, payload, qos, retain, properties)| Message {
            topic,
            payload,
            qos,
            retain,
            // 3.1.1 has no properties on the wire.
            properties: if version == ProtocolVersion::V5 {
                properties
            } else {
                MessageProperties::default()
            },
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// One session's PUBLISH bytes, read by another session, give back the
    /// same message (a broker forwards PUBLISH in the same format).
    #[test]
    fn publish_round_trips((version, message) in version().prop_flat_map(|v| (Just(v), message(v)))) {
        let (mut sender, _p1) = connected(MqttOptions::new("a").version(version), true);
        let (mut receiver, _p2) = connected(MqttOptions::new("b").version(version), true);
        sender.publish_message(message.clone(), 0).unwrap();
        let bytes = drain(&mut sender);
        receiver.handle_bytes(&bytes, 0);
        let evs = events(&mut receiver);
        prop_assert_eq!(evs, vec![MqttEvent::Message(message)]);
    }

    /// The same stream in arbitrary chunks gives the same events.
    #[test]
    fn chunking_does_not_matter(
        messages in proptest::collection::vec(message(ProtocolVersion::V5), 1..6),
        cuts in proptest::collection::vec(1usize..40, 1..50),
    ) {
        let (mut sender, _p) = connected(MqttOptions::new("a"), true);
        for m in &messages {
            let mut m = m.clone();
            m.qos = QoS::AtMostOnce;
            sender.publish_message(m, 0).unwrap();
        }
        let wire = drain(&mut sender);
        let (mut whole, _p1) = connected(MqttOptions::new("b"), true);
        whole.handle_bytes(&wire, 0);
        let expected = events(&mut whole);
        let (mut split, _p2) = connected(MqttOptions::new("c"), true);
        let mut rest = &wire[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() { break; }
            let n = (*cut).min(rest.len());
            split.handle_bytes(&rest[..n], 0);
            rest = &rest[n..];
        }
        prop_assert_eq!(events(&mut split), expected);
    }

    /// Arbitrary bytes from the broker never panic; the session either
    /// stays connected or reports why it closed, and can connect again.
    #[test]
    fn arbitrary_input_never_panics(version in version(), bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (mut session, _p) = connected(MqttOptions::new("a").version(version).max_packet_size(256), true);
        session.handle_bytes(&bytes, 0);
        session.handle_timeout(1_000_000);
        let evs = events(&mut session);
        if session.state() == ConnectionState::Disconnected {
            let closed = evs.iter().any(|e| matches!(e, MqttEvent::Disconnected { .. }));
            prop_assert!(closed, "{:?}", evs);
            session.connect(1).unwrap();
        }
    }

    /// Arbitrary bytes before CONNACK never panic either.
    #[test]
    fn arbitrary_input_while_connecting_never_panics(version in version(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut session = twinkit_mqtt::MqttSession::new(MqttOptions::new("a").version(version)).unwrap();
        session.connect(0).unwrap();
        drain(&mut session);
        session.handle_bytes(&bytes, 0);
        let _ = events(&mut session);
    }
}
