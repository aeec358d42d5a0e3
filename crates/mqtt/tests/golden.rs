//! Golden bytes: what the session writes, and what it reads, byte by byte.
#![allow(clippy::unwrap_used)]

mod common;

use common::{connected, drain, events};
use twinkit_mqtt::{
    LastWill, Message, MessageProperties, MqttEvent, MqttOptions, MqttSession, ProtocolVersion, QoS,
};

#[test]
fn connect_v3_1_1_with_credentials_and_will() {
    let options = MqttOptions::new("c1")
        .version(ProtocolVersion::V3_1_1)
        .keep_alive_secs(30)
        .credentials("u", "p")
        .will(LastWill {
            topic: "w".into(),
            payload: b"x".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
    let mut session = MqttSession::new(options).unwrap();
    session.connect(0).unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0x10,                         // CONNECT, flags 0
        0x1A,                         // remaining length 26
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04,                         // protocol level 4 (3.1.1)
        0xEE,                         // flags: user 0x80 | password 0x40 | will retain 0x20
                                      //        | will QoS 1 0x08 | will 0x04 | clean session 0x02
        0x00, 0x1E,                   // keepalive 30 s
        0x00, 0x02, b'c', b'1',       // client id "c1"
        0x00, 0x01, b'w',             // will topic "w"
        0x00, 0x01, b'x',             // will payload "x"
        0x00, 0x01, b'u',             // user name "u"
        0x00, 0x01, b'p',             // password "p"
    ];
    assert_eq!(drain(&mut session), expected);
}

#[test]
fn connect_v5_with_session_expiry_and_maximum_packet_size() {
    let options = MqttOptions::new("c1")
        .keep_alive_secs(30)
        .session_expiry_secs(3600)
        .max_packet_size(1024 * 1024);
    let mut session = MqttSession::new(options).unwrap();
    session.connect(0).unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0x10,                         // CONNECT, flags 0
        0x19,                         // remaining length 25
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05,                         // protocol level 5
        0x02,                         // flags: clean start
        0x00, 0x1E,                   // keepalive 30 s
        0x0A,                         // properties length 10
        0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry interval 3600 s
        0x27, 0x00, 0x10, 0x00, 0x00, // maximum packet size 1,048,576
        0x00, 0x02, b'c', b'1',       // client id "c1"
    ];
    assert_eq!(drain(&mut session), expected);
}

#[test]
fn reconnect_v5_asks_to_resume() {
    let options = MqttOptions::new("c1")
        .keep_alive_secs(0)
        .session_expiry_secs(60);
    let (mut session, _peer) = connected(options, true);
    session.handle_disconnected(1);
    session.connect(2).unwrap();
    let bytes = drain(&mut session);
    // Protocol level 5 then flags 0x00: clean start cleared.
    assert_eq!(&bytes[8..10], &[0x05, 0x00]);
}

#[test]
fn subscribe_v3_1_1() {
    let options = MqttOptions::new("c1").version(ProtocolVersion::V3_1_1);
    let (mut session, _peer) = connected(options, true);
    session.subscribe("a/+", QoS::AtLeastOnce, 0).unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0x82,                         // SUBSCRIBE, reserved flags 0b0010
        0x08,                         // remaining length 8
        0x00, 0x01,                   // packet id 1
        0x00, 0x03, b'a', b'/', b'+', // filter "a/+"
        0x01,                         // options: maximum QoS 1
    ];
    assert_eq!(drain(&mut session), expected);
}

#[test]
fn publish_v5_qos1_with_user_property() {
    let (mut session, _peer) = connected(MqttOptions::new("c1"), false);
    let mut message = Message::new("t", b"hi".to_vec(), QoS::AtLeastOnce, false);
    message.properties = MessageProperties {
        user_properties: vec![("k".into(), "v".into())],
        ..MessageProperties::default()
    };
    session.publish_message(message, 0).unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0x32,                         // PUBLISH, QoS 1 (0b0010), no DUP, no retain
        0x0F,                         // remaining length 15
        0x00, 0x01, b't',             // topic "t"
        0x00, 0x01,                   // packet id 1
        0x07,                         // properties length 7
        0x26,                         // user property
        0x00, 0x01, b'k',             //   key "k"
        0x00, 0x01, b'v',             //   value "v"
        b'h', b'i',                   // payload "hi"
    ];
    assert_eq!(drain(&mut session), expected);
}

#[test]
fn publish_v3_1_1_qos0_retained() {
    let options = MqttOptions::new("c1").version(ProtocolVersion::V3_1_1);
    let (mut session, _peer) = connected(options, true);
    session
        .publish("t", b"{}".to_vec(), QoS::AtMostOnce, true, 0)
        .unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0x31,                         // PUBLISH, QoS 0, retain
        0x05,                         // remaining length 5
        0x00, 0x01, b't',             // topic "t"
        b'{', b'}',                   // payload "{}" (no packet id at QoS 0)
    ];
    assert_eq!(drain(&mut session), expected);
}

#[test]
fn reads_connack_and_publish_v5_with_properties() {
    let mut session = MqttSession::new(MqttOptions::new("c1")).unwrap();
    session.connect(0).unwrap();
    drain(&mut session);
    #[rustfmt::skip]
    let input = vec![
        0x20,                         // CONNACK
        0x03,                         // remaining length 3
        0x01,                         // session present
        0x00,                         // reason: success
        0x00,                         // properties length 0
        0x30,                         // PUBLISH, QoS 0
        0x14,                         // remaining length 20
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0x0C,                         // properties length 12
        0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry interval 60 s
        0x03, 0x00, 0x04, b'j', b's', b'o', b'n', // content type "json"
        b'4', b'2',                   // payload "42"
    ];
    session.handle_bytes(&input, 1);
    let evs = events(&mut session);
    assert_eq!(
        evs[0],
        MqttEvent::Connected {
            session_present: true
        }
    );
    let MqttEvent::Message(message) = &evs[1] else {
        panic!("{evs:?}")
    };
    assert_eq!(message.topic, "a/b");
    assert_eq!(message.payload, b"42");
    assert_eq!(message.qos, QoS::AtMostOnce);
    assert_eq!(message.properties.message_expiry_secs, Some(60));
    assert_eq!(message.properties.content_type.as_deref(), Some("json"));
}
