//! Engine.IO v4 and Socket.IO v5 packet codecs for the server side: pure parsing and encoding, no I/O.
//!
//! Engine.IO carries packets as a type digit followed by data; over HTTP long-polling several
//! packets share one body, separated by the record separator 0x1E, with binary messages written
//! as `b` + standard base64. Socket.IO packets travel inside Engine.IO message packets (`4...`).
//!
//! Everything that parses client input returns a [`PacketError`] instead of panicking. Parsed data
//! is sliced out of the incoming buffer where possible, and JSON is validated but kept as raw text
//! ([`RawValue`]) so that the caller decides what to build from it.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Separates the records of a long-polling payload.
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// The longest ack id accepted: 15 decimal digits always fit in a JavaScript safe integer
/// (2^53 - 1 has 16 digits, so 16 digits may not).
pub const MAX_ACK_ID_DIGITS: usize = 15;

/// Standard alphabet; decoding accepts base64 with or without `=` padding because clients differ.
const BASE64_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard alphabet with padding, which every client decodes.
const BASE64_ENCODER: GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a packet from a client was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// No bytes at all (or an empty record inside a polling payload).
    Empty,
    /// The leading type character is not a known packet type.
    UnknownType(u8),
    /// A `b...` polling record is not valid base64.
    BadBase64,
    /// Text that must be UTF-8 is not.
    NotUtf8,
    /// A polling payload holds more records than allowed.
    TooMany,
    /// A BINARY_EVENT / BINARY_ACK lacks its `<count>-` attachment prefix.
    BadAttachments,
    /// The attachment count is above the allowed maximum.
    TooManyAttachments,
    /// An attachment count (`<count>-`) on a packet kind that has no attachments.
    UnexpectedAttachments,
    /// A namespace is followed by data without the separating `,`.
    NamespaceWithoutComma,
    /// The ack id has more than [`MAX_ACK_ID_DIGITS`] digits.
    AckIdTooLong,
    /// An ack id on a packet kind that cannot carry one (CONNECT, DISCONNECT, CONNECT_ERROR).
    UnexpectedAckId,
    /// An ACK / BINARY_ACK without an ack id.
    MissingAckId,
    /// The data is not valid JSON, or there is garbage after it.
    InvalidJson,
    /// The packet kind requires data and there is none.
    MissingData,
    /// The packet kind carries no data (DISCONNECT) but some was sent.
    UnexpectedData,
    /// EVENT / ACK data must be a JSON array.
    DataNotArray,
    /// CONNECT data must be a JSON object (CONNECT_ERROR: an object or a string).
    DataNotObject,
    /// The first element of an EVENT array (the event name) is missing or not a string.
    EventNameNotString,
    /// An object marked `"_placeholder": true` is not exactly `{"_placeholder":true,"num":N}`.
    BadPlaceholder,
    /// A placeholder refers to an attachment that the packet does not announce.
    PlaceholderOutOfRange { num: usize, attachments: usize },
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty packet"),
            Self::UnknownType(byte) => write!(f, "unknown packet type {:?}", char::from(*byte)),
            Self::BadBase64 => f.write_str("invalid base64 in binary record"),
            Self::NotUtf8 => f.write_str("text is not valid UTF-8"),
            Self::TooMany => f.write_str("too many packets in payload"),
            Self::BadAttachments => f.write_str("missing or malformed attachment count"),
            Self::TooManyAttachments => f.write_str("too many attachments"),
            Self::UnexpectedAttachments => f.write_str("attachment count on a non-binary packet"),
            Self::NamespaceWithoutComma => f.write_str("namespace not followed by ','"),
            Self::AckIdTooLong => f.write_str("ack id too long"),
            Self::UnexpectedAckId => f.write_str("ack id not allowed on this packet type"),
            Self::MissingAckId => f.write_str("ack packet without ack id"),
            Self::InvalidJson => f.write_str("invalid JSON data"),
            Self::MissingData => f.write_str("packet requires data"),
            Self::UnexpectedData => f.write_str("packet must not carry data"),
            Self::DataNotArray => f.write_str("data must be a JSON array"),
            Self::DataNotObject => f.write_str("data must be a JSON object"),
            Self::EventNameNotString => f.write_str("event name must be a string"),
            Self::BadPlaceholder => f.write_str("malformed binary placeholder"),
            Self::PlaceholderOutOfRange { num, attachments } => {
                write!(f, "placeholder {num} out of range ({attachments} attachments)")
            }
        }
    }
}

impl std::error::Error for PacketError {}

// ---------------------------------------------------------------------------------------------
// Engine.IO
// ---------------------------------------------------------------------------------------------

/// One Engine.IO v4 packet as received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket {
    Open(Bytes),
    Close,
    /// Data is e.g. `probe` during the WebSocket upgrade, or empty.
    Ping(Bytes),
    Pong(Bytes),
    /// The text after the `4` (for Socket.IO: a socket packet). Guaranteed UTF-8.
    Message(Bytes),
    Upgrade,
    Noop,
    /// A binary message (a WebSocket binary frame or a base64 polling record).
    Binary(Bytes),
}

/// Parses one text packet (a WebSocket text frame, or one record of a polling payload).
/// Data is sliced from `text`, not copied. Data after CLOSE / UPGRADE / NOOP is ignored,
/// as the reference server does. A `b` (base64) record is only valid inside a polling payload,
/// see [`parse_polling_payload`].
pub fn parse_engine_text(text: Bytes) -> Result<EnginePacket, PacketError> {
    if text.is_empty() {
        return Err(PacketError::Empty);
    }
    if std::str::from_utf8(&text).is_err() {
        return Err(PacketError::NotUtf8);
    }
    parse_engine_record(text)
}

/// Parses a record already known to be UTF-8.
fn parse_engine_record(text: Bytes) -> Result<EnginePacket, PacketError> {
    let Some(&type_byte) = text.first() else {
        return Err(PacketError::Empty);
    };
    let data = || text.slice(1..);
    Ok(match type_byte {
        b'0' => EnginePacket::Open(data()),
        b'1' => EnginePacket::Close,
        b'2' => EnginePacket::Ping(data()),
        b'3' => EnginePacket::Pong(data()),
        b'4' => EnginePacket::Message(data()),
        b'5' => EnginePacket::Upgrade,
        b'6' => EnginePacket::Noop,
        other => return Err(PacketError::UnknownType(other)),
    })
}

/// Parses one record of a polling payload: a text packet or `b` + base64 of a binary message.
fn parse_polling_record(record: Bytes) -> Result<EnginePacket, PacketError> {
    match record.split_first() {
        Some((b'b', encoded)) => BASE64_DECODER
            .decode(encoded)
            .map(|decoded| EnginePacket::Binary(Bytes::from(decoded)))
            .map_err(|_| PacketError::BadBase64),
        _ => parse_engine_record(record),
    }
}

