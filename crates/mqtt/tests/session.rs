//! MqttSession in memory against mqtt-protocol-core's server role.
#![allow(clippy::unwrap_used)]

mod common;

use common::{connected, drain, events, pump, Packet, Peer};
use mqtt::packet::{v3_1_1, v5_0, GenericPacketTrait, Qos};
use mqtt_protocol_core::mqtt;
use twinkit_mqtt::{
    ConnectionState, DisconnectReason, LastWill, Message, MessageProperties, MqttError, MqttEvent,
    MqttOptions, MqttSession, ProtocolVersion, PublishId, QoS,
};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn messages(events: &[MqttEvent]) -> Vec<(String, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            MqttEvent::Message(m) => Some((m.topic.clone(), m.payload.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn connect_v5_carries_identity_credentials_will_and_session_expiry() {
    let options = MqttOptions::new("twin-1")
        .credentials("alice", "s3cret-pw")
        .keep_alive_secs(20)
        .session_expiry_secs(3600)
        .will(LastWill {
            topic: "twinkit/dev-1/status".into(),
            payload: b"offline".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
    let mut session = MqttSession::new(options).unwrap();
    let mut peer = Peer::new(V5, true);
    session.connect(1_000).unwrap();
    assert_eq!(session.state(), ConnectionState::Connecting);
    peer.feed(&drain(&mut session));
    let received = peer.take_received();
    let Packet::V5_0Connect(connect) = &received[0] else {
        panic!("{received:?}")
    };
    assert_eq!(connect.client_id(), "twin-1");
    assert_eq!(connect.user_name(), Some("alice"));
    assert_eq!(connect.password(), Some(&b"s3cret-pw"[..]));
    assert_eq!(connect.keep_alive(), 20);
    assert!(connect.clean_start());
    assert_eq!(connect.will_topic(), Some("twinkit/dev-1/status"));
    assert_eq!(connect.will_payload(), Some(&b"offline"[..]));
    assert!(connect.will_retain());
    let expiry = connect.props().iter().find_map(|p| match p {
        mqtt::packet::Property::SessionExpiryInterval(v) => Some(v.val()),
        _ => None,
    });
    assert_eq!(expiry, Some(3600));
    // PINGREQ after half the keepalive (10 s) from CONNECT, before the
    // CONNACK deadline (30 s).
    assert_eq!(session.poll_timeout(), Some(11_000));
    peer.connack(V5, false);
    pump(&mut session, &mut peer, 1_100);
    assert_eq!(
        events(&mut session),
        vec![MqttEvent::Connected {
            session_present: false
        }]
    );
    assert_eq!(session.state(), ConnectionState::Connected);
    // Now only the keepalive deadline: 10 s after the last packet sent.
    assert_eq!(session.poll_timeout(), Some(11_000));
}

#[test]
fn connack_refusal_gives_code_and_human_reason_without_credentials() {
    for (version, refusal, code, text) in [
        (
            V3,
            vec![0x20, 0x02, 0x00, 0x04],
            4,
            "bad user name or password",
        ),
        (
            V5,
            vec![0x20, 0x03, 0x00, 0x86, 0x00],
            0x86,
            "bad user name or password",
        ),
        (
            V5,
            vec![0x20, 0x03, 0x00, 0x87, 0x00],
            0x87,
            "not authorized",
        ),
    ] {
        let options = MqttOptions::new("c")
            .version(version)
            .credentials("bob", "wrong-pass-123");
        let mut session = MqttSession::new(options).unwrap();
        session.connect(0).unwrap();
        drain(&mut session);
        session.handle_bytes(&refusal, 5);
        let evs = events(&mut session);
        let expected = DisconnectReason::Refused { code, reason: text };
        assert_eq!(
            evs,
            vec![MqttEvent::Disconnected {
                reason: expected.clone()
            }]
        );
        assert!(expected.is_refusal());
        let shown = format!("{evs:?} {expected} {session:?}");
        assert!(shown.contains(text), "{shown}");
        assert!(!shown.contains("wrong-pass"), "{shown}");
        assert_eq!(session.state(), ConnectionState::Disconnected);
        assert_eq!(session.poll_timeout(), None);
        // The session can try again.
        session.connect(10).unwrap();
    }
}

#[test]
fn keepalive_sends_pingreq_after_half_the_keepalive_of_silence_and_survives_pingresp() {
    let (mut session, mut peer) = connected(
        MqttOptions::new("c")
            .keep_alive_secs(10)
            .ping_timeout(3_000),
        true,
    );
    assert_eq!(session.poll_timeout(), Some(5_000));
    // Sending anything postpones the ping: it is outbound silence that
    // the broker counts.
    session
        .publish("t/a", b"x".to_vec(), QoS::AtMostOnce, false, 2_000)
        .unwrap();
    drain(&mut session);
    events(&mut session);
    assert_eq!(session.poll_timeout(), Some(7_000));
    session.handle_timeout(6_999);
    assert!(session.poll_transmit().is_none(), "not due yet");
    session.handle_timeout(7_000);
    // PINGREQ: type 12 << 4, remaining length 0.
    assert_eq!(session.poll_transmit(), Some(vec![0xC0, 0x00]));
    // PINGRESP due within ping_timeout.
    assert_eq!(session.poll_timeout(), Some(10_000));
    peer.feed(&[0xC0, 0x00]);
    // PINGRESP: type 13 << 4, remaining length 0.
    assert_eq!(peer.take_out(), vec![0xD0, 0x00]);
    session.handle_bytes(&[0xD0, 0x00], 7_050);
    assert_eq!(session.poll_timeout(), Some(12_000), "next ping only");
    session.handle_timeout(10_000);
    assert_eq!(session.state(), ConnectionState::Connected);
    assert!(events(&mut session).is_empty());
}

/// A hidden tab, as Chrome's intensive throttling makes it: every page
/// timer of the session runs `late` ms after its deadline, for `hours`.
/// The broker is mqtt-protocol-core's server engine, whose keepalive
/// limit (1.5 × keepalive, re-armed by every packet it receives) is an
/// independent reading of MQTT §3.1.2.10. Returns the pings sent, or when
/// the broker would have dropped the client.
fn hidden_tab(late: u64, hours: u64) -> Result<usize, String> {
    // Default options: keepalive 120 s.
    let (mut session, mut peer) = connected(MqttOptions::new("hidden"), true);
    let window = peer.keepalive_window.take().unwrap();
    assert_eq!(window, 180_000, "1.5 × the default keepalive");
    let mut broker_deadline = window;
    let mut pings = 0;
    loop {
        let fired = session.poll_timeout().unwrap() + late;
        if fired > hours * 3_600_000 {
            return Ok(pings);
        }
        session.handle_timeout(fired);
        let sent = drain(&mut session);
        assert_eq!(sent, [0xC0, 0x00], "a PINGREQ, sent now");
        if fired > broker_deadline {
            return Err(format!(
                "the broker dropped the client at {broker_deadline} ms; its ping left at {fired} ms"
            ));
        }
        pings += 1;
        // The PINGRESP wait counts from the (late) send, not the deadline.
        assert_eq!(session.poll_timeout(), Some(fired + 10_000));
        peer.feed(&sent);
        broker_deadline = fired + peer.keepalive_window.take().unwrap();
        session.handle_bytes(&peer.take_out(), fired + 5);
        assert_eq!(session.state(), ConnectionState::Connected);
        assert!(events(&mut session).is_empty());
    }
}

#[test]
fn timers_a_minute_late_still_ping_inside_the_brokers_one_and_a_half_keepalive() {
    // Pings every 60 s of silence; a minute late, every 120 s: one an
    // hour's 30, each a minute before the broker's 180 s.
    assert_eq!(hidden_tab(60_000, 1), Ok(30));
    // The model does catch a client that is too late (181 s of silence).
    let dropped = hidden_tab(121_000, 1).unwrap_err();
    assert!(
        dropped.contains("dropped the client at 180000"),
        "{dropped}"
    );
}

#[test]
fn a_late_pingresp_deadline_gets_one_fresh_ping_before_the_connection_is_declared_dead() {
    let (mut session, _peer) = connected(MqttOptions::new("c"), true);
    session.handle_timeout(60_000);
    assert_eq!(drain(&mut session), [0xC0, 0x00]);
    assert_eq!(session.poll_timeout(), Some(70_000));
    // The page slept through the PINGRESP deadline; the PINGRESP itself may
    // be queued behind this timer. Not dead: ping again, from now.
    session.handle_timeout(130_000);
    assert_eq!(session.state(), ConnectionState::Connected);
    assert_eq!(drain(&mut session), [0xC0, 0x00], "a fresh PINGREQ");
    assert_eq!(session.poll_timeout(), Some(140_000));
    session.handle_bytes(&[0xD0, 0x00], 130_001);
    session.handle_bytes(&[0xD0, 0x00], 130_002);
    assert!(events(&mut session).is_empty());
    assert_eq!(session.poll_timeout(), Some(190_000));
    // A broker that stopped answering: one fresh ping, then dead.
    session.handle_timeout(190_000);
    assert_eq!(drain(&mut session), [0xC0, 0x00]);
    session.handle_timeout(260_000);
    assert_eq!(drain(&mut session), [0xC0, 0x00], "the one fresh ping");
    assert_eq!(session.state(), ConnectionState::Connected);
    session.handle_timeout(330_000);
    assert_eq!(
        events(&mut session),
        vec![MqttEvent::Disconnected {
            reason: DisconnectReason::KeepaliveTimeout
        }]
    );
}

#[test]
fn pings_more_often_than_ping_timeout_do_not_postpone_the_pingresp_deadline() {
    let (mut session, _peer) = connected(
        MqttOptions::new("c").keep_alive_secs(2).ping_timeout(5_000),
        true,
    );
    for at in [1_000, 2_000, 3_000, 4_000, 5_000] {
        assert_eq!(session.poll_timeout(), Some(at));
        session.handle_timeout(at);
        assert_eq!(drain(&mut session), [0xC0, 0x00]);
    }
    assert_eq!(session.poll_timeout(), Some(6_000));
    session.handle_timeout(6_000);
    assert_eq!(
        events(&mut session),
        vec![MqttEvent::Disconnected {
            reason: DisconnectReason::KeepaliveTimeout
        }],
        "5 s after the first unanswered ping"
    );
}

#[test]
fn a_v5_server_keepalive_replaces_ours_and_is_pinged_at_half() {
    let mut session = MqttSession::new(MqttOptions::new("c")).unwrap();
    let mut peer = Peer::new(V5, true);
    session.connect(0).unwrap();
    peer.feed(&drain(&mut session));
    let props = vec![mqtt::packet::Property::ServerKeepAlive(
        mqtt::packet::ServerKeepAlive::new(20).unwrap(),
    )];
    peer.send(
        v5_0::Connack::builder()
            .session_present(false)
            .reason_code(mqtt::result_code::ConnectReasonCode::Success)
            .props(props)
            .build()
            .unwrap(),
    );
    pump(&mut session, &mut peer, 100);
    assert_eq!(session.state(), ConnectionState::Connected);
    assert_eq!(session.poll_timeout(), Some(10_100));
    // The next connection starts from our own keepalive again.
    session.handle_disconnected(200);
    session.connect(1_000).unwrap();
    peer.reset(V5, true);
    peer.feed(&drain(&mut session));
    peer.connack(V5, false);
    pump(&mut session, &mut peer, 1_100);
    assert_eq!(session.state(), ConnectionState::Connected);
    assert_eq!(session.poll_timeout(), Some(61_000));
}

#[test]
fn waking_up_runs_overdue_deadlines_and_checks_a_quiet_connection() {
    let (mut session, mut peer) = connected(MqttOptions::new("c").keep_alive_secs(20), true);
    session.handle_bytes(&[0xD0, 0x00], 1_000);
    // Heard from the broker 2 s ago: nothing to check.
    session.handle_wake(3_000);
    assert!(session.poll_transmit().is_none());
    // Quiet for 5 s: a PINGREQ now, answered.
    session.handle_wake(6_000);
    assert_eq!(drain(&mut session), [0xC0, 0x00]);
    session.handle_wake(6_100);
    assert!(
        session.poll_transmit().is_none(),
        "one ping outstanding is enough"
    );
    peer.feed(&[0xC0, 0x00]);
    session.handle_bytes(&peer.take_out(), 6_010);
    // The keepalive timer was throttled past its deadline (16 s): waking up
    // runs it, one PINGREQ, not two.
    session.handle_wake(40_000);
    assert_eq!(drain(&mut session), [0xC0, 0x00]);
    assert_eq!(session.poll_timeout(), Some(50_000));
    assert_eq!(session.state(), ConnectionState::Connected);
    assert!(events(&mut session).is_empty());
}

#[test]
fn missing_pingresp_disconnects_with_keepalive_timeout() {
    let (mut session, _peer) = connected(
        MqttOptions::new("c").keep_alive_secs(5).ping_timeout(2_000),
        true,
    );
    session.handle_timeout(2_500);
    assert_eq!(drain(&mut session), vec![0xC0, 0x00]);
    assert_eq!(session.poll_timeout(), Some(4_500));
    session.handle_timeout(4_500);
    assert_eq!(
        events(&mut session),
        vec![MqttEvent::Disconnected {
            reason: DisconnectReason::KeepaliveTimeout
        }]
    );
    assert_eq!(session.state(), ConnectionState::Disconnected);
    assert_eq!(session.poll_timeout(), None);
}

#[test]
fn missing_connack_times_out() {
    let mut session = MqttSession::new(MqttOptions::new("c").connect_timeout(3_000)).unwrap();
    session.connect(100).unwrap();
    assert_eq!(session.poll_timeout(), Some(3_100));
    session.handle_timeout(3_100);
    assert_eq!(
        events(&mut session),
        vec![MqttEvent::Disconnected {
            reason: DisconnectReason::ConnectTimeout
        }]
    );
}

#[test]
fn qos0_1_2_publish_complete_and_carry_v5_properties() {
    for version in [V3, V5] {
        let (mut session, mut peer) = connected(MqttOptions::new("c").version(version), true);
        let properties = MessageProperties {
            content_type: Some("application/json".into()),
            user_properties: vec![("seq".into(), "1".into()), ("seq".into(), "2".into())],
            message_expiry_secs: Some(60),
            ..MessageProperties::default()
        };
        let mut message = Message::new("t/a", b"{\"v\":1}".to_vec(), QoS::AtLeastOnce, false);
        message.properties = properties;
        let a = session
            .publish("t/0", b"zero".to_vec(), QoS::AtMostOnce, false, 0)
            .unwrap();
        let b = session.publish_message(message, 0).unwrap();
        let c = session
            .publish("t/2", b"two".to_vec(), QoS::ExactlyOnce, true, 0)
            .unwrap();
        assert_eq!(session.in_flight(), 2);
        pump(&mut session, &mut peer, 1);
        let evs = events(&mut session);
        assert_eq!(
            evs,
            vec![
                MqttEvent::PublishCompleted {
                    id: a,
                    packet_id: None
                },
                MqttEvent::PublishCompleted {
                    id: b,
                    packet_id: Some(1)
                },
                MqttEvent::PublishCompleted {
                    id: c,
                    packet_id: Some(2)
                },
            ],
            "{version:?}"
        );
        assert_eq!(session.in_flight(), 0);
        let received = peer.take_received();
        // PUBLISH 0, PUBLISH 1, PUBLISH 2, PUBREL.
        assert_eq!(received.len(), 4, "{received:?}");
        if let Packet::V5_0Publish(p) = &received[1] {
            let users: Vec<_> = p
                .props()
                .iter()
                .filter_map(|p| match p {
                    mqtt::packet::Property::UserProperty(u) => {
                        Some((u.key().to_owned(), u.val().to_owned()))
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(
                users,
                vec![("seq".into(), "1".into()), ("seq".into(), "2".into())]
            );
            assert_eq!(p.qos(), Qos::AtLeastOnce);
        } else {
            assert_eq!(version, V3, "{received:?}");
        }
    }
}

#[test]
fn unacked_messages_are_resent_with_dup_when_the_session_resumes() {
    let options = MqttOptions::new("c").session_expiry_secs(600);
    let (mut session, mut peer) = connected(options, false);
    let a = session
        .publish("t/1", b"one".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    let b = session
        .publish("t/2", b"two".to_vec(), QoS::ExactlyOnce, false, 0)
        .unwrap();
    pump(&mut session, &mut peer, 0);
    assert_eq!(peer.take_received().len(), 2);
    session.handle_disconnected(10);
    assert_eq!(
        events(&mut session),
        vec![MqttEvent::Disconnected {
            reason: DisconnectReason::TransportClosed
        }]
    );
    assert_eq!(session.in_flight(), 2);

    session.connect(20).unwrap();
    peer.reset(V5, true);
    peer.feed(&drain(&mut session));
    let Packet::V5_0Connect(connect) = &peer.take_received()[0] else {
        panic!()
    };
    assert!(!connect.clean_start(), "a reconnect asks to resume");
    peer.connack(V5, true);
    let connack = peer.take_out();
    session.handle_bytes(&connack, 30);
    let resent = drain(&mut session);
    // PUBLISH, QoS 1, DUP: 0x3A; QoS 2, DUP: 0x3C. Same packet ids 1 and 2.
    assert_eq!(resent[0], 0x3A);
    peer.feed(&resent);
    let again = peer.take_received();
    let ids: Vec<_> = again
        .iter()
        .map(|p| match p {
            Packet::V5_0Publish(p) => (p.packet_id(), p.dup(), p.topic_name().to_owned()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        ids,
        vec![(Some(1), true, "t/1".into()), (Some(2), true, "t/2".into())]
    );
    pump(&mut session, &mut peer, 40);
    let evs = events(&mut session);
    assert_eq!(
        evs,
        vec![
            MqttEvent::Connected {
                session_present: true
            },
            MqttEvent::PublishCompleted {
                id: a,
                packet_id: Some(1)
            },
            MqttEvent::PublishCompleted {
                id: b,
                packet_id: Some(2)
            },
        ]
    );
}

#[test]
fn unacked_messages_are_sent_again_when_the_broker_lost_the_session() {
    for version in [V3, V5] {
        let options = MqttOptions::new("c").version(version).clean_start(false);
        let (mut session, mut peer) = connected(options, false);
        let a = session
            .publish("t/1", b"one".to_vec(), QoS::AtLeastOnce, false, 0)
            .unwrap();
        pump(&mut session, &mut peer, 0);
        session.handle_disconnected(10);
        events(&mut session);
        session.connect(20).unwrap();
        peer.reset(version, true);
        peer.feed(&drain(&mut session));
        peer.take_received();
        peer.connack(version, false);
        pump(&mut session, &mut peer, 30);
        let received = peer.take_received();
        assert_eq!(received.len(), 1, "{received:?}");
        let evs = events(&mut session);
        assert_eq!(
            evs,
            vec![
                MqttEvent::Connected {
                    session_present: false
                },
                MqttEvent::PublishCompleted {
                    id: a,
                    packet_id: Some(1)
                },
            ],
            "{version:?}"
        );
    }
}

#[test]
fn inbound_qos2_is_delivered_exactly_once() {
    for version in [V3, V5] {
        let (mut session, mut peer) = connected(MqttOptions::new("c").version(version), false);
        let publish: Packet = match version {
            V3 => v3_1_1::Publish::builder()
                .topic_name("a/b")
                .unwrap()
                .qos(Qos::ExactlyOnce)
                .packet_id(7u16)
                .payload(b"x".to_vec())
                .build()
                .unwrap()
                .into(),
            _ => v5_0::Publish::builder()
                .topic_name("a/b")
                .unwrap()
                .qos(Qos::ExactlyOnce)
                .packet_id(7u16)
                .payload(b"x".to_vec())
                .build()
                .unwrap()
                .into(),
        };
        let bytes = publish.to_continuous_buffer();
        session.handle_bytes(&bytes, 1);
        // PUBREC: 0x50, length 2, packet id 7.
        assert_eq!(drain(&mut session), vec![0x50, 0x02, 0x00, 0x07]);
        // The broker did not see the PUBREC and sends the PUBLISH again (DUP).
        let mut dup = bytes.clone();
        dup[0] |= 0x08;
        session.handle_bytes(&dup, 2);
        assert_eq!(drain(&mut session), vec![0x50, 0x02, 0x00, 0x07]);
        // PUBREL (0x62, length 2, id 7) → PUBCOMP (0x70, length 2, id 7).
        session.handle_bytes(&[0x62, 0x02, 0x00, 0x07], 3);
        assert_eq!(drain(&mut session), vec![0x70, 0x02, 0x00, 0x07]);
        let evs = events(&mut session);
        assert_eq!(
            messages(&evs),
            vec![("a/b".to_owned(), b"x".to_vec())],
            "{version:?}"
        );
        // After PUBCOMP the id is free again: a new message with id 7 is new.
        session.handle_bytes(&bytes, 4);
        assert_eq!(messages(&events(&mut session)).len(), 1);
        let _ = &mut peer;
    }
}

/// Two PUBLISH packets and a PINGRESP in one buffer, fed whole, byte by
/// byte and in uneven chunks, give the same messages.
#[test]
fn split_and_coalesced_input_give_the_same_messages() {
    let mut wire = Vec::new();
    for (topic, payload) in [("s/1", &b"{\"t\":21.5}"[..]), ("s/2", &b"[1,2,3]"[..])] {
        let p: Packet = v5_0::Publish::builder()
            .topic_name(topic)
            .unwrap()
            .qos(Qos::AtMostOnce)
            .payload(payload.to_vec())
            .build()
            .unwrap()
            .into();
        wire.extend(p.to_continuous_buffer());
    }
    wire.extend([0xD0, 0x00]);
    let expected = vec![
        ("s/1".to_owned(), b"{\"t\":21.5}".to_vec()),
        ("s/2".to_owned(), b"[1,2,3]".to_vec()),
    ];
    for chunk in [wire.len(), 1, 2, 3, 5, 7, 11] {
        let (mut session, _peer) = connected(MqttOptions::new("c"), true);
        for part in wire.chunks(chunk) {
            session.handle_bytes(part, 1);
        }
        assert_eq!(messages(&events(&mut session)), expected, "chunk {chunk}");
        assert_eq!(session.state(), ConnectionState::Connected);
    }
}

#[test]
fn malformed_input_closes_with_a_clear_reason() {
    // Remaining length with five continuation bytes: malformed.
    let cases: Vec<Vec<u8>> = vec![
        vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        // Reserved packet type 0.
        vec![0x00, 0x00],
        // PUBLISH QoS 3.
        vec![0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01],
        // PUBLISH whose topic length runs past the packet.
        vec![0x30, 0x03, 0x00, 0x09, b'a'],
        // PUBLISH QoS 2 with packet id 0 (found by fuzzing: the engine
        // panicked building its PUBREC).
        vec![0x34, 0x05, 0x00, 0x01, b'a', 0x00, 0x00],
        // PUBLISH QoS 1 with packet id 0.
        vec![0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00],
        // PUBREL with packet id 0.
        vec![0x62, 0x02, 0x00, 0x00],
    ];
    for bytes in cases {
        let (mut session, _peer) = connected(MqttOptions::new("c"), true);
        session.handle_bytes(&bytes, 1);
        let evs = events(&mut session);
        assert!(
            matches!(
                evs.as_slice(),
                [MqttEvent::Disconnected {
                    reason: DisconnectReason::ProtocolError { .. }
                }]
            ),
            "{bytes:?}: {evs:?}"
        );
        assert_eq!(session.state(), ConnectionState::Disconnected);
        // Reconnecting works.
        session.connect(2).unwrap();
    }
}

#[test]
fn oversized_packet_closes_with_packet_too_large() {
    for version in [V3, V5] {
        let (mut session, _peer) = connected(
            MqttOptions::new("c").version(version).max_packet_size(128),
            true,
        );
        let big: Packet = v3_1_1::Publish::builder()
            .topic_name("big")
            .unwrap()
            .payload(vec![b'x'; 1000])
            .build()
            .unwrap()
            .into();
        let bytes = big.to_continuous_buffer();
        // Only the header arrives: the size is known before the payload.
        session.handle_bytes(&bytes[..3], 1);
        let evs = events(&mut session);
        assert_eq!(
            evs,
            vec![MqttEvent::Disconnected {
                reason: DisconnectReason::PacketTooLarge { limit: 128 }
            }],
            "{version:?}"
        );
        if version == V5 {
            // MQTT 5 says why: DISCONNECT, length 1, reason 0x95 packet too large.
            assert_eq!(drain(&mut session), vec![0xE0, 0x01, 0x95]);
        }
        let shown = evs[0].clone();
        if let MqttEvent::Disconnected { reason } = shown {
            assert_eq!(
                reason.to_string(),
                "the broker sent a packet larger than 128 bytes"
            );
        }
    }
}

#[test]
fn offline_queue_is_bounded_and_flushed_in_order_on_connect() {
    let mut session = MqttSession::new(MqttOptions::new("c").max_queued(2)).unwrap();
    let a = session
        .publish("q/1", b"1".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    let b = session
        .publish("q/2", b"2".to_vec(), QoS::AtMostOnce, false, 0)
        .unwrap();
    let full = session.publish("q/3", b"3".to_vec(), QoS::AtLeastOnce, false, 0);
    assert_eq!(full, Err(MqttError::QueueFull { limit: 2 }));
    assert_eq!(
        full.unwrap_err().to_string(),
        "outgoing queue full: 2 messages are waiting to be sent"
    );
    assert_eq!(session.queued(), 2);
    let mut peer = Peer::new(V5, true);
    session.connect(5).unwrap();
    peer.feed(&drain(&mut session));
    peer.take_received();
    peer.connack(V5, false);
    pump(&mut session, &mut peer, 6);
    let topics: Vec<_> = peer
        .take_received()
        .into_iter()
        .filter_map(|p| match p {
            Packet::V5_0Publish(p) => Some(p.topic_name().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, vec!["q/1", "q/2"]);
    let evs = events(&mut session);
    assert!(evs.contains(&MqttEvent::PublishCompleted {
        id: a,
        packet_id: Some(1)
    }));
    assert!(evs.contains(&MqttEvent::PublishCompleted {
        id: b,
        packet_id: None
    }));
    assert_eq!(session.queued(), 0);
}

#[test]
fn queued_messages_expire() {
    let mut session = MqttSession::new(MqttOptions::new("c")).unwrap();
    let mut message = Message::new("e/1", b"old".to_vec(), QoS::AtLeastOnce, false);
    message.properties.message_expiry_secs = Some(5);
    let id = session.publish_message(message, 0).unwrap();
    let mut peer = Peer::new(V5, true);
    session.connect(6_000).unwrap();
    peer.feed(&drain(&mut session));
    peer.connack(V5, false);
    pump(&mut session, &mut peer, 6_000);
    let evs = events(&mut session);
    assert!(
        matches!(&evs[1], MqttEvent::PublishFailed { id: failed, reason } if *failed == id && reason.contains("expired")),
        "{evs:?}"
    );
}

#[test]
fn subscriptions_are_sent_after_connack_and_restored_when_the_session_is_lost() {
    let mut session = MqttSession::new(MqttOptions::new("c").version(V3)).unwrap();
    session
        .subscribe("twinkit/+/telemetry", QoS::AtLeastOnce, 0)
        .unwrap();
    session
        .subscribe("twinkit/d1/#", QoS::ExactlyOnce, 0)
        .unwrap();
    assert!(matches!(
        session.subscribe("a/#/b", QoS::AtMostOnce, 0),
        Err(MqttError::InvalidTopic { .. })
    ));
    assert!(session.subscribe("a/b+", QoS::AtMostOnce, 0).is_err());
    let mut peer = Peer::new(V3, true);
    for round in 0..2 {
        session.connect(round).unwrap();
        peer.reset(V3, true);
        peer.feed(&drain(&mut session));
        peer.take_received();
        peer.connack(V3, false);
        pump(&mut session, &mut peer, round);
        let received = peer.take_received();
        let Packet::V3_1_1Subscribe(subscribe) = &received[0] else {
            panic!("{received:?}")
        };
        let filters: Vec<_> = subscribe
            .entries()
            .iter()
            .map(|e| (e.topic_filter().to_owned(), e.sub_opts().qos()))
            .collect();
        assert_eq!(
            filters,
            vec![
                ("twinkit/+/telemetry".to_owned(), Qos::AtLeastOnce),
                ("twinkit/d1/#".to_owned(), Qos::ExactlyOnce)
            ]
        );
        // SUBACK: 0x90, length 4, packet id, granted QoS 1 and failure 0x80.
        session.handle_bytes(&[0x90, 0x04, 0x00, 0x01, 0x01, 0x80], round);
        let evs = events(&mut session);
        assert_eq!(
            evs[0],
            MqttEvent::Connected {
                session_present: false
            }
        );
        assert_eq!(
            evs[1],
            MqttEvent::Subscribed {
                filter: "twinkit/+/telemetry".into(),
                result: Ok(QoS::AtLeastOnce)
            }
        );
        assert!(matches!(
            &evs[2],
            MqttEvent::Subscribed { result: Err(_), .. }
        ));
        session.handle_disconnected(round);
        events(&mut session);
        // The refused filter is dropped; put it back for the next round.
        session
            .subscribe("twinkit/d1/#", QoS::ExactlyOnce, 0)
            .unwrap();
    }
}

#[test]
fn unsubscribe_and_disconnect() {
    let (mut session, mut peer) = connected(MqttOptions::new("c"), true);
    session.subscribe("x/y", QoS::AtMostOnce, 0).unwrap();
    session.unsubscribe("x/y", 0).unwrap();
    let sent = drain(&mut session);
    peer.feed(&sent);
    let received = peer.take_received();
    assert!(matches!(received[0], Packet::V5_0Subscribe(_)));
    assert!(matches!(received[1], Packet::V5_0Unsubscribe(_)));
    // UNSUBACK v5: 0xB0, length 4, packet id 2, properties 0, reason 0.
    session.handle_bytes(&[0xB0, 0x04, 0x00, 0x02, 0x00, 0x00], 1);
    assert_eq!(
        events(&mut session),
        vec![MqttEvent::Unsubscribed {
            filter: "x/y".into()
        }]
    );
    session.disconnect(2);
    // DISCONNECT v5: 0xE0, length 0 (normal disconnection, no properties).
    assert_eq!(drain(&mut session), vec![0xE0, 0x00]);
    assert_eq!(
        events(&mut session),
        vec![MqttEvent::Disconnected {
            reason: DisconnectReason::ClientDisconnected
        }]
    );
    assert_eq!(session.state(), ConnectionState::Disconnected);
}

#[test]
fn server_disconnect_reports_its_reason() {
    let (mut session, _peer) = connected(MqttOptions::new("c"), true);
    // DISCONNECT v5: 0xE0, length 1, reason 0x8E session taken over.
    session.handle_bytes(&[0xE0, 0x01, 0x8E], 1);
    let evs = events(&mut session);
    assert_eq!(
        evs,
        vec![MqttEvent::Disconnected {
            reason: DisconnectReason::ServerDisconnected {
                code: 0x8E,
                reason: "session taken over by another connection"
            }
        }]
    );
}

#[test]
fn v5_puback_failure_code_fails_the_publish() {
    let (mut session, _peer) = connected(MqttOptions::new("c"), false);
    let id = session
        .publish("t", b"x".to_vec(), QoS::AtLeastOnce, false, 0)
        .unwrap();
    drain(&mut session);
    // PUBACK v5: 0x40, length 3, packet id 1, reason 0x87 not authorized.
    session.handle_bytes(&[0x40, 0x03, 0x00, 0x01, 0x87], 1);
    let evs = events(&mut session);
    assert_eq!(
        evs,
        vec![MqttEvent::PublishFailed {
            id,
            reason: "the broker refused the message: not authorized (code 0x87)".into()
        }]
    );
    assert_eq!(id, PublishId(0));
}

#[test]
fn invalid_topics_and_options_are_refused() {
    let mut session = MqttSession::new(MqttOptions::new("c")).unwrap();
    for topic in ["", "a/+", "a/#", "a\0b"] {
        assert!(matches!(
            session.publish(topic, Vec::new(), QoS::AtMostOnce, false, 0),
            Err(MqttError::InvalidTopic { .. })
        ));
    }
    let mut options = MqttOptions::new("c");
    options.password = Some(twinkit_mqtt::Password::new("pw-only"));
    let error = MqttSession::new(options).unwrap_err();
    assert!(!error.to_string().contains("pw-only"));
    assert_eq!(session.queued(), 0);
}
