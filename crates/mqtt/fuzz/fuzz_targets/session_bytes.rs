//! Arbitrary broker bytes, in arbitrary chunks, into a connected session:
//! it must never panic, and after a close it must connect again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkit_mqtt::{MqttOptions, MqttSession, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let version = if control & 1 == 0 { ProtocolVersion::V3_1_1 } else { ProtocolVersion::V5 };
    let chunk = usize::from(control >> 1).max(1);
    let options = MqttOptions::new("fuzz").version(version).max_packet_size(4096);
    let mut session = MqttSession::new(options).expect("valid options");
    session.connect(0).expect("connect");
    while session.poll_transmit().is_some() {}
    let connack: &[u8] = match version {
        ProtocolVersion::V3_1_1 => &[0x20, 0x02, 0x00, 0x00],
        _ => &[0x20, 0x03, 0x00, 0x00, 0x00],
    };
    session.handle_bytes(connack, 0);
    let _ = session.subscribe("f/#", twinkit_mqtt::QoS::ExactlyOnce, 0);
    let _ = session.publish("f/x", b"x".to_vec(), twinkit_mqtt::QoS::ExactlyOnce, false, 0);
    for (i, part) in bytes.chunks(chunk).enumerate() {
        session.handle_bytes(part, i as u64);
        while session.poll_transmit().is_some() {}
        while session.poll_event().is_some() {}
    }
    session.handle_timeout(u64::MAX / 2);
    session.handle_disconnected(1);
    session.connect(2).expect("reconnect after anything");
});