/// Parses the records of a polling POST body (split on 0x1E; `b...` records are decoded from
/// base64 into [`EnginePacket::Binary`]). More than `max_packets` records is [`PacketError::TooMany`];
/// an empty record (e.g. a trailing separator) is [`PacketError::Empty`].
pub fn parse_polling_payload(body: Bytes, max_packets: usize) -> Result<Vec<EnginePacket>, PacketError> {
    if body.is_empty() {
        return Err(PacketError::Empty);
    }
    // Validated once for the whole body so that records need no second pass.
    if std::str::from_utf8(&body).is_err() {
        return Err(PacketError::NotUtf8);
    }
    let mut packets = Vec::new();
    let mut start = 0;
    loop {
        let end = body
            .get(start..)
            .and_then(|rest| rest.iter().position(|&byte| byte == RECORD_SEPARATOR))
            .map_or(body.len(), |offset| start + offset);
        // Checked before parsing so that an oversized payload costs no decoding work.
        if packets.len() >= max_packets {
            return Err(PacketError::TooMany);
        }
        packets.push(parse_polling_record(body.slice(start..end))?);
        if end >= body.len() {
            return Ok(packets);
        }
        start = end + 1;
    }
}

/// An encoded engine packet on its way out: text already encoded (`4...`, `2`, `6`, `0{...}`),
/// or a binary message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Text(Bytes),
    Binary(Bytes),
}

/// Length of padded standard base64 for `input_len` bytes.
fn base64_len(input_len: usize) -> usize {
    input_len.div_ceil(3) * 4
}

/// Joins outgoing packets into one polling response body (0x1E between records, binary as
/// `b` + base64). The exact size is computed first, so the body is allocated once.
pub fn polling_body(packets: &[Outgoing]) -> Vec<u8> {
    let size: usize = packets
        .iter()
        .map(|packet| match packet {
            Outgoing::Text(text) => text.len(),
            Outgoing::Binary(binary) => 1 + base64_len(binary.len()),
        })
        .sum::<usize>()
        + packets.len().saturating_sub(1);
    let mut body = Vec::with_capacity(size);
    for (index, packet) in packets.iter().enumerate() {
        if index > 0 {
            body.push(RECORD_SEPARATOR);
        }
        match packet {
            Outgoing::Text(text) => body.extend_from_slice(text),
            Outgoing::Binary(binary) => {
                body.push(b'b');
                let start = body.len();
                body.resize(start + base64_len(binary.len()), 0);
                // The slice is sized exactly for padded output, so encoding cannot run short;
                // truncating to what was written keeps the body consistent regardless.
                let written = body
                    .get_mut(start..)
                    .and_then(|target| BASE64_ENCODER.encode_slice(binary, target).ok())
                    .unwrap_or(0);
                body.truncate(start + written);
            }
        }
    }
    body
}

/// The open packet:
/// `0{"sid":"...","upgrades":[...],"pingInterval":N,"pingTimeout":N,"maxPayload":N}`.
pub fn open_packet(
    sid: &str,
    upgrades: &[&str],
    ping_interval_ms: u64,
    ping_timeout_ms: u64,
    max_payload: usize,
) -> Bytes {
    let upgrades_size: usize = upgrades.iter().map(|name| name.len() + 3).sum();
    let mut out = Vec::with_capacity(96 + sid.len() + upgrades_size);
    out.extend_from_slice(b"0{\"sid\":");
    write_json(&mut out, sid);
    out.extend_from_slice(b",\"upgrades\":[");
    for (index, name) in upgrades.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_json(&mut out, name);
    }
    out.extend_from_slice(b"],\"pingInterval\":");
    write_integer(&mut out, ping_interval_ms);
    out.extend_from_slice(b",\"pingTimeout\":");
    write_integer(&mut out, ping_timeout_ms);
    out.extend_from_slice(b",\"maxPayload\":");
    write_integer(&mut out, max_payload);
    out.push(b'}');
    Bytes::from(out)
}

// ---------------------------------------------------------------------------------------------
// Socket.IO
// ---------------------------------------------------------------------------------------------

/// The type of a Socket.IO v5 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

impl Kind {
    /// The kind for a type digit (`b'0'`..=`b'6'`).
    pub fn from_digit(digit: u8) -> Option<Kind> {
        Some(match digit {
            b'0' => Kind::Connect,
            b'1' => Kind::Disconnect,
            b'2' => Kind::Event,
            b'3' => Kind::Ack,
            b'4' => Kind::ConnectError,
            b'5' => Kind::BinaryEvent,
            b'6' => Kind::BinaryAck,
            _ => return None,
        })
    }

    /// The type digit that starts a packet of this kind.
    pub fn digit(self) -> u8 {
        match self {
            Kind::Connect => b'0',
            Kind::Disconnect => b'1',
            Kind::Event => b'2',
            Kind::Ack => b'3',
            Kind::ConnectError => b'4',
            Kind::BinaryEvent => b'5',
            Kind::BinaryAck => b'6',
        }
    }

    /// Whether packets of this kind announce binary attachments.
    pub fn is_binary(self) -> bool {
        matches!(self, Kind::BinaryEvent | Kind::BinaryAck)
    }
}

/// One Socket.IO v5 packet.
#[derive(Debug, Clone)]
pub struct SocketPacket {
    pub kind: Kind,
    /// `/` when the packet names no namespace.
    pub namespace: String,
    pub ack_id: Option<u64>,
    /// Number of binary engine messages that follow (only for BINARY_EVENT / BINARY_ACK).
    pub attachments: usize,
    /// Validated JSON, kept unparsed.
    pub data: Option<Box<RawValue>>,
}

/// `RawValue` has no `PartialEq`, so data is compared as its JSON text (exact text, not
/// semantic equality: `{"a":1}` and `{ "a": 1 }` differ).
impl PartialEq for SocketPacket {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.namespace == other.namespace
            && self.ack_id == other.ack_id
            && self.attachments == other.attachments
            && self.data.as_ref().map(|data| data.get()) == other.data.as_ref().map(|data| data.get())
    }
}

impl SocketPacket {
    /// The socket.io text of this packet (without the engine's `4`), e.g. `2/chat,12["msg"]`.
    pub fn encode(&self) -> String {
        let data = self.data.as_ref().map_or("", |data| data.get());
        let mut out = String::with_capacity(self.namespace.len() + data.len() + 24);
        out.push(char::from(self.kind.digit()));
        if self.kind.is_binary() {
            out.push_str(itoa::Buffer::new().format(self.attachments));
            out.push('-');
        }
        if !is_default_namespace(&self.namespace) {
            out.push_str(&self.namespace);
            out.push(',');
        }
        if let Some(ack_id) = self.ack_id {
            out.push_str(itoa::Buffer::new().format(ack_id));
        }
        out.push_str(data);
        out
    }
}

/// Encodes any socket packet as a complete engine message (`4` + [`SocketPacket::encode`]).
pub fn encode_socket_message(packet: &SocketPacket) -> Bytes {
    let text = packet.encode();
    let mut out = Vec::with_capacity(1 + text.len());
    out.push(b'4');
    out.extend_from_slice(text.as_bytes());
    Bytes::from(out)
}

