//! A hand-framed HTTP/2 client for attack tests. It does what a client library never would:
//! open streams past the server's limit, grant no flow-control window, start bodies that
//! never end, send one huge header. Header blocks use HPACK literals only (no table, no
//! Huffman), which every decoder must accept.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
/// Every window before settings or updates change it (RFC 9113 §6.9.2).
const DEFAULT_WINDOW: i64 = 65_535;
/// The frame size every peer must accept before settings say otherwise.
const MAX_FRAME: usize = 16_384;

/// `RST_STREAM` error code for a stream the server would not take.
pub const REFUSED_STREAM: u32 = 0x7;

/// What the server has said so far.
#[derive(Debug, Default)]
pub struct Heard {
    /// Streams the server reset, with the error code.
    pub resets: HashMap<u32, u32>,
    /// Streams that got a response head.
    pub responses: HashSet<u32>,
    /// Streams answered 200 (`:status` as the static table's entry 8, the way every HPACK
    /// encoder writes it).
    pub ok: HashSet<u32>,
    /// Streams whose response ended (END_STREAM on HEADERS or DATA).
    pub finished: HashSet<u32>,
    /// Response bytes received (DATA payloads).
    pub data_bytes: usize,
    /// The error code of a GOAWAY, if one came.
    pub goaway: Option<u32>,
    /// The connection ended (end of input or an error).
    pub closed: bool,
}

/// One HTTP/2 connection over any byte stream whose reads time out (set a short read timeout
/// on the socket first: reads are polled).
pub struct RawH2<S> {
    io: S,
    next_stream: u32,
    authority: String,
    scheme: &'static str,
    pending_in: Vec<u8>,
    /// What the server lets this client send: on the connection, and on each stream
    /// (`stream_window_start` plus the updates it got).
    connection_window: i64,
    stream_window_start: i64,
    stream_windows: HashMap<u32, i64>,
    pub heard: Heard,
}

impl<S: Read + Write> RawH2<S> {
    /// Sends the preface and a SETTINGS frame granting `initial_window` bytes per stream
    /// (0: the server may send no response body at all).
    pub fn open(io: S, authority: &str, tls: bool, initial_window: u32) -> io::Result<Self> {
        let mut connection = Self {
            io,
            next_stream: 1,
            authority: authority.to_string(),
            scheme: if tls { "https" } else { "http" },
            pending_in: Vec::new(),
            connection_window: DEFAULT_WINDOW,
            stream_window_start: DEFAULT_WINDOW,
            stream_windows: HashMap::new(),
            heard: Heard::default(),
        };
        connection.io.write_all(PREFACE)?;
        let mut settings = Vec::new();
        settings.extend_from_slice(&SETTINGS_INITIAL_WINDOW_SIZE.to_be_bytes());
        settings.extend_from_slice(&initial_window.to_be_bytes());
        connection.frame(SETTINGS, 0, 0, &settings)?;
        connection.io.flush()?;
        Ok(connection)
    }

    fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> io::Result<()> {
        let length = payload.len() as u32;
        let mut head = [0u8; 9];
        head[..3].copy_from_slice(&length.to_be_bytes()[1..]);
        head[3] = kind;
        head[4] = flags;
        head[5..].copy_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        self.io.write_all(&head)?;
        self.io.write_all(payload)
    }

