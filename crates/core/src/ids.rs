//! Random identifiers for commands and alerts.

/// A random UUID version 4 in its canonical lowercase hyphenated form,
/// e.g. `"3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b"`.
///
/// Randomness comes from the operating system natively and from
/// `crypto.getRandomValues` in the browser.
///
/// # Panics
/// If the platform has no random source at all, which no supported target lacks.
pub fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the platform provides a random source");
    format_uuid_v4(bytes)
}

/// Sets the version (4) and variant (RFC 4122) bits of 16 random bytes and
/// formats them as `8-4-4-4-12` hex digits.
fn format_uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_version_and_variant_bits() {
        assert_eq!(
            format_uuid_v4([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(
            format_uuid_v4([0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
    }

    #[test]
    fn random_ids_are_distinct_v4() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| uuid_v4()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        }
    }
}