/// Reads a packet left to right without ever indexing out of bounds.
struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn rest_bytes(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.position..).unwrap_or_default()
    }

    fn rest_str(&self) -> &'a str {
        self.text.get(self.position..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.rest_bytes().first().copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.rest_bytes().get(offset).copied()
    }

    /// Consumes `count` bytes; callers only step over ASCII bytes, so positions stay on
    /// character boundaries.
    fn advance(&mut self, count: usize) {
        self.position = (self.position + count).min(self.text.len());
    }

    /// Length of the run of ASCII digits at the cursor.
    fn digit_run(&self) -> usize {
        self.rest_bytes().iter().take_while(|byte| byte.is_ascii_digit()).count()
    }

    fn take(&mut self, count: usize) -> &'a str {
        let end = (self.position + count).min(self.text.len());
        let taken = self.text.get(self.position..end).unwrap_or_default();
        self.position = end;
        taken
    }
}

/// Parses decimal digits; `None` on overflow (the digits are known to be ASCII digits).
fn parse_decimal(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0u64, |value, digit| value.checked_mul(10)?.checked_add(u64::from(digit - b'0')))
}

fn is_default_namespace(namespace: &str) -> bool {
    namespace.is_empty() || namespace == "/"
}

fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// The raw JSON text without surrounding whitespace.
fn trimmed_json(data: &RawValue) -> &[u8] {
    let bytes = data.get().as_bytes();
    let start = bytes.iter().position(|&b| !is_json_whitespace(b)).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Checks, on valid JSON text, that it is an array whose first element is a string.
fn check_event_array(data: &RawValue) -> Result<(), PacketError> {
    let json = trimmed_json(data);
    let Some((b'[', inside)) = json.split_first() else {
        return Err(PacketError::DataNotArray);
    };
    match inside.iter().find(|&&byte| !is_json_whitespace(byte)) {
        Some(b'"') => Ok(()),
        _ => Err(PacketError::EventNameNotString),
    }
}

/// Parses a socket.io packet (the text after the engine's `4`).
///
/// Rules: the namespace starts with `/`, ends at `,` and may not contain `[`, `{` or `"` (so that
/// data glued to it without the comma is detected); an ack id has at most
/// [`MAX_ACK_ID_DIGITS`] digits, is required on ACK / BINARY_ACK and refused on CONNECT,
/// DISCONNECT and CONNECT_ERROR; an attachment count is required on BINARY_EVENT / BINARY_ACK,
/// refused elsewhere and at most `max_attachments`; EVENT data is an array starting with a
/// string, ACK data an array, CONNECT data (optional) an object, CONNECT_ERROR data an object or
/// a string, DISCONNECT has no data; the JSON must be valid with nothing after it.
pub fn parse_socket_packet(text: &str, max_attachments: usize) -> Result<SocketPacket, PacketError> {
    let mut cursor = Cursor { text, position: 0 };
    let type_byte = cursor.peek().ok_or(PacketError::Empty)?;
    let kind = Kind::from_digit(type_byte).ok_or(PacketError::UnknownType(type_byte))?;
    cursor.advance(1);

    let count_digits = cursor.digit_run();
    let dash_follows = count_digits > 0 && cursor.peek_at(count_digits) == Some(b'-');
    let attachments = if kind.is_binary() {
        if !dash_follows {
            return Err(PacketError::BadAttachments);
        }
        let count = parse_decimal(cursor.take(count_digits))
            .and_then(|count| usize::try_from(count).ok())
            .ok_or(PacketError::TooManyAttachments)?;
        if count > max_attachments {
            return Err(PacketError::TooManyAttachments);
        }
        cursor.advance(1);
        count
    } else {
        if dash_follows {
            return Err(PacketError::UnexpectedAttachments);
        }
        0
    };

    let namespace = if cursor.peek() == Some(b'/') {
        let rest = cursor.rest_bytes();
        let length = rest.iter().position(|&byte| matches!(byte, b',' | b'[' | b'{' | b'"')).unwrap_or(rest.len());
        let namespace = cursor.take(length);
        match cursor.peek() {
            Some(b',') => cursor.advance(1),
            None => {}
            Some(_) => return Err(PacketError::NamespaceWithoutComma),
        }
        namespace.to_owned()
    } else {
        String::from("/")
    };

    let id_digits = cursor.digit_run();
    let ack_id = if id_digits == 0 {
        None
    } else if id_digits > MAX_ACK_ID_DIGITS {
        return Err(PacketError::AckIdTooLong);
    } else {
        // At most 15 digits cannot overflow a u64.
        Some(parse_decimal(cursor.take(id_digits)).ok_or(PacketError::AckIdTooLong)?)
    };
    match kind {
        Kind::Ack | Kind::BinaryAck if ack_id.is_none() => return Err(PacketError::MissingAckId),
        Kind::Connect | Kind::Disconnect | Kind::ConnectError if ack_id.is_some() => {
            return Err(PacketError::UnexpectedAckId);
        }
        _ => {}
    }

    let rest = cursor.rest_str();
    let data = if rest.is_empty() {
        None
    } else {
        // `from_str` rejects anything after the value, so trailing garbage is an error.
        Some(serde_json::from_str::<Box<RawValue>>(rest).map_err(|_| PacketError::InvalidJson)?)
    };

    match kind {
        Kind::Connect => {
            if let Some(data) = &data
                && trimmed_json(data).first() != Some(&b'{')
            {
                return Err(PacketError::DataNotObject);
            }
        }
        Kind::Disconnect => {
            if data.is_some() {
                return Err(PacketError::UnexpectedData);
            }
        }
        Kind::Event | Kind::BinaryEvent => {
            check_event_array(data.as_deref().ok_or(PacketError::MissingData)?)?;
        }
        Kind::Ack | Kind::BinaryAck => {
            let data = data.as_deref().ok_or(PacketError::MissingData)?;
            if trimmed_json(data).first() != Some(&b'[') {
                return Err(PacketError::DataNotArray);
            }
        }
        Kind::ConnectError => {
            let data = data.as_deref().ok_or(PacketError::MissingData)?;
            if !matches!(trimmed_json(data).first(), Some(b'{' | b'"')) {
                return Err(PacketError::DataNotObject);
            }
        }
    }

    Ok(SocketPacket { kind, namespace, ack_id, attachments, data })
}

/// An EVENT array split into its name and its arguments, borrowing the arguments' raw JSON.
struct EventParts<'a> {
    name: String,
    arguments: Vec<&'a RawValue>,
}

impl<'de> Deserialize<'de> for EventParts<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventPartsVisitor;

        impl<'de> Visitor<'de> for EventPartsVisitor {
            type Value = EventParts<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an array starting with the event name")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Self::Value, A::Error> {
                let name: String = sequence.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let mut arguments = Vec::with_capacity(sequence.size_hint().unwrap_or(0));
                while let Some(argument) = sequence.next_element::<&'de RawValue>()? {
                    arguments.push(argument);
                }
                Ok(EventParts { name, arguments })
            }
        }

        deserializer.deserialize_seq(EventPartsVisitor)
    }
}

