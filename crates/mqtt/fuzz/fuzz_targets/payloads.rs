//! Arbitrary topics and payloads into the topic and shadow parsers and the
//! shadow document decoders:
//! errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkit_mqtt::shadow::{decode, parse_shadow_topic, ShadowTopic};
use twinkit_mqtt::topics::TopicScheme;

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let topic = String::from_utf8_lossy(topic);
    let scheme = TopicScheme::default();
    let _ = scheme.parse(&topic);
    let _ = parse_shadow_topic(&topic);
    for which in ShadowTopic::ALL {
        let _ = decode(which, payload);
    }
});
