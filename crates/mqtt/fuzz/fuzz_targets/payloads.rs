//! Arbitrary topics and payloads into the topic scheme and shadow decoders:
//! errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkit_mqtt::shadow::{decode, parse_shadow_topic, ShadowTopic};
use twinkit_mqtt::topics::{decode_device_message, Channel, TopicScheme};

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let topic = String::from_utf8_lossy(topic);
    let scheme = TopicScheme::default();
    if let Ok((device, channel)) = scheme.parse(&topic) {
        let _ = decode_device_message(device, channel, payload);
    }
    for channel in Channel::ALL {
        let _ = decode_device_message("d", channel, payload);
    }
    let _ = parse_shadow_topic(&topic);
    for which in ShadowTopic::ALL {
        let _ = decode(which, payload);
    }
});