/// For an EVENT packet's data: the event name and the raw JSON of each argument after it,
/// in one pass and without building a `serde_json::Value` tree.
pub fn event_parts(data: &RawValue) -> Result<(String, Vec<&RawValue>), PacketError> {
    // The shape check first gives precise errors; after it, deserializing can only fail on a
    // name that is not representable as a Rust string (e.g. a lone surrogate escape).
    check_event_array(data)?;
    let parts: EventParts<'_> = serde_json::from_str(data.get()).map_err(|_| PacketError::EventNameNotString)?;
    Ok((parts.name, parts.arguments))
}

/// For ACK data (or any JSON array): the raw JSON of each element.
pub fn array_items(data: &RawValue) -> Result<Vec<&RawValue>, PacketError> {
    if trimmed_json(data).first() != Some(&b'[') {
        return Err(PacketError::DataNotArray);
    }
    serde_json::from_str(data.get()).map_err(|_| PacketError::InvalidJson)
}

/// Serializes `value` as JSON at the end of `out`. Serializing strings and `Value`s into a
/// `Vec` cannot fail, but if it ever did the output stays well-formed (`null`) instead of
/// panicking.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mark = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
}

fn write_integer<I: itoa::Integer>(out: &mut Vec<u8>, value: I) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Starts an engine message carrying a socket packet: `4`, the kind digit, and the namespace
/// with its `,` unless it is the default one.
fn start_socket_message(kind: Kind, namespace: &str, extra_capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + namespace.len() + extra_capacity);
    out.push(b'4');
    out.push(kind.digit());
    if !is_default_namespace(namespace) {
        out.extend_from_slice(namespace.as_bytes());
        out.push(b',');
    }
    out
}

/// Room reserved for JSON data whose size is not known before serializing; most events fit,
/// larger ones grow the buffer geometrically.
const DATA_CAPACITY_GUESS: usize = 128;

/// Encodes a server EVENT as a complete engine text packet:
/// `42` + (namespace + `,` unless `/`) + `["event",<data>]` (no data element when `data` is
/// `None`). The event name is JSON-escaped. Written straight into one buffer.
pub fn encode_event(namespace: &str, event: &str, data: Option<&Value>) -> Bytes {
    let data_guess = if data.is_some() { DATA_CAPACITY_GUESS } else { 0 };
    let mut out = start_socket_message(Kind::Event, namespace, event.len() + 4 + data_guess);
    out.push(b'[');
    write_json(&mut out, event);
    if let Some(data) = data {
        out.push(b',');
        write_json(&mut out, data);
    }
    out.push(b']');
    Bytes::from(out)
}

/// Encodes an ACK: `43` + namespace + ack id + `[<data>]`.
pub fn encode_ack(namespace: &str, ack_id: u64, data: &Value) -> Bytes {
    let mut out = start_socket_message(Kind::Ack, namespace, 20 + 2 + DATA_CAPACITY_GUESS);
    write_integer(&mut out, ack_id);
    out.push(b'[');
    write_json(&mut out, data);
    out.push(b']');
    Bytes::from(out)
}

/// Encodes a successful CONNECT reply: `40` + namespace + `{"sid":"..."}`.
pub fn encode_connect(namespace: &str, sid: &str) -> Bytes {
    let mut out = start_socket_message(Kind::Connect, namespace, sid.len() + 12);
    out.extend_from_slice(b"{\"sid\":");
    write_json(&mut out, sid);
    out.push(b'}');
    Bytes::from(out)
}

/// Encodes a CONNECT_ERROR: `44` + namespace + `{"message":"..."}`.
pub fn encode_connect_error(namespace: &str, message: &str) -> Bytes {
    let mut out = start_socket_message(Kind::ConnectError, namespace, message.len() + 16);
    out.extend_from_slice(b"{\"message\":");
    write_json(&mut out, message);
    out.push(b'}');
    Bytes::from(out)
}

/// Encodes a DISCONNECT: `41` for `/`, `41/chat,` otherwise.
pub fn encode_disconnect(namespace: &str) -> Bytes {
    Bytes::from(start_socket_message(Kind::Disconnect, namespace, 0))
}

// ---------------------------------------------------------------------------------------------
// Binary placeholders
// ---------------------------------------------------------------------------------------------

/// `Some(n)` when `map` is exactly a binary placeholder `{"_placeholder":true,"num":n}`.
/// Callers converting JSON into their own values use this to swap placeholders for blobs,
/// after [`check_placeholders`] has vouched for every placeholder in the value.
pub fn placeholder_index(map: &Map<String, Value>) -> Option<usize> {
    if map.len() != 2 || map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    usize::try_from(map.get("num")?.as_u64()?).ok()
}

