//! Splits the broker's byte stream into whole packets and checks what the
//! protocol engine would otherwise trip over.
//!
//! Why a framer in front of mqtt-protocol-core: fuzzing found that the
//! engine (0.7.9) panics on a QoS 1/2 PUBLISH or an acknowledgement with
//! packet id 0 (it builds its automatic reply with `unwrap`). A packet id
//! of 0 is malformed in MQTT 3.1.1 and 5, so such packets are refused here,
//! before the engine sees them, and the connection closes with a clear
//! reason. Whole packets also let the size limit apply as soon as a fixed
//! header is read, whatever the split of the input.

/// Why a packet was refused before reaching the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The remaining length runs past four bytes.
    MalformedLength,
    /// The packet is larger than the limit.
    TooLarge,
    /// A packet that needs a packet id carries 0 or none.
    BadPacketId(&'static str),
}

impl FrameError {
    pub(crate) fn detail(&self) -> String {
        match self {
            Self::MalformedLength => {
                "malformed packet: remaining length longer than 4 bytes".to_owned()
            }
            Self::TooLarge => "packet too large".to_owned(),
            Self::BadPacketId(packet) => {
                format!("malformed packet: {packet} without a valid packet id")
            }
        }
    }
}

/// Reassembles packets from chunks of any size.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    pending: Vec<u8>,
}

/// The length of the packet at the start of `bytes`, if its fixed header
/// is complete: `(header length, remaining length)`.
fn fixed_header(bytes: &[u8]) -> Result<Option<(usize, usize)>, FrameError> {
    let mut remaining = 0usize;
    for index in 0..4 {
        let Some(&byte) = bytes.get(1 + index) else {
            return Ok(None);
        };
        remaining |= usize::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(Some((2 + index, remaining)));
        }
    }
    if bytes.len() > 4 {
        Err(FrameError::MalformedLength)
    } else {
        Ok(None)
    }
}

fn packet_id_at(body: &[u8], at: usize) -> Option<u16> {
    let high = *body.get(at)?;
    let low = *body.get(at + 1)?;
    Some(u16::from_be_bytes([high, low]))
}

/// Packet ids must be present and non-zero where MQTT requires them.
fn check(packet: &[u8], header_len: usize) -> Result<(), FrameError> {
    let first = packet[0];
    let body = &packet[header_len..];
    let (name, id) = match first >> 4 {
        3 => {
            let qos = (first >> 1) & 0x03;
            if qos == 0 {
                return Ok(());
            }
            let topic_len = usize::from(packet_id_at(body, 0).unwrap_or(u16::MAX));
            ("PUBLISH", packet_id_at(body, 2 + topic_len))
        }
        4 => ("PUBACK", packet_id_at(body, 0)),
        5 => ("PUBREC", packet_id_at(body, 0)),
        6 => ("PUBREL", packet_id_at(body, 0)),
        7 => ("PUBCOMP", packet_id_at(body, 0)),
        9 => ("SUBACK", packet_id_at(body, 0)),
        11 => ("UNSUBACK", packet_id_at(body, 0)),
        _ => return Ok(()),
    };
    match id {
        Some(id) if id != 0 => Ok(()),
        _ => Err(FrameError::BadPacketId(name)),
    }
}

impl Framer {
    /// Forgets a partial packet (the socket closed).
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// Adds `bytes` and calls `each` with every whole packet now available,
    /// in order, until it returns false. A refused packet ends the stream.
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        max_size: usize,
        mut each: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), FrameError> {
        // Without a partial packet, work on the input as is (no copy).
        let owned;
        let input: &[u8] = if self.pending.is_empty() {
            bytes
        } else {
            self.pending.extend_from_slice(bytes);
            owned = std::mem::take(&mut self.pending);
            &owned
        };
        let mut offset = 0;
        while offset < input.len() {
            let rest = &input[offset..];
            let Some((header_len, remaining)) = fixed_header(rest)? else {
                break;
            };
            let total = header_len + remaining;
            if total > max_size {
                return Err(FrameError::TooLarge);
            }
            if rest.len() < total {
                break;
            }
            let packet = &rest[..total];
            check(packet, header_len)?;
            offset += total;
            if !each(packet) {
                return Ok(());
            }
        }
        self.pending = input[offset..].to_vec();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn packets(framer: &mut Framer, bytes: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        framer.feed(bytes, 1024, |p| {
            out.push(p.to_vec());
            true
        })?;
        Ok(out)
    }

    #[test]
    fn reassembles_any_split() {
        // PINGRESP, then PUBACK id 1, then PUBLISH QoS 0 "t" "x".
        let wire = [
            0xD0, 0x00, 0x40, 0x02, 0x00, 0x01, 0x30, 0x04, 0x00, 0x01, b't', b'x',
        ];
        for chunk in 1..wire.len() {
            let mut framer = Framer::default();
            let mut all = Vec::new();
            for part in wire.chunks(chunk) {
                all.extend(packets(&mut framer, part).unwrap());
            }
            assert_eq!(
                all,
                vec![wire[0..2].to_vec(), wire[2..6].to_vec(), wire[6..].to_vec()]
            );
        }
    }

    #[test]
    fn refuses_packet_id_zero_long_lengths_and_oversize() {
        let mut framer = Framer::default();
        // PUBLISH QoS 2, topic "t", packet id 0.
        assert_eq!(
            packets(&mut framer, &[0x34, 0x05, 0x00, 0x01, b't', 0x00, 0x00]),
            Err(FrameError::BadPacketId("PUBLISH"))
        );
        // PUBREL with packet id 0.
        assert_eq!(
            packets(&mut Framer::default(), &[0x62, 0x02, 0x00, 0x00]),
            Err(FrameError::BadPacketId("PUBREL"))
        );
        // PUBACK too short to hold a packet id.
        assert_eq!(
            packets(&mut Framer::default(), &[0x40, 0x00]),
            Err(FrameError::BadPacketId("PUBACK"))
        );
        assert_eq!(
            packets(
                &mut Framer::default(),
                &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
            ),
            Err(FrameError::MalformedLength)
        );
        // 2,000 bytes announced, limit 1,024: refused from the header alone.
        assert_eq!(
            packets(&mut Framer::default(), &[0x30, 0xD0, 0x0F]),
            Err(FrameError::TooLarge)
        );
    }
}
