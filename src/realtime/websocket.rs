//! Server-side RFC 6455 WebSocket frame codec: pure parsing and encoding, no I/O.
//!
//! The reader parses client frames out of a caller-owned `BytesMut` that the caller fills from
//! the socket. A complete, unfragmented frame is unmasked in place and handed out as a slice of
//! that buffer (no copy, no allocation); only a fragmented message is copied into a buffer of
//! its own while it is being assembled. Once the caller drops the returned `Bytes`, a later
//! `BytesMut::reserve` on the read buffer can reuse the same allocation, so a connection keeps
//! one small read buffer for its whole life.
//!
//! The writer produces unmasked server frames (servers never mask), either whole or as a
//! header alone so one payload can be shared by many connections in vectored writes.

use base64::Engine as _;
use bytes::{Buf as _, Bytes, BytesMut};
use sha1::{Digest as _, Sha1};

/// The GUID that RFC 6455 section 1.3 appends to the client's key before hashing.
const HANDSHAKE_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Longest header a client frame can have: 2 fixed bytes, 8 bytes of extended length and a
/// 4-byte masking key. A caller whose buffer holds fewer bytes than a whole header can reserve
/// this much, since `FrameReader::wanted` cannot say more before the header is complete.
pub const MAX_CLIENT_HEADER_LEN: usize = 14;

/// Largest payload a control frame may carry (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Largest close reason that still fits a control frame after the 2-byte code.
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
///
/// Surrounding ASCII whitespace is ignored, as HTTP header values may carry it.
#[must_use]
pub fn accept_key(client_key: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(client_key.trim_ascii());
    hasher.update(HANDSHAKE_GUID);
    let digest = hasher.finalize();
    base64::engine::general_purpose::STANDARD.encode(digest.as_slice())
}

/// One complete message from the client. Data payloads are already unmasked and, for text,
/// checked to be UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Valid UTF-8 (checked on the whole assembled message).
    Text(Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    /// The status code, if the client sent one. The reason text is checked, then dropped.
    Close(Option<u16>),
}

/// Why a client's bytes cannot be accepted. Each maps to the close code the server sends
/// before closing the connection; after an error the reader must not be used again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A frame payload, or an assembled message, above the limit given to `FrameReader::new`.
    TooLarge,
    /// The client broke the framing rules; the text says which rule.
    Protocol(&'static str),
    /// A text message or a close reason that is not UTF-8.
    InvalidUtf8,
}

