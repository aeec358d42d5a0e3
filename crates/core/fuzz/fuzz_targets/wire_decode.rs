//! Every wire decoder on arbitrary bytes: no panic, and a message that is
//! accepted encodes to text that is accepted again (checks and encoding
//! agree).
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinkit_core::wire::{self, http};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = wire::decode_bytes(data) {
        let text = message.encode();
        if let Err(e) = wire::decode(&text) {
            panic!("accepted {message:?} but not its encoding {text}: {e}");
        }
    }
    let _ = http::decode_desired_request(data);
    let _ = http::decode_command_request(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(route) = http::Route::parse("GET", text) {
            let again = http::Route::parse(route.method(), &route.target());
            assert_eq!(again.as_ref(), Ok(&route), "{text}");
        }
    }
});