    /// Opens a stream with the given method, path and extra header fields; returns its id.
    /// The header block is split into CONTINUATION frames when it is large.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        fields: &[(&str, &str)],
        end_stream: bool,
    ) -> io::Result<u32> {
        let stream = self.next_stream;
        self.next_stream += 2;
        let mut block = Vec::new();
        let pseudo = [
            (":method", method),
            (":scheme", self.scheme),
            (":path", path),
            (":authority", self.authority.as_str()),
        ];
        for (name, value) in pseudo.iter().chain(fields.iter()) {
            literal(&mut block, name, value);
        }
        let mut chunks = block.chunks(MAX_FRAME).peekable();
        let first = chunks.next().unwrap_or(&[]);
        let mut flags = if end_stream { END_STREAM } else { 0 };
        if chunks.peek().is_none() {
            flags |= END_HEADERS;
        }
        self.frame(HEADERS, flags, stream, first)?;
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            self.frame(
                CONTINUATION,
                if last { END_HEADERS } else { 0 },
                stream,
                chunk,
            )?;
        }
        Ok(stream)
    }

    /// Sends as many of `bytes` on a stream as the server's windows allow (a client that
    /// sent more would only earn a FLOW_CONTROL_ERROR), never ending the stream; returns how
    /// many went.
    pub fn data(&mut self, stream: u32, bytes: &[u8]) -> io::Result<usize> {
        let stream_window = *self
            .stream_windows
            .entry(stream)
            .or_insert(self.stream_window_start);
        let allowed = stream_window.min(self.connection_window).max(0) as usize;
        let sending = &bytes[..bytes.len().min(allowed)];
        for chunk in sending.chunks(MAX_FRAME) {
            self.frame(DATA, 0, stream, chunk)?;
        }
        self.connection_window -= sending.len() as i64;
        if let Some(window) = self.stream_windows.get_mut(&stream) {
            *window -= sending.len() as i64;
        }
        Ok(sending.len())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }

    /// Reads and notes what the server sends for `duration`, answering its SETTINGS and
    /// PINGs as a client must (and granting nothing else).
    pub fn listen(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut buf = vec![0u8; 64 * 1024];
        while !self.heard.closed && Instant::now() < until {
            match self.io.read(&mut buf) {
                Ok(0) => self.heard.closed = true,
                Ok(n) => {
                    self.pending_in.extend_from_slice(&buf[..n]);
                    if self.parse().is_err() {
                        self.heard.closed = true;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.heard.closed = true,
            }
        }
    }

    fn parse(&mut self) -> io::Result<()> {
        loop {
            if self.pending_in.len() < 9 {
                return Ok(());
            }
            let length = u32::from_be_bytes([
                0,
                self.pending_in[0],
                self.pending_in[1],
                self.pending_in[2],
            ]) as usize;
            if self.pending_in.len() < 9 + length {
                return Ok(());
            }
            let kind = self.pending_in[3];
            let flags = self.pending_in[4];
            let stream = be_u32(&self.pending_in[5..]) & 0x7fff_ffff;
            let payload: Vec<u8> = self.pending_in[9..9 + length].to_vec();
            self.pending_in.drain(..9 + length);
            match kind {
                HEADERS => {
                    // A response head, not trailers: the first for its stream.
                    if self.heard.responses.insert(stream) && payload.first() == Some(&0x88) {
                        self.heard.ok.insert(stream);
                    }
                    if flags & END_STREAM != 0 {
                        self.heard.finished.insert(stream);
                    }
                }
                DATA => {
                    self.heard.data_bytes += payload.len();
                    if flags & END_STREAM != 0 {
                        self.heard.finished.insert(stream);
                    }
                }
                RST_STREAM if payload.len() >= 4 => {
                    let code = be_u32(&payload);
                    self.heard.resets.insert(stream, code);
                }
                SETTINGS if flags & ACK == 0 => {
                    for setting in payload.chunks_exact(6) {
                        if u16::from_be_bytes([setting[0], setting[1]])
                            == SETTINGS_INITIAL_WINDOW_SIZE
                        {
                            let value = i64::from(be_u32(&setting[2..]));
                            let change = value - self.stream_window_start;
                            self.stream_window_start = value;
                            for window in self.stream_windows.values_mut() {
                                *window += change;
                            }
                        }
                    }
                    self.frame(SETTINGS, ACK, 0, &[])?;
                    self.io.flush()?;
                }
                PING if flags & ACK == 0 => {
                    self.frame(PING, ACK, 0, &payload)?;
                    self.io.flush()?;
                }
                WINDOW_UPDATE if payload.len() >= 4 => {
                    let increment = i64::from(be_u32(&payload) & 0x7fff_ffff);
                    if stream == 0 {
                        self.connection_window += increment;
                    } else {
                        *self
                            .stream_windows
                            .entry(stream)
                            .or_insert(self.stream_window_start) += increment;
                    }
                }
                GOAWAY if payload.len() >= 8 => {
                    self.heard.goaway = Some(be_u32(&payload[4..]));
                }
                _ => {}
            }
        }
    }
}

/// The big-endian `u32` at the start of `bytes` (callers checked there are four).
fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// An HPACK "literal header field without indexing — new name", lengths as HPACK integers.
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    integer(block, name.len(), 7, 0x00);
    block.extend_from_slice(name.as_bytes());
    integer(block, value.len(), 7, 0x00);
    block.extend_from_slice(value.as_bytes());
}

/// An HPACK integer with an `prefix`-bit prefix (RFC 7541 §5.1); `high` holds the bits above it.
fn integer(block: &mut Vec<u8>, mut value: usize, prefix: u8, high: u8) {
    let max = (1usize << prefix) - 1;
    if value < max {
        block.push(high | value as u8);
        return;
    }
    block.push(high | max as u8);
    value -= max;
    while value >= 128 {
        block.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    block.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpack_integers_follow_the_rfc_examples() {
        // RFC 7541 C.1.1 and C.1.2.
        let mut small = Vec::new();
        integer(&mut small, 10, 5, 0);
        assert_eq!(small, [10]);
        let mut large = Vec::new();
        integer(&mut large, 1337, 5, 0);
        assert_eq!(large, [31, 154, 10]);
    }
}