impl FrameError {
    /// The close code (RFC 6455 section 7.4.1) the server sends for this error.
    #[must_use]
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TooLarge => 1009,
            FrameError::Protocol(_) => 1002,
            FrameError::InvalidUtf8 => 1007,
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge => f.write_str("websocket message too large"),
            FrameError::Protocol(rule) => write!(f, "websocket protocol error: {rule}"),
            FrameError::InvalidUtf8 => f.write_str("websocket text is not valid UTF-8"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Frame opcodes defined by RFC 6455; every other value is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation = 0,
    Text = 1,
    Binary = 2,
    Close = 8,
    Ping = 9,
    Pong = 10,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        match bits {
            0 => Some(Opcode::Continuation),
            1 => Some(Opcode::Text),
            2 => Some(Opcode::Binary),
            8 => Some(Opcode::Close),
            9 => Some(Opcode::Ping),
            10 => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// Control opcodes have the high bit of the 4-bit opcode set (RFC 6455 section 5.5).
    fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A frame header as it appears on the wire, before any rule is checked.
struct RawHeader {
    fin: bool,
    reserved_bits: u8,
    opcode_bits: u8,
    /// `None` when the client did not mask the frame (which is an error for a server).
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: u64,
}

/// Reads the header at the front of `buf`, or `None` if not all of its bytes are there yet.
fn parse_header(buf: &[u8]) -> Option<RawHeader> {
    let (&first, rest) = buf.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let (payload_len, rest) = match second & 0x7f {
        126 => {
            let (bytes, rest) = rest.split_first_chunk::<2>()?;
            (u64::from(u16::from_be_bytes(*bytes)), rest)
        }
        127 => {
            let (bytes, rest) = rest.split_first_chunk::<8>()?;
            (u64::from_be_bytes(*bytes), rest)
        }
        short => (u64::from(short), rest),
    };
    let mask = if second & 0x80 != 0 { Some(*rest.first_chunk::<4>()?) } else { None };
    let header_len = buf.len() - rest.len() + if mask.is_some() { 4 } else { 0 };
    Some(RawHeader {
        fin: first & 0x80 != 0,
        reserved_bits: first & 0x70,
        opcode_bits: first & 0x0f,
        mask,
        header_len,
        payload_len,
    })
}

/// A header that passed every rule that can be checked before the payload arrives.
struct CheckedHeader {
    fin: bool,
    opcode: Opcode,
    mask: [u8; 4],
    header_len: usize,
    payload_len: usize,
}

/// XORs `payload` with the 4-byte masking key, starting at key byte 0.
///
/// Works on 8-byte words so the loop is one XOR per word instead of a branch per byte.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    // Native-endian load and store keep byte order, so repeating the key bytes in order is right.
    let wide_mask = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = payload.chunks_exact_mut(8);
    for word in &mut words {
        if let Ok(word) = <&mut [u8; 8]>::try_from(word) {
            *word = (u64::from_ne_bytes(*word) ^ wide_mask).to_ne_bytes();
        }
    }
    // The words covered a multiple of 4 bytes, so the tail starts again at key byte 0.
    for (byte, key) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// Whether a close code may appear in a close frame (RFC 6455 section 7.4). Codes that are
/// only for local reporting (1005, 1006, 1015) or unassigned are a protocol error.
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Reads client frames out of a byte buffer the caller fills from the socket.
///
/// Holds only the limit and, while a fragmented message is arriving, its opcode and the bytes
/// assembled so far.
#[derive(Debug)]
pub struct FrameReader {
    max_message: usize,
    /// The data message being assembled from fragments: its first frame's opcode and payload.
    fragmented: Option<(Opcode, BytesMut)>,
}

impl FrameReader {
    /// A reader that rejects any frame or assembled message above `max_message` payload bytes.
    #[must_use]
    pub fn new(max_message: usize) -> Self {
        FrameReader { max_message, fragmented: None }
    }

    /// Parses the next complete message from the front of `buf`, removing the bytes it used.
    ///
    /// `Ok(None)` means more bytes are needed; nothing is consumed then, except whole frames
    /// already copied into a fragmented message being assembled. Control frames that arrive
    /// between fragments are returned at once. A header announcing too large a payload is an
    /// error as soon as the header is read, without waiting for the payload.
    ///
    /// An unfragmented message's payload is a slice of `buf`'s allocation (no copy): drop it
    /// before reserving more space in `buf` so that space can be reused.
    ///
    /// # Errors
    ///
    /// A `FrameError` when the client broke a rule; send a close frame with
    /// `FrameError::close_code` and close the connection. The reader's state is then undefined.
    pub fn read(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, FrameError> {
        loop {
            let Some(raw) = parse_header(buf) else {
                return Ok(None);
            };
            let header = self.check(&raw)?;
            let frame_len = header.header_len.checked_add(header.payload_len).ok_or(FrameError::TooLarge)?;
            if buf.len() < frame_len {
                return Ok(None);
            }
            let mut payload = buf.split_to(frame_len);
            payload.advance(header.header_len);
            unmask(&mut payload, header.mask);

            if header.opcode.is_control() {
                return control_message(header.opcode, payload.freeze()).map(Some);
            }
            match (header.opcode, header.fin) {
                // A whole message in one frame: hand out the read buffer's bytes, no copy.
                (opcode, true) if opcode != Opcode::Continuation => {
                    return data_message(opcode, payload.freeze()).map(Some);
                }
                (Opcode::Continuation, fin) => {
                    // `check` guarantees a fragmented message is open for a continuation.
                    let Some((opcode, mut assembled)) = self.fragmented.take() else {
                        return Err(FrameError::Protocol("continuation without a start frame"));
                    };
                    assembled.extend_from_slice(&payload);
                    if fin {
                        return data_message(opcode, assembled.freeze()).map(Some);
                    }
                    self.fragmented = Some((opcode, assembled));
                }
                (opcode, _) => {
                    // The first fragment: copy it out so `buf` can be refilled meanwhile.
                    let mut assembled = BytesMut::with_capacity(payload.len());
                    assembled.extend_from_slice(&payload);
                    self.fragmented = Some((opcode, assembled));
                }
            }
            // A fragment was consumed; the next frame may already be in `buf`.
        }
    }

    /// How many more bytes the frame at the front of `buf` needs, when known, so the caller
    /// can reserve exactly that. `None` if the header is not complete yet (at most
    /// `MAX_CLIENT_HEADER_LEN` bytes). `Some(0)` if the frame is complete, or if the header is
    /// already invalid (then `read` returns the error without waiting for more bytes).
    #[must_use]
    pub fn wanted(&self, buf: &[u8]) -> Option<usize> {
        let raw = parse_header(buf)?;
        let Ok(header) = self.check(&raw) else {
            return Some(0);
        };
        let frame_len = header.header_len.saturating_add(header.payload_len);
        Some(frame_len.saturating_sub(buf.len()))
    }

    /// Applies every rule that the header alone decides, given the fragmentation state.
    fn check(&self, raw: &RawHeader) -> Result<CheckedHeader, FrameError> {
        if raw.reserved_bits != 0 {
            // No extension is negotiated, so RSV1-3 must be clear (RFC 6455 section 5.2).
            return Err(FrameError::Protocol("reserved bits set"));
        }
        let opcode = Opcode::from_bits(raw.opcode_bits).ok_or(FrameError::Protocol("unknown opcode"))?;
        let mask = raw.mask.ok_or(FrameError::Protocol("unmasked client frame"))?;
        if raw.payload_len >> 63 != 0 {
            return Err(FrameError::Protocol("64-bit length with the top bit set"));
        }
        if opcode.is_control() {
            if !raw.fin {
                return Err(FrameError::Protocol("fragmented control frame"));
            }
            if raw.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(FrameError::Protocol("control frame payload over 125 bytes"));
            }
        } else {
            match (opcode, &self.fragmented) {
                (Opcode::Continuation, None) => {
                    return Err(FrameError::Protocol("continuation without a start frame"));
                }
                (Opcode::Text | Opcode::Binary, Some(_)) => {
                    return Err(FrameError::Protocol("new data frame while a fragmented message is open"));
                }
                _ => {}
            }
        }
        let payload_len = usize::try_from(raw.payload_len).map_err(|_| FrameError::TooLarge)?;
        if payload_len > self.max_message {
            return Err(FrameError::TooLarge);
        }
        if opcode == Opcode::Continuation {
            let assembled_len = self.fragmented.as_ref().map_or(0, |(_, assembled)| assembled.len());
            if assembled_len.saturating_add(payload_len) > self.max_message {
                return Err(FrameError::TooLarge);
            }
        }
        Ok(CheckedHeader { fin: raw.fin, opcode, mask, header_len: raw.header_len, payload_len })
    }
}

/// Turns a complete data message into a `Message`, checking text for UTF-8.
fn data_message(opcode: Opcode, payload: Bytes) -> Result<Message, FrameError> {
    if opcode == Opcode::Text {
        std::str::from_utf8(&payload).map_err(|_| FrameError::InvalidUtf8)?;
        Ok(Message::Text(payload))
    } else {
        Ok(Message::Binary(payload))
    }
}

/// Turns a control frame's payload into a `Message`, checking a close frame's contents.
fn control_message(opcode: Opcode, payload: Bytes) -> Result<Message, FrameError> {
    match opcode {
        Opcode::Ping => Ok(Message::Ping(payload)),
        Opcode::Pong => Ok(Message::Pong(payload)),
        _ => match payload.split_first_chunk::<2>() {
            None if payload.is_empty() => Ok(Message::Close(None)),
            None => Err(FrameError::Protocol("close payload of 1 byte")),
            Some((code, reason)) => {
                let code = u16::from_be_bytes(*code);
                if !is_valid_close_code(code) {
                    return Err(FrameError::Protocol("invalid close code"));
                }
                std::str::from_utf8(reason).map_err(|_| FrameError::InvalidUtf8)?;
                Ok(Message::Close(Some(code)))
            }
        },
    }
}

/// Appends a complete unmasked server frame (FIN set) to `out`: header (2, 4 or 10 bytes)
/// then payload.
pub fn write_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    let (header, header_len) = frame_header(opcode, payload.len());
    out.reserve(header_len + payload.len());
    out.extend_from_slice(&header[..header_len]);
    out.extend_from_slice(payload);
}

/// Just the header of such a frame, for writing the payload separately (vectored writes, the
/// same payload bytes shared between many connections): returns the header bytes and their
/// length.
#[must_use]
pub fn frame_header(opcode: Opcode, payload_len: usize) -> ([u8; 10], usize) {
    let mut header = [0u8; 10];
    header[0] = 0x80 | opcode as u8;
    // usize is at most 64 bits on every supported target, so the cast cannot truncate.
    let len = payload_len as u64;
    let header_len = match (u8::try_from(len), u16::try_from(len)) {
        (Ok(short), _) if short <= 125 => {
            header[1] = short;
            2
        }
        (_, Ok(medium)) => {
            header[1] = 126;
            header[2..4].copy_from_slice(&medium.to_be_bytes());
            4
        }
        _ => {
            header[1] = 127;
            header[2..10].copy_from_slice(&len.to_be_bytes());
            10
        }
    };
    (header, header_len)
}

/// A close frame payload: code (big endian) then an optional reason.
///
/// The reason is cut, on a character boundary, to the 123 bytes a control frame leaves for it.
#[must_use]
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut reason_len = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(reason_len) {
        reason_len -= 1;
    }
    let mut payload = Vec::with_capacity(2 + reason_len);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..reason_len]);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes one client frame the way a browser would: masked, with the shortest length.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len <= 125 {
            frame.push(0x80 | len as u8);
        } else if len <= 0xffff {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        frame
    }

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        client_frame(true, opcode, payload, MASK)
    }

    fn buffer(parts: &[&[u8]]) -> BytesMut {
        let mut buf = BytesMut::new();
        for part in parts {
            buf.extend_from_slice(part);
        }
        buf
    }

    /// A small deterministic generator so the random tests need no extra dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    fn read_err(reader: &mut FrameReader, bytes: &[u8]) -> FrameError {
        let mut buf = BytesMut::from(bytes);
        reader.read(&mut buf).expect_err("expected an error")
    }

    #[test]
    fn rfc_accept_key() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accept_key(b" dGhlIHNhbXBsZSBub25jZQ==\t"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    const RFC_HELLO: [u8; 11] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

    #[test]
    fn rfc_masked_hello() {
        let mut reader = FrameReader::new(1024);
        let mut buf = BytesMut::from(&RFC_HELLO[..]);
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Text(Bytes::from_static(b"Hello")))));
        assert!(buf.is_empty());
        assert_eq!(reader.read(&mut buf), Ok(None));
    }

    #[test]
    fn byte_by_byte_feeding() {
        let mut reader = FrameReader::new(1024);
        let mut buf = BytesMut::new();
        for (i, &byte) in RFC_HELLO.iter().enumerate() {
            assert_eq!(reader.read(&mut buf), Ok(None), "after {i} bytes");
            assert_eq!(buf.len(), i, "nothing consumed before the frame is complete");
            buf.extend_from_slice(&[byte]);
        }
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Text(Bytes::from_static(b"Hello")))));
        assert!(buf.is_empty());
    }

    #[test]
    fn byte_by_byte_fragmented_with_control_in_between() {
        let mut stream = client_frame(false, 0x2, b"abc", MASK);
        stream.extend(masked(0x9, b"p"));
        stream.extend(client_frame(false, 0x0, b"", MASK));
        stream.extend(client_frame(true, 0x0, b"de", MASK));
        let mut reader = FrameReader::new(1024);
        let mut buf = BytesMut::new();
        let mut messages = Vec::new();
        for &byte in &stream {
            buf.extend_from_slice(&[byte]);
            if let Some(message) = reader.read(&mut buf).expect("valid stream") {
                messages.push(message);
            }
        }
        assert_eq!(
            messages,
            vec![Message::Ping(Bytes::from_static(b"p")), Message::Binary(Bytes::from_static(b"abcde")),]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn wanted_reports_missing_bytes() {
        let reader = FrameReader::new(100_000);
        assert_eq!(reader.wanted(&[]), None);
        assert_eq!(reader.wanted(&RFC_HELLO[..1]), None);
        assert_eq!(reader.wanted(&RFC_HELLO[..5]), None, "mask key incomplete");
        assert_eq!(reader.wanted(&RFC_HELLO[..6]), Some(5));
        assert_eq!(reader.wanted(&RFC_HELLO[..10]), Some(1));
        assert_eq!(reader.wanted(&RFC_HELLO), Some(0));

        let big = masked(0x2, &[7; 70_000]);
        assert_eq!(reader.wanted(&big[..9]), None, "64-bit length incomplete");
        assert_eq!(reader.wanted(&big[..13]), None);
        assert_eq!(reader.wanted(&big[..14]), Some(70_000));
        assert_eq!(reader.wanted(&big[..100]), Some(70_000 - 86));

        let medium = masked(0x2, &[7; 300]);
        assert_eq!(reader.wanted(&medium[..3]), None, "16-bit length incomplete");
        assert_eq!(reader.wanted(&medium[..8]), Some(300));

        // An invalid header needs nothing more: `read` reports it at once.
        assert_eq!(reader.wanted(&[0x81, 0x05]), Some(0), "unmasked");
        assert_eq!(FrameReader::new(10).wanted(&medium[..8]), Some(0), "too large");
    }

    #[test]
    fn fragmented_text_with_ping_in_the_middle() {
        // "é" is split across the two fragments, so UTF-8 must be checked on the whole message.
        let text = "Héllo";
        let (first, second) = text.as_bytes().split_at(2);
        let mut reader = FrameReader::new(1024);
        let mut buf = buffer(&[
            &client_frame(false, 0x1, first, MASK),
            &masked(0x9, b"ping!"),
            &client_frame(true, 0x0, second, [1, 2, 3, 4]),
        ]);
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Ping(Bytes::from_static(b"ping!")))));
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Text(Bytes::from(text)))));
        assert!(buf.is_empty());
        assert_eq!(reader.read(&mut buf), Ok(None));
    }

    #[test]
    fn fragment_consumed_while_waiting_for_the_rest() {
        let mut reader = FrameReader::new(1024);
        let mut buf = buffer(&[&client_frame(false, 0x1, b"Hel", MASK)]);
        assert_eq!(reader.read(&mut buf), Ok(None));
        assert!(buf.is_empty(), "the first fragment was moved into the assembly buffer");
        let last = client_frame(true, 0x0, b"lo", MASK);
        buf.extend_from_slice(&last[..3]);
        assert_eq!(reader.read(&mut buf), Ok(None));
        assert_eq!(buf.len(), 3, "an incomplete frame is left in place");
        buf.extend_from_slice(&last[3..]);
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Text(Bytes::from_static(b"Hello")))));
    }

    #[test]
    fn sixteen_bit_length() {
        let payload: Vec<u8> = (0..256u32).map(|i| i as u8).collect();
        let frame = masked(0x2, &payload);
        assert_eq!(&frame[..4], &[0x82, 0xfe, 0x01, 0x00]);
        let mut reader = FrameReader::new(1 << 20);
        let mut buf = BytesMut::from(&frame[..]);
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Binary(Bytes::from(payload)))));
        assert!(buf.is_empty());
    }

    #[test]
    fn sixty_four_bit_length() {
        let payload: Vec<u8> = (0..65_536u32).map(|i| (i * 7) as u8).collect();
        let frame = masked(0x2, &payload);
        assert_eq!(&frame[..10], &[0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0]);
        let mut reader = FrameReader::new(1 << 20);
        let mut buf = BytesMut::from(&frame[..]);
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Binary(Bytes::from(payload)))));
        assert!(buf.is_empty());
    }

    #[test]
    fn non_minimal_length_encodings_are_accepted() {
        // 16-bit and 64-bit fields that hold a small length.
        let mut frame = vec![0x82, 0x80 | 126, 0, 3];
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(b"abc");
        let mut reader = FrameReader::new(100);
        assert_eq!(reader.read(&mut BytesMut::from(&frame[..])), Ok(Some(Message::Binary(Bytes::from_static(b"abc")))));
        let mut frame = vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 1];
        frame.extend_from_slice(&[0; 4]);
        frame.push(b'z');
        assert_eq!(reader.read(&mut BytesMut::from(&frame[..])), Ok(Some(Message::Binary(Bytes::from_static(b"z")))));
    }

    #[test]
    fn read_buffer_allocation_is_reused() {
        // The memory goal: a long stream of small messages never makes the read buffer grow
        // or move, as long as each message is dropped before the next reserve.
        let mut reader = FrameReader::new(1024);
        let mut buf = BytesMut::with_capacity(256);
        let base = buf.as_ptr() as usize;
        let frame = masked(0x1, &[b'x'; 100]);
        for _ in 0..1000 {
            buf.reserve(frame.len());
            let start = buf.as_ptr() as usize;
            assert!(start >= base && start + frame.len() <= base + 256, "buffer moved");
            buf.extend_from_slice(&frame);
            let message = reader.read(&mut buf).expect("valid frame");
            assert!(matches!(message, Some(Message::Text(ref text)) if text.len() == 100));
        }
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let mut reader = FrameReader::new(1024);
        let mut buf = buffer(&[&masked(0x1, b"one"), &masked(0x2, b"two")]);
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Text(Bytes::from_static(b"one")))));
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Binary(Bytes::from_static(b"two")))));
        assert!(buf.is_empty());
        assert_eq!(reader.read(&mut buf), Ok(None));
    }

    #[test]
    fn zero_length_frames() {
        let mut reader = FrameReader::new(1024);
        let mut buf = buffer(&[
            &masked(0x1, b""),
            &masked(0x2, b""),
            &masked(0x9, b""),
            &masked(0xA, b""),
            &client_frame(false, 0x1, b"", MASK),
            &client_frame(false, 0x0, b"", MASK),
            &client_frame(true, 0x0, b"", MASK),
            &masked(0x8, b""),
        ]);
        let expected = [
            Message::Text(Bytes::new()),
            Message::Binary(Bytes::new()),
            Message::Ping(Bytes::new()),
            Message::Pong(Bytes::new()),
            Message::Text(Bytes::new()),
            Message::Close(None),
        ];
        for message in expected {
            assert_eq!(reader.read(&mut buf), Ok(Some(message)));
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn close_frames() {
        let mut reader = FrameReader::new(1024);
        let mut buf = buffer(&[
            &masked(0x8, &close_payload(1000, "")),
            &masked(0x8, &close_payload(4000, "bye ✓")),
            &masked(0x8, &[]),
        ]);
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Close(Some(1000)))));
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Close(Some(4000)))));
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Close(None))));
    }

    #[test]
    fn error_unmasked_client_frame() {
        let mut reader = FrameReader::new(1024);
        let error = read_err(&mut reader, &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
        assert_eq!(error, FrameError::Protocol("unmasked client frame"));
        assert_eq!(error.close_code(), 1002);
        // Rejected from the header alone, even with the payload still missing.
        assert!(reader.read(&mut BytesMut::from(&[0x81, 0x05][..])).is_err());
    }

    #[test]
    fn error_reserved_bits() {
        for bit in [0x40, 0x20, 0x10] {
            let mut frame = masked(0x1, b"x");
            frame[0] |= bit;
            let error = read_err(&mut FrameReader::new(1024), &frame);
            assert_eq!(error, FrameError::Protocol("reserved bits set"), "bit {bit:#x}");
        }
    }

    #[test]
    fn error_unknown_opcodes() {
        for opcode in (3..=7).chain(11..=15) {
            let error = read_err(&mut FrameReader::new(1024), &masked(opcode, b"x"));
            assert_eq!(error, FrameError::Protocol("unknown opcode"), "opcode {opcode}");
        }
    }

    #[test]
    fn error_control_frame_too_long() {
        for opcode in [0x8, 0x9, 0xA] {
            let mut payload = vec![b'a'; 126];
            payload[..2].copy_from_slice(&1000u16.to_be_bytes());
            let error = read_err(&mut FrameReader::new(1024), &masked(opcode, &payload));
            assert_eq!(error, FrameError::Protocol("control frame payload over 125 bytes"));
            // 125 bytes is still allowed.
            let mut buf = BytesMut::from(&masked(opcode, &payload[..125])[..]);
            assert!(matches!(FrameReader::new(1024).read(&mut buf), Ok(Some(_))));
        }
    }

    #[test]
    fn error_fragmented_control_frame() {
        for opcode in [0x8, 0x9, 0xA] {
            let frame = client_frame(false, opcode, b"", MASK);
            let error = read_err(&mut FrameReader::new(1024), &frame);
            assert_eq!(error, FrameError::Protocol("fragmented control frame"));
        }
    }

    #[test]
    fn error_continuation_without_start() {
        for fin in [true, false] {
            let frame = client_frame(fin, 0x0, b"x", MASK);
            let error = read_err(&mut FrameReader::new(1024), &frame);
            assert_eq!(error, FrameError::Protocol("continuation without a start frame"));
        }
        // Also after a fragmented message has been completed.
        let mut reader = FrameReader::new(1024);
        let mut buf = buffer(&[
            &client_frame(false, 0x1, b"a", MASK),
            &client_frame(true, 0x0, b"b", MASK),
            &client_frame(true, 0x0, b"c", MASK),
        ]);
        assert!(matches!(reader.read(&mut buf), Ok(Some(Message::Text(_)))));
        assert!(matches!(reader.read(&mut buf), Err(FrameError::Protocol(_))));
    }

    #[test]
    fn error_new_data_frame_while_fragmented_open() {
        for (first, second) in [(0x1, 0x1), (0x1, 0x2), (0x2, 0x1), (0x2, 0x2)] {
            for second_fin in [true, false] {
                let mut reader = FrameReader::new(1024);
                let mut buf =
                    buffer(&[&client_frame(false, first, b"a", MASK), &client_frame(second_fin, second, b"b", MASK)]);
                assert_eq!(
                    reader.read(&mut buf),
                    Err(FrameError::Protocol("new data frame while a fragmented message is open"))
                );
            }
        }
    }

    #[test]
    fn error_close_payload_of_one_byte() {
        let error = read_err(&mut FrameReader::new(1024), &masked(0x8, &[0x03]));
        assert_eq!(error, FrameError::Protocol("close payload of 1 byte"));
        assert_eq!(error.close_code(), 1002);
    }

    #[test]
    fn error_close_reason_not_utf8() {
        let mut payload = close_payload(1000, "");
        payload.extend_from_slice(&[0xff, 0xfe]);
        let error = read_err(&mut FrameReader::new(1024), &masked(0x8, &payload));
        assert_eq!(error, FrameError::InvalidUtf8);
        assert_eq!(error.close_code(), 1007);
    }

    #[test]
    fn error_invalid_close_codes() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let error = read_err(&mut FrameReader::new(1024), &masked(0x8, &close_payload(code, "")));
            assert_eq!(error, FrameError::Protocol("invalid close code"), "code {code}");
        }
        for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 4999] {
            let mut buf = BytesMut::from(&masked(0x8, &close_payload(code, ""))[..]);
            assert_eq!(FrameReader::new(1024).read(&mut buf), Ok(Some(Message::Close(Some(code)))));
        }
    }

    #[test]
    fn error_text_not_utf8() {
        let error = read_err(&mut FrameReader::new(1024), &masked(0x1, &[b'a', 0xc3]));
        assert_eq!(error, FrameError::InvalidUtf8);
        assert_eq!(error.close_code(), 1007);
        // A character cut off at the end of a fragmented message.
        let mut reader = FrameReader::new(1024);
        let mut buf = buffer(&[&client_frame(false, 0x1, b"a", MASK), &client_frame(true, 0x0, &[0xe2, 0x9c], MASK)]);
        assert_eq!(reader.read(&mut buf), Err(FrameError::InvalidUtf8));
        // Binary messages are not checked.
        let mut buf = BytesMut::from(&masked(0x2, &[0xff])[..]);
        assert!(matches!(reader.read(&mut buf), Ok(Some(Message::Binary(_)))));
    }

    #[test]
    fn error_frame_too_large() {
        let mut reader = FrameReader::new(10);
        let mut buf = BytesMut::from(&masked(0x2, &[0; 10])[..]);
        assert!(matches!(reader.read(&mut buf), Ok(Some(Message::Binary(_)))));
        let error = read_err(&mut reader, &masked(0x2, &[0; 11]));
        assert_eq!(error, FrameError::TooLarge);
        assert_eq!(error.close_code(), 1009);
    }

    #[test]
    fn error_assembled_message_too_large() {
        let mut reader = FrameReader::new(10);
        let mut buf = buffer(&[
            &client_frame(false, 0x2, &[0; 6], MASK),
            &client_frame(false, 0x0, &[0; 4], MASK),
            &client_frame(true, 0x0, &[0; 1], MASK),
        ]);
        assert_eq!(reader.read(&mut buf), Err(FrameError::TooLarge));
        // Exactly at the limit is fine.
        let mut reader = FrameReader::new(10);
        let mut buf = buffer(&[&client_frame(false, 0x2, &[0; 6], MASK), &client_frame(true, 0x0, &[0; 4], MASK)]);
        assert_eq!(reader.read(&mut buf), Ok(Some(Message::Binary(Bytes::from(vec![0; 10])))));
    }

    #[test]
    fn oversize_header_rejected_before_payload_arrives() {
        let mut reader = FrameReader::new(1000);
        // 16-bit length 1001, masking key, no payload yet.
        let mut buf = BytesMut::from(&[0x82, 0xfe, 0x03, 0xe9, 1, 2, 3, 4][..]);
        assert_eq!(reader.read(&mut buf), Err(FrameError::TooLarge));
        // 64-bit length of 4 GiB, no payload yet.
        let mut buf = BytesMut::from(&[0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4][..]);
        assert_eq!(reader.read(&mut buf), Err(FrameError::TooLarge));
        // A continuation that would push the assembled message over the limit.
        let mut reader = FrameReader::new(1000);
        let mut buf = buffer(&[&client_frame(false, 0x1, &[b'a'; 900], MASK)]);
        assert_eq!(reader.read(&mut buf), Ok(None));
        buf.extend_from_slice(&[0x80, 0xfe, 0x00, 0x65, 1, 2, 3, 4]);
        assert_eq!(reader.read(&mut buf), Err(FrameError::TooLarge));
    }

    #[test]
    fn error_64_bit_length_with_top_bit_set() {
        let mut reader = FrameReader::new(usize::MAX);
        let mut buf = BytesMut::from(&[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4][..]);
        assert_eq!(reader.read(&mut buf), Err(FrameError::Protocol("64-bit length with the top bit set")));
    }

    #[test]
    fn huge_limit_does_not_overflow() {
        // A legal but enormous length with no limit must just wait for bytes, not overflow.
        let mut reader = FrameReader::new(usize::MAX);
        let header = [0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4];
        let mut buf = BytesMut::from(&header[..]);
        assert_eq!(reader.read(&mut buf), Ok(None));
        assert_eq!(buf.len(), header.len());
        assert!(reader.wanted(&header).is_some());
    }

    #[test]
    fn close_codes_of_errors() {
        assert_eq!(FrameError::TooLarge.close_code(), 1009);
        assert_eq!(FrameError::Protocol("x").close_code(), 1002);
        assert_eq!(FrameError::InvalidUtf8.close_code(), 1007);
    }

    #[test]
    fn frame_header_lengths() {
        let cases: [(usize, usize, &[u8]); 6] = [
            (0, 2, &[0x82, 0]),
            (125, 2, &[0x82, 125]),
            (126, 4, &[0x82, 126, 0, 126]),
            (65_535, 4, &[0x82, 126, 0xff, 0xff]),
            (65_536, 10, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
            (1 << 32, 10, &[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for (payload_len, header_len, bytes) in cases {
            let (header, len) = frame_header(Opcode::Binary, payload_len);
            assert_eq!(len, header_len, "payload {payload_len}");
            assert_eq!(&header[..len], bytes, "payload {payload_len}");
        }
        let (header, len) = frame_header(Opcode::Text, 5);
        assert_eq!(&header[..len], &[0x81, 5]);
        let (header, len) = frame_header(Opcode::Close, 2);
        assert_eq!(&header[..len], &[0x88, 2]);
        let (header, len) = frame_header(Opcode::Ping, 0);
        assert_eq!(&header[..len], &[0x89, 0]);
        let (header, len) = frame_header(Opcode::Pong, 0);
        assert_eq!(&header[..len], &[0x8A, 0]);
    }

    #[test]
    fn write_frame_lengths() {
        for (payload_len, header_len) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let payload = vec![0xab; payload_len];
            let mut out = vec![0xee]; // existing contents are kept
            write_frame(&mut out, Opcode::Binary, &payload);
            assert_eq!(out.len(), 1 + header_len + payload_len);
            assert_eq!(out[0], 0xee);
            let (header, len) = frame_header(Opcode::Binary, payload_len);
            assert_eq!(&out[1..1 + header_len], &header[..len]);
            assert_eq!(&out[1 + header_len..], &payload[..]);
        }
        let mut out = Vec::new();
        write_frame(&mut out, Opcode::Text, b"Hello");
        assert_eq!(out, [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    }

    #[test]
    fn close_payload_encoding() {
        assert_eq!(close_payload(1000, ""), [0x03, 0xe8]);
        assert_eq!(close_payload(1009, "big"), [0x03, 0xf1, b'b', b'i', b'g']);
        // Cut to fit a control frame without splitting a character (✓ is 3 bytes).
        let long = "✓".repeat(50);
        let payload = close_payload(1000, &long);
        assert_eq!(payload.len(), 2 + 123);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        let long = format!("a{}", "✓".repeat(50));
        let payload = close_payload(1000, &long);
        assert_eq!(payload.len(), 2 + 121);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
    }

    #[test]
    fn unmask_matches_bytewise_reference() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for len in 0..80 {
            let data = rng.bytes(len);
            let mask = [rng.next() as u8, rng.next() as u8, rng.next() as u8, rng.next() as u8];
            let mut fast = data.clone();
            unmask(&mut fast, mask);
            let reference: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(fast, reference, "len {len}");
        }
    }

    #[test]
    fn round_trip_random_payloads() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut sizes: Vec<usize> = (0..=300).collect();
        sizes.extend([1000, 4095, 4096, 4097, 65_534, 65_535, 65_536, 65_537, 100_000]);
        let mut reader = FrameReader::new(200_000);
        // One reusable read buffer, filled in random-sized chunks as a socket would.
        let mut buf = BytesMut::with_capacity(4096);
        for size in sizes {
            let is_text = rng.below(2) == 0;
            let payload = if is_text {
                // Mixed 1- to 4-byte characters, exactly `size` bytes long.
                let mut text = String::with_capacity(size);
                while text.len() < size {
                    let character = ['a', 'é', '✓', '𝄞'][rng.below(4)];
                    let fits = text.len() + character.len_utf8() <= size;
                    text.push(if fits { character } else { 'a' });
                }
                text.into_bytes()
            } else {
                rng.bytes(size)
            };
            // Split into 1 to 4 fragments, with a ping between fragments now and then.
            let fragments = 1 + rng.below(4);
            let mut stream = Vec::new();
            let mut expected_pings = Vec::new();
            let mut start = 0;
            for index in 0..fragments {
                let end =
                    if index + 1 == fragments { payload.len() } else { start + rng.below(payload.len() - start + 1) };
                let opcode = match (index, is_text) {
                    (0, true) => 0x1,
                    (0, false) => 0x2,
                    _ => 0x0,
                };
                let mask = (rng.next() as u32).to_be_bytes();
                stream.extend(client_frame(index + 1 == fragments, opcode, &payload[start..end], mask));
                if index + 1 < fragments && rng.below(2) == 0 {
                    let ping_len = rng.below(126);
                    let ping = rng.bytes(ping_len);
                    stream.extend(client_frame(true, 0x9, &ping, [9, 8, 7, 6]));
                    expected_pings.push(Message::Ping(Bytes::from(ping)));
                }
                start = end;
            }

            let mut received = Vec::new();
            let mut fed = 0;
            while fed < stream.len() {
                let chunk = 1 + rng.below(8192).min(stream.len() - fed - 1);
                buf.extend_from_slice(&stream[fed..fed + chunk]);
                fed += chunk;
                while let Some(message) = reader.read(&mut buf).expect("valid stream") {
                    received.push(message);
                }
            }
            let mut expected = expected_pings;
            expected.push(if is_text {
                Message::Text(Bytes::from(payload))
            } else {
                Message::Binary(Bytes::from(payload))
            });
            assert_eq!(received, expected, "size {size}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn server_frames_decode_with_test_client() {
        /// Decodes one unmasked server frame as a client would: (fin, opcode, payload).
        fn decode_server_frame(frame: &[u8]) -> (bool, u8, &[u8]) {
            let (len, start) = match frame[1] {
                126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
                127 => {
                    let mut bytes = [0; 8];
                    bytes.copy_from_slice(&frame[2..10]);
                    (u64::from_be_bytes(bytes) as usize, 10)
                }
                short => (short as usize, 2),
            };
            assert_eq!(frame[1] & 0x80, 0, "servers never mask");
            assert_eq!(frame.len(), start + len);
            (frame[0] & 0x80 != 0, frame[0] & 0x0f, &frame[start..])
        }
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        for size in (0..300).chain([65_535, 65_536, 70_000]) {
            let payload = rng.bytes(size);
            let mut out = Vec::new();
            write_frame(&mut out, Opcode::Binary, &payload);
            assert_eq!(decode_server_frame(&out), (true, 2, &payload[..]));
        }
    }
}