/// Checks every placeholder inside `value`: an object with `"_placeholder": true` (the marker
/// the reference parser goes by) must be exactly `{"_placeholder":true,"num":N}` with
/// `N < attachments`. Walks with an explicit stack, so deep values cannot overflow the stack.
pub fn check_placeholders(value: &Value, attachments: usize) -> Result<(), PacketError> {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => {
                if map.get("_placeholder") == Some(&Value::Bool(true)) {
                    let num = placeholder_index(map).ok_or(PacketError::BadPlaceholder)?;
                    if num >= attachments {
                        return Err(PacketError::PlaceholderOutOfRange { num, attachments });
                    }
                } else {
                    pending.extend(map.values());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: &str) -> Bytes {
        Bytes::copy_from_slice(value.as_bytes())
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("test JSON is valid")
    }

    fn parse(value: &str) -> Result<SocketPacket, PacketError> {
        parse_socket_packet(value, 10)
    }

    fn packet(
        kind: Kind,
        namespace: &str,
        ack_id: Option<u64>,
        attachments: usize,
        data: Option<&str>,
    ) -> SocketPacket {
        SocketPacket { kind, namespace: namespace.to_owned(), ack_id, attachments, data: data.map(raw) }
    }

    /// Parses `wire`, compares with `expected`, and encodes it back to the same text.
    fn round_trip(wire: &str, expected: SocketPacket) {
        let parsed = parse(wire).unwrap_or_else(|error| panic!("{wire:?} failed: {error}"));
        assert_eq!(parsed, expected, "{wire:?}");
        assert_eq!(parsed.encode(), wire);
        assert_eq!(encode_socket_message(&parsed), Bytes::from(format!("4{wire}")));
    }

    // ----- Engine.IO text packets -----

    #[test]
    fn engine_text_packets_of_every_type() {
        assert_eq!(parse_engine_text(text("0{\"sid\":\"a\"}")), Ok(EnginePacket::Open(text("{\"sid\":\"a\"}"))));
        assert_eq!(parse_engine_text(text("1")), Ok(EnginePacket::Close));
        assert_eq!(parse_engine_text(text("2")), Ok(EnginePacket::Ping(Bytes::new())));
        assert_eq!(parse_engine_text(text("2probe")), Ok(EnginePacket::Ping(text("probe"))));
        assert_eq!(parse_engine_text(text("3")), Ok(EnginePacket::Pong(Bytes::new())));
        assert_eq!(parse_engine_text(text("3probe")), Ok(EnginePacket::Pong(text("probe"))));
        assert_eq!(parse_engine_text(text("4")), Ok(EnginePacket::Message(Bytes::new())));
        assert_eq!(
            parse_engine_text(text("42[\"chat\",\"hi\"]")),
            Ok(EnginePacket::Message(text("2[\"chat\",\"hi\"]")))
        );
        assert_eq!(parse_engine_text(text("5")), Ok(EnginePacket::Upgrade));
        assert_eq!(parse_engine_text(text("6")), Ok(EnginePacket::Noop));
    }

    #[test]
    fn engine_message_data_is_sliced_not_copied() {
        let frame = text("42[\"chat\",\"hi\"]");
        let Ok(EnginePacket::Message(data)) = parse_engine_text(frame.clone()) else {
            panic!("not a message");
        };
        assert_eq!(data.as_ptr(), frame[1..].as_ptr());
    }

    #[test]
    fn engine_text_errors() {
        assert_eq!(parse_engine_text(Bytes::new()), Err(PacketError::Empty));
        assert_eq!(parse_engine_text(text("7")), Err(PacketError::UnknownType(b'7')));
        assert_eq!(parse_engine_text(text("x")), Err(PacketError::UnknownType(b'x')));
        // Base64 records exist only inside polling payloads.
        assert_eq!(parse_engine_text(text("bAQID")), Err(PacketError::UnknownType(b'b')));
        assert_eq!(parse_engine_text(Bytes::from_static(b"4\xff\xfe")), Err(PacketError::NotUtf8));
    }

    // ----- Polling payloads -----

    #[test]
    fn polling_payload_with_several_records() {
        let body = text("2\x1e42[\"chat\",\"hi\"]\x1e3probe\x1e6");
        assert_eq!(
            parse_polling_payload(body, 16),
            Ok(vec![
                EnginePacket::Ping(Bytes::new()),
                EnginePacket::Message(text("2[\"chat\",\"hi\"]")),
                EnginePacket::Pong(text("probe")),
                EnginePacket::Noop,
            ])
        );
        assert_eq!(parse_polling_payload(text("1"), 1), Ok(vec![EnginePacket::Close]));
    }

    #[test]
    fn polling_payload_with_binary_records() {
        // The official client's binary event over polling: header then base64 attachment.
        let body = text("451-[\"upload\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID\x1eb");
        assert_eq!(
            parse_polling_payload(body, 16),
            Ok(vec![
                EnginePacket::Message(text("51-[\"upload\",{\"_placeholder\":true,\"num\":0}]")),
                EnginePacket::Binary(Bytes::from_static(&[1, 2, 3])),
                EnginePacket::Binary(Bytes::new()),
            ])
        );
        // Padding is accepted with or without `=`.
        assert_eq!(parse_polling_payload(text("bAQ=="), 4), Ok(vec![EnginePacket::Binary(Bytes::from_static(&[1]))]));
        assert_eq!(parse_polling_payload(text("bAQ"), 4), Ok(vec![EnginePacket::Binary(Bytes::from_static(&[1]))]));
    }

    #[test]
    fn polling_payload_errors() {
        assert_eq!(parse_polling_payload(Bytes::new(), 4), Err(PacketError::Empty));
        assert_eq!(parse_polling_payload(text("bA*=="), 4), Err(PacketError::BadBase64));
        assert_eq!(parse_polling_payload(text("4x\x1eb!!!"), 4), Err(PacketError::BadBase64));
        assert_eq!(parse_polling_payload(text("bA"), 4), Err(PacketError::BadBase64));
        assert_eq!(parse_polling_payload(text("2\x1e2\x1e2"), 2), Err(PacketError::TooMany));
        assert_eq!(parse_polling_payload(text("2"), 0), Err(PacketError::TooMany));
        assert_eq!(parse_polling_payload(text("2\x1e2\x1e2"), 3).map(|packets| packets.len()), Ok(3));
        assert_eq!(parse_polling_payload(text("4a\x1e"), 4), Err(PacketError::Empty));
        assert_eq!(parse_polling_payload(text("\x1e4a"), 4), Err(PacketError::Empty));
        assert_eq!(parse_polling_payload(text("4a\x1e9"), 4), Err(PacketError::UnknownType(b'9')));
        assert_eq!(parse_polling_payload(Bytes::from_static(b"4\xc3"), 4), Err(PacketError::NotUtf8));
    }

    #[test]
    fn polling_payload_with_many_separators_is_rejected_early() {
        let body = Bytes::from(vec![RECORD_SEPARATOR; 100_000]);
        assert_eq!(parse_polling_payload(body, 10), Err(PacketError::Empty));
        let body = Bytes::from("6\x1e".repeat(50_000));
        assert_eq!(parse_polling_payload(body, 10), Err(PacketError::TooMany));
    }

    #[test]
    fn polling_body_joins_records() {
        let packets = [
            Outgoing::Text(text("2")),
            Outgoing::Text(text("42[\"chat\",\"hi\"]")),
            Outgoing::Binary(Bytes::from_static(&[1, 2, 3])),
            Outgoing::Binary(Bytes::from_static(&[0xff])),
            Outgoing::Text(text("6")),
        ];
        let body = polling_body(&packets);
        assert_eq!(body, b"2\x1e42[\"chat\",\"hi\"]\x1ebAQID\x1eb/w==\x1e6");
        assert_eq!(body.len(), body.capacity());
        assert_eq!(polling_body(&[]), b"");
        assert_eq!(polling_body(&[Outgoing::Binary(Bytes::new())]), b"b");
    }

    #[test]
    fn polling_body_round_trips_through_parser() {
        let binary: Vec<u8> = (0..=255).collect();
        for length in 0..8 {
            let packets = [
                Outgoing::Text(text("0{\"sid\":\"x\"}")),
                Outgoing::Binary(Bytes::copy_from_slice(&binary[..length])),
                Outgoing::Text(encode_event("/chat", "msg", Some(&json!({"a": [1, "\u{1e}"]})))),
                Outgoing::Binary(Bytes::copy_from_slice(&binary)),
                Outgoing::Text(text("3")),
            ];
            let parsed = parse_polling_payload(Bytes::from(polling_body(&packets)), 8).expect("valid body");
            let expected: Vec<EnginePacket> = packets
                .iter()
                .map(|packet| match packet {
                    Outgoing::Binary(data) => EnginePacket::Binary(data.clone()),
                    Outgoing::Text(data) => parse_engine_text(data.clone()).expect("valid packet"),
                })
                .collect();
            assert_eq!(parsed, expected);
        }
    }

    #[test]
    fn open_packet_layout() {
        let open = open_packet("abc\"d", &["websocket"], 25_000, 20_000, 1_000_000);
        assert_eq!(
            open,
            text(
                "0{\"sid\":\"abc\\\"d\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
            )
        );
        let Ok(EnginePacket::Open(json)) = parse_engine_text(open) else { panic!("not open") };
        let value: Value = serde_json::from_slice(&json).expect("valid JSON");
        assert_eq!(value["sid"], "abc\"d");
        assert_eq!(
            open_packet("s", &[], 1, 2, 3),
            text("0{\"sid\":\"s\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":2,\"maxPayload\":3}")
        );
        assert_eq!(
            open_packet("s", &["websocket", "webtransport"], 1, 2, 3),
            text(
                "0{\"sid\":\"s\",\"upgrades\":[\"websocket\",\"webtransport\"],\"pingInterval\":1,\"pingTimeout\":2,\"maxPayload\":3}"
            )
        );
    }

    // ----- Socket.IO parse + encode, both ways -----

    #[test]
    fn brief_examples_round_trip() {
        round_trip("0", packet(Kind::Connect, "/", None, 0, None));
        round_trip("0/admin,{\"token\":\"x\"}", packet(Kind::Connect, "/admin", None, 0, Some("{\"token\":\"x\"}")));
        round_trip("2[\"chat\",\"hi\"]", packet(Kind::Event, "/", None, 0, Some("[\"chat\",\"hi\"]")));
        round_trip(
            "2/chat,12[\"msg\",{\"a\":1}]",
            packet(Kind::Event, "/chat", Some(12), 0, Some("[\"msg\",{\"a\":1}]")),
        );
        round_trip("3/chat,12[\"ok\"]", packet(Kind::Ack, "/chat", Some(12), 0, Some("[\"ok\"]")));
        round_trip(
            "51-[\"upload\",{\"_placeholder\":true,\"num\":0}]",
            packet(Kind::BinaryEvent, "/", None, 1, Some("[\"upload\",{\"_placeholder\":true,\"num\":0}]")),
        );
        round_trip("1/chat,", packet(Kind::Disconnect, "/chat", None, 0, None));
        round_trip("1", packet(Kind::Disconnect, "/", None, 0, None));
    }

    #[test]
    fn brief_examples_as_engine_messages() {
        let Ok(EnginePacket::Message(data)) = parse_engine_text(text("41/chat,")) else { panic!("not a message") };
        let socket = std::str::from_utf8(&data).expect("utf-8");
        assert_eq!(parse(socket), Ok(packet(Kind::Disconnect, "/chat", None, 0, None)));
        assert_eq!(encode_disconnect("/chat"), text("41/chat,"));
        assert_eq!(encode_disconnect("/"), text("41"));
        assert_eq!(encode_disconnect(""), text("41"));
    }

    #[test]
    fn official_client_packets() {
        // socket.io-client v4: connect to a namespace with an auth payload.
        round_trip(
            "0/admin,{\"token\":\"abc\"}",
            packet(Kind::Connect, "/admin", None, 0, Some("{\"token\":\"abc\"}")),
        );
        // Connect to a namespace without auth (the trailing comma is always sent).
        round_trip("0/admin,", packet(Kind::Connect, "/admin", None, 0, None));
        round_trip("0{\"token\":\"abc\"}", packet(Kind::Connect, "/", None, 0, Some("{\"token\":\"abc\"}")));
        // emit with an ack callback, then the client answering a server ack request.
        round_trip("21[\"hello\",\"world\"]", packet(Kind::Event, "/", Some(1), 0, Some("[\"hello\",\"world\"]")));
        round_trip(
            "2/chat,13[\"msg\",1,{\"b\":[true,null]}]",
            packet(Kind::Event, "/chat", Some(13), 0, Some("[\"msg\",1,{\"b\":[true,null]}]")),
        );
        round_trip("30[]", packet(Kind::Ack, "/", Some(0), 0, Some("[]")));
        round_trip("3/chat,7[\"ok\",42]", packet(Kind::Ack, "/chat", Some(7), 0, Some("[\"ok\",42]")));
        // Binary event with ack in a namespace, two attachments.
        round_trip(
            "52-/files,4[\"upload\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
            packet(
                Kind::BinaryEvent,
                "/files",
                Some(4),
                2,
                Some("[\"upload\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"),
            ),
        );
        // Binary ack.
        round_trip(
            "61-/files,5[{\"_placeholder\":true,\"num\":0}]",
            packet(Kind::BinaryAck, "/files", Some(5), 1, Some("[{\"_placeholder\":true,\"num\":0}]")),
        );
        // Server-to-client kinds parse too.
        round_trip(
            "4/admin,{\"message\":\"nope\"}",
            packet(Kind::ConnectError, "/admin", None, 0, Some("{\"message\":\"nope\"}")),
        );
        round_trip("4\"nope\"", packet(Kind::ConnectError, "/", None, 0, Some("\"nope\"")));
    }

    #[test]
    fn binary_event_then_attachments_over_websocket() {
        let header = parse_engine_text(text("451-[\"upload\",{\"_placeholder\":true,\"num\":0}]")).expect("valid");
        let EnginePacket::Message(data) = header else { panic!("not a message") };
        let socket = parse(std::str::from_utf8(&data).expect("utf-8")).expect("valid");
        assert_eq!(socket.kind, Kind::BinaryEvent);
        assert_eq!(socket.attachments, 1);
        let data = socket.data.expect("data");
        let (name, arguments) = event_parts(&data).expect("event");
        assert_eq!(name, "upload");
        let argument: Value = serde_json::from_str(arguments[0].get()).expect("json");
        let Value::Object(map) = &argument else { panic!("not an object") };
        assert_eq!(placeholder_index(map), Some(0));
        assert_eq!(check_placeholders(&argument, socket.attachments), Ok(()));
    }

    #[test]
    fn whitespace_around_json_is_accepted() {
        let parsed = parse("2 [ \"chat\" , 1 ] ").expect("valid");
        let (name, arguments) = event_parts(parsed.data.as_deref().expect("data")).expect("event");
        assert_eq!(name, "chat");
        assert_eq!(arguments.len(), 1);
        assert_eq!(arguments[0].get(), "1");
        assert!(parse("0 {\"a\":1}").is_ok());
    }

    #[test]
    fn ack_id_limits() {
        assert_eq!(parse("2999999999999999[\"a\"]").map(|p| p.ack_id), Ok(Some(999_999_999_999_999)));
        assert_eq!(parse("20000000000000001[\"a\"]"), Err(PacketError::AckIdTooLong));
        assert_eq!(parse("212345678901234567890[\"a\"]"), Err(PacketError::AckIdTooLong));
        assert_eq!(parse("3/chat,12345678901234567890[\"a\"]"), Err(PacketError::AckIdTooLong));
        assert_eq!(parse(&format!("2{}[\"a\"]", "9".repeat(10_000))), Err(PacketError::AckIdTooLong));
    }

    #[test]
    fn attachment_rules() {
        assert_eq!(parse_socket_packet("510-[\"a\"]", 10).map(|p| p.attachments), Ok(10));
        assert_eq!(parse_socket_packet("511-[\"a\"]", 10), Err(PacketError::TooManyAttachments));
        assert_eq!(parse_socket_packet("599999999999999999999999-[\"a\"]", 10), Err(PacketError::TooManyAttachments));
        assert_eq!(parse_socket_packet("50-[\"a\"]", 10).map(|p| p.attachments), Ok(0));
        // Missing count or missing dash on a binary kind.
        assert_eq!(parse("5[\"a\"]"), Err(PacketError::BadAttachments));
        assert_eq!(parse("5-[\"a\"]"), Err(PacketError::BadAttachments));
        assert_eq!(parse("51[\"a\"]"), Err(PacketError::BadAttachments));
        assert_eq!(parse("5"), Err(PacketError::BadAttachments));
        assert_eq!(parse("6/x,1[]"), Err(PacketError::BadAttachments));
        // Attachments on kinds that have none.
        assert_eq!(parse("21-[\"a\"]"), Err(PacketError::UnexpectedAttachments));
        assert_eq!(parse("31-1[]"), Err(PacketError::UnexpectedAttachments));
        assert_eq!(parse("01-"), Err(PacketError::UnexpectedAttachments));
    }

    #[test]
    fn malformed_socket_packets() {
        assert_eq!(parse(""), Err(PacketError::Empty));
        assert_eq!(parse("7"), Err(PacketError::UnknownType(b'7')));
        assert_eq!(parse("x[\"a\"]"), Err(PacketError::UnknownType(b'x')));
        assert_eq!(parse("é"), Err(PacketError::UnknownType(0xc3)));
        // Namespace followed by data without the comma.
        assert_eq!(parse("2/chat[\"msg\"]"), Err(PacketError::NamespaceWithoutComma));
        assert_eq!(parse("0/admin{\"token\":\"x\"}"), Err(PacketError::NamespaceWithoutComma));
        assert_eq!(parse("4/admin\"oops\""), Err(PacketError::NamespaceWithoutComma));
        // Digits glued to a namespace are part of its name; the event then has no data.
        assert_eq!(parse("2/chat12"), Err(PacketError::MissingData));
        // Ack id rules.
        assert_eq!(parse("3[\"ok\"]"), Err(PacketError::MissingAckId));
        assert_eq!(parse("61-[]"), Err(PacketError::MissingAckId));
        assert_eq!(parse("012{}"), Err(PacketError::UnexpectedAckId));
        assert_eq!(parse("1/chat,5"), Err(PacketError::UnexpectedAckId));
        // Data shape.
        assert_eq!(parse("2"), Err(PacketError::MissingData));
        assert_eq!(parse("2/chat,"), Err(PacketError::MissingData));
        assert_eq!(parse("2{\"a\":1}"), Err(PacketError::DataNotArray));
        assert_eq!(parse("2\"chat\""), Err(PacketError::DataNotArray));
        assert_eq!(parse("2[]"), Err(PacketError::EventNameNotString));
        assert_eq!(parse("2[1,\"a\"]"), Err(PacketError::EventNameNotString));
        assert_eq!(parse("2[null]"), Err(PacketError::EventNameNotString));
        assert_eq!(parse("2[[\"a\"]]"), Err(PacketError::EventNameNotString));
        assert_eq!(parse("51-[{\"_placeholder\":true,\"num\":0}]"), Err(PacketError::EventNameNotString));
        assert_eq!(parse("31{\"a\":1}"), Err(PacketError::DataNotArray));
        assert_eq!(parse("0[\"a\"]"), Err(PacketError::DataNotObject));
        assert_eq!(parse("0\"token\""), Err(PacketError::DataNotObject));
        assert_eq!(parse("0/admin,null"), Err(PacketError::DataNotObject));
        assert_eq!(parse("4"), Err(PacketError::MissingData));
        assert_eq!(parse("4[1]"), Err(PacketError::DataNotObject));
        assert_eq!(parse("1{}"), Err(PacketError::UnexpectedData));
        assert_eq!(parse("1/chat,{}"), Err(PacketError::UnexpectedData));
        // Invalid JSON and trailing garbage.
        assert_eq!(parse("2[\"chat\""), Err(PacketError::InvalidJson));
        assert_eq!(parse("2[\"chat\",]"), Err(PacketError::InvalidJson));
        assert_eq!(parse("2['chat']"), Err(PacketError::InvalidJson));
        assert_eq!(parse("2[\"chat\"]x"), Err(PacketError::InvalidJson));
        assert_eq!(parse("2[\"chat\"][\"again\"]"), Err(PacketError::InvalidJson));
        assert_eq!(parse("0/admin,{\"t\":1}}"), Err(PacketError::InvalidJson));
        assert_eq!(parse("2 "), Err(PacketError::InvalidJson));
        assert_eq!(parse("2[\"a\u{1e}\"]"), Err(PacketError::InvalidJson));
        assert_eq!(parse("0admin,{}"), Err(PacketError::InvalidJson));
        assert_eq!(parse("21-"), Err(PacketError::UnexpectedAttachments));
    }

    #[test]
    fn namespace_forms() {
        assert_eq!(parse("2/,[\"a\"]").map(|p| p.namespace), Ok(String::from("/")));
        assert_eq!(parse("0/admin").map(|p| p.namespace), Ok(String::from("/admin")));
        assert_eq!(parse("0/é,").map(|p| p.namespace), Ok(String::from("/é")));
        assert_eq!(parse("0/a/b,{}").map(|p| p.namespace), Ok(String::from("/a/b")));
    }

    #[test]
    fn deep_and_hostile_json_does_not_panic() {
        let deep = format!("2[\"a\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        let parsed = parse(&deep).expect("raw JSON keeps no tree, so depth is fine");
        let (_, arguments) = event_parts(parsed.data.as_deref().expect("data")).expect("event");
        // Building a tree from it is where depth is limited, as an error.
        assert!(serde_json::from_str::<Value>(arguments[0].get()).is_err());
        assert_eq!(parse(&format!("2{}", "[".repeat(100_000))), Err(PacketError::InvalidJson));
        // Lone surrogate in the event name: valid JSON text, but not a Rust string.
        let lone = parse("2[\"\\ud800\"]").expect("JSON syntax is valid");
        assert_eq!(event_parts(lone.data.as_deref().expect("data")).err(), Some(PacketError::EventNameNotString));
        // Arbitrary byte soup never panics.
        for soup in ["5-", "5-/", "51-/", "6999-", "/", "2/", "2/,", "3/,1", "0/\u{1e},", "2[\"\\u00e9\"]9"] {
            let _ = parse(soup);
        }
    }

    // ----- Event parts -----

    #[test]
    fn event_parts_splits_name_and_arguments() {
        let data = raw("[\"msg\",{\"a\":1},[1,2],\"s\",null]");
        let (name, arguments) = event_parts(&data).expect("event");
        assert_eq!(name, "msg");
        let arguments: Vec<&str> = arguments.iter().map(|argument| argument.get()).collect();
        assert_eq!(arguments, ["{\"a\":1}", "[1,2]", "\"s\"", "null"]);

        let only = raw("[\"only\"]");
        let (name, arguments) = event_parts(&only).expect("event");
        assert_eq!((name.as_str(), arguments.len()), ("only", 0));

        let (name, _) = event_parts(&raw("[\"a\\\"b\\n\\u00e9\"]")).expect("event");
        assert_eq!(name, "a\"b\né");

        assert_eq!(event_parts(&raw("{\"a\":1}")).err(), Some(PacketError::DataNotArray));
        assert_eq!(event_parts(&raw("[]")).err(), Some(PacketError::EventNameNotString));
        assert_eq!(event_parts(&raw("[1]")).err(), Some(PacketError::EventNameNotString));
    }

    #[test]
    fn array_items_for_acks() {
        let data = raw("[1,\"x\",{}]");
        let items = array_items(&data).expect("array");
        assert_eq!(items.iter().map(|item| item.get()).collect::<Vec<_>>(), ["1", "\"x\"", "{}"]);
        assert_eq!(array_items(&raw("[]")).map(|items| items.len()), Ok(0));
        assert_eq!(array_items(&raw("{}")).err(), Some(PacketError::DataNotArray));
    }

    // ----- Encoding -----

    #[test]
    fn encode_event_forms() {
        assert_eq!(encode_event("/", "chat", Some(&json!({"a": 1}))), text("42[\"chat\",{\"a\":1}]"));
        assert_eq!(encode_event("/", "chat", None), text("42[\"chat\"]"));
        assert_eq!(encode_event("/chat", "msg", Some(&json!("hi"))), text("42/chat,[\"msg\",\"hi\"]"));
        assert_eq!(encode_event("", "tick", Some(&json!(1))), text("42[\"tick\",1]"));
    }

    #[test]
    fn encode_event_escapes_event_names() {
        let names = ["say \"hi\"", "line\nbreak", "tab\tand\\slash", "é🎉中", "\u{0}\u{1e}\u{7f}", "\u{2028}"];
        for name in names {
            let encoded = encode_event("/room", name, Some(&json!([name])));
            let record = std::str::from_utf8(&encoded).expect("utf-8");
            assert!(!record.contains('\n') && !record.contains('\u{1e}'), "{record:?}");
            let EnginePacket::Message(data) = parse_engine_text(encoded.clone()).expect("engine") else {
                panic!("not a message");
            };
            let socket = parse(std::str::from_utf8(&data).expect("utf-8")).expect("socket");
            assert_eq!(socket.namespace, "/room");
            let (parsed_name, arguments) = event_parts(socket.data.as_deref().expect("data")).expect("event");
            assert_eq!(parsed_name, name);
            assert_eq!(serde_json::from_str::<Value>(arguments[0].get()).expect("json"), json!([name]));
        }
        assert_eq!(encode_event("/", "a\"b\nc", None), text("42[\"a\\\"b\\nc\"]"));
    }

    #[test]
    fn encode_ack_connect_error_disconnect() {
        assert_eq!(encode_ack("/", 12, &json!("ok")), text("4312[\"ok\"]"));
        assert_eq!(encode_ack("/chat", 0, &json!({"a": [1]})), text("43/chat,0[{\"a\":[1]}]"));
        assert_eq!(encode_connect("/", "s1"), text("40{\"sid\":\"s1\"}"));
        assert_eq!(encode_connect("/admin", "s\"1"), text("40/admin,{\"sid\":\"s\\\"1\"}"));
        assert_eq!(encode_connect_error("/", "Not authorized"), text("44{\"message\":\"Not authorized\"}"));
        assert_eq!(encode_connect_error("/admin", "bad \"x\"\n"), text("44/admin,{\"message\":\"bad \\\"x\\\"\\n\"}"));
        assert_eq!(encode_disconnect("/chat"), text("41/chat,"));
        assert_eq!(encode_disconnect("/"), text("41"));
    }

    #[test]
    fn encoded_server_packets_parse_back() {
        let cases = [
            (encode_ack("/chat", 9, &json!([1, 2])), Kind::Ack),
            (encode_connect("/admin", "sid"), Kind::Connect),
            (encode_connect_error("/admin", "no"), Kind::ConnectError),
            (encode_disconnect("/admin"), Kind::Disconnect),
            (encode_event("/admin", "e", Some(&json!(null))), Kind::Event),
        ];
        for (encoded, kind) in cases {
            let EnginePacket::Message(data) = parse_engine_text(encoded).expect("engine") else {
                panic!("not a message")
            };
            let socket = parse(std::str::from_utf8(&data).expect("utf-8")).expect("socket");
            assert_eq!(socket.kind, kind);
        }
    }

    // ----- Placeholders -----

    #[test]
    fn placeholder_index_needs_exact_shape() {
        let map = |value: Value| match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        };
        assert_eq!(placeholder_index(&map(json!({"_placeholder": true, "num": 3}))), Some(3));
        assert_eq!(placeholder_index(&map(json!({"_placeholder": true, "num": -1}))), None);
        assert_eq!(placeholder_index(&map(json!({"_placeholder": true, "num": 1.5}))), None);
        assert_eq!(placeholder_index(&map(json!({"_placeholder": true, "num": "1"}))), None);
        assert_eq!(placeholder_index(&map(json!({"_placeholder": true}))), None);
        assert_eq!(placeholder_index(&map(json!({"_placeholder": false, "num": 0}))), None);
        assert_eq!(placeholder_index(&map(json!({"_placeholder": true, "num": 0, "x": 1}))), None);
        assert_eq!(placeholder_index(&map(json!({"num": 0, "x": 1}))), None);
    }

    #[test]
    fn check_placeholders_walks_nested_values() {
        let value =
            json!(["upload", {"file": {"_placeholder": true, "num": 1}, "parts": [{"_placeholder": true, "num": 0}]}]);
        assert_eq!(check_placeholders(&value, 2), Ok(()));
        assert_eq!(check_placeholders(&value, 1), Err(PacketError::PlaceholderOutOfRange { num: 1, attachments: 1 }));
        assert_eq!(check_placeholders(&json!(["a", 1, "x", null]), 0), Ok(()));
        assert_eq!(
            check_placeholders(&json!(["a", {"_placeholder": true, "num": "0"}]), 1),
            Err(PacketError::BadPlaceholder)
        );
        assert_eq!(
            check_placeholders(&json!([{"deep": [[{"_placeholder": true}]]}]), 1),
            Err(PacketError::BadPlaceholder)
        );
        // Only `"_placeholder": true` marks a placeholder; other values are plain data.
        assert_eq!(check_placeholders(&json!([{"_placeholder": false, "num": 9}]), 0), Ok(()));
        assert_eq!(
            check_placeholders(&json!({"_placeholder": true, "num": 0}), 0),
            Err(PacketError::PlaceholderOutOfRange { num: 0, attachments: 0 })
        );
    }

    #[test]
    fn errors_display() {
        assert_eq!(PacketError::UnknownType(b'9').to_string(), "unknown packet type '9'");
        assert_eq!(
            PacketError::PlaceholderOutOfRange { num: 2, attachments: 1 }.to_string(),
            "placeholder 2 out of range (1 attachments)"
        );
    }
}
