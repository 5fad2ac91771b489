//! Delivery payloads as stored: LZ4-compressed, with their size as received.
//!
//! Purpose: a GitHub payload is 10–30 KB of JSON that LZ4 shrinks about 4.5× in ~8 µs.
//! Stored as received it spanned four database pages, each written to SQLite's WAL
//! and again by the checkpoint: that copying was half of the inbox writer's time.
//! The size as received lets a read be bounded before anything is decompressed.

/// How `body` holds the payload (the `encoding` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// UTF-8 as received: rows copied by migration 0035, and payloads LZ4 cannot shrink.
    Text = 0,
    /// An LZ4 block (no frame, no size prefix: `size` is the decompressed length).
    Lz4 = 1,
}

/// No stored payload is larger: webhooks stop at GitHub's 25 MiB and the other inbox
/// writers below that. Checked before decompressing, so a damaged `size` cannot make a
/// read allocate gigabytes.
const MAX_SIZE: usize = 32 * 1024 * 1024;

/// A payload ready to be written.
#[derive(Debug, Clone)]
pub struct StoredPayload {
    encoding: Encoding,
    size: usize,
    body: Vec<u8>,
}

/// A stored payload that cannot be read back (a damaged row).
#[derive(Debug, thiserror::Error)]
#[error("the stored payload of delivery row {id} cannot be read: {reason}")]
pub struct PayloadError {
    pub id: i64,
    pub reason: String,
}

impl StoredPayload {
    /// Compresses `text` (done by the request that received it, so the inbox writer,
    /// which every delivery waits for, only copies bytes).
    pub fn new(text: &str) -> Self {
        let (encoding, body) = match compress(text.as_bytes()) {
            Some(compressed) => (Encoding::Lz4, compressed),
            None => (Encoding::Text, text.as_bytes().to_vec()),
        };
        Self {
            encoding,
            size: text.len(),
            body,
        }
    }

    /// The `encoding`, `size` and `body` columns.
    pub(super) fn columns(&self) -> (i64, i64, &[u8]) {
        (self.encoding as i64, self.size as i64, &self.body)
    }

    /// The text of row `id` from its three columns.
    pub(super) fn decode(
        id: i64,
        encoding: i64,
        size: i64,
        body: Vec<u8>,
    ) -> Result<String, PayloadError> {
        let fail = |reason: String| PayloadError { id, reason };
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_SIZE)
            .ok_or_else(|| fail(format!("its recorded size {size} is out of range")))?;
        let bytes = match encoding {
            e if e == Encoding::Text as i64 => body,
            e if e == Encoding::Lz4 as i64 => {
                lz4_flex::block::decompress(&body, size).map_err(|e| fail(format!("LZ4: {e}")))?
            }
            other => return Err(fail(format!("unknown encoding {other}"))),
        };
        if bytes.len() != size {
            return Err(fail(format!(
                "{} bytes where {size} were stored",
                bytes.len()
            )));
        }
        String::from_utf8(bytes).map_err(|e| fail(format!("not UTF-8: {e}")))
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A scratch buffer above this is not kept, so one huge payload does not pin its size
/// on every thread.
const KEEP: usize = 1 << 20;

/// The LZ4 block of `input`, or `None` when it would not be smaller.
///
/// Compresses into a buffer each thread keeps: `lz4_flex::block::compress` zeroes a
/// fresh worst-case buffer (input + 10 %) for every payload, then shrinks it; here only
/// the compressed bytes are allocated, once.
fn compress(input: &[u8]) -> Option<Vec<u8>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let needed = lz4_flex::block::get_maximum_output_size(input.len());
        if scratch.len() < needed {
            scratch.resize(needed, 0);
        }
        // Cannot fail: the buffer has the worst-case size lz4_flex documents.
        let n = lz4_flex::block::compress_into(input, scratch).ok();
        let compressed = n
            .filter(|n| *n < input.len())
            .map(|n| scratch[..n].to_vec());
        if scratch.len() > KEEP {
            *scratch = Vec::new();
        }
        compressed
    })
}

impl From<&str> for StoredPayload {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(p: &StoredPayload) -> Result<String, PayloadError> {
        let (encoding, size, body) = p.columns();
        StoredPayload::decode(7, encoding, size, body.to_vec())
    }

    #[test]
    fn json_is_compressed_and_reads_back_as_it_came() {
        let text = format!("{{\"items\":[{}]}}", vec!["{\"a\":\"é\"}"; 500].join(","));
        let p = StoredPayload::new(&text);
        assert_eq!(p.encoding, Encoding::Lz4);
        assert!(p.body.len() * 4 < text.len(), "{} bytes", p.body.len());
        assert_eq!(round_trip(&p).unwrap(), text);
    }

    #[test]
    fn a_payload_over_the_kept_scratch_size_round_trips_and_its_buffer_is_let_go() {
        let big = format!("[{}]", vec!["{\"k\":\"abcdefgh\"}"; 100_000].join(","));
        assert!(big.len() > KEEP);
        let p = StoredPayload::new(&big);
        assert_eq!(p.encoding, Encoding::Lz4);
        assert_eq!(round_trip(&p).unwrap(), big);
        assert_eq!(SCRATCH.with_borrow(|s| s.len()), 0);

        // The next payload gets a buffer again and nothing of the big one.
        let small = "{\"zen\":\"x\"}".repeat(40);
        let p = StoredPayload::new(&small);
        assert_eq!(p.encoding, Encoding::Lz4);
        assert_eq!(round_trip(&p).unwrap(), small);
        assert!(SCRATCH.with_borrow(|s| s.len()) >= small.len());
    }

    #[test]
    fn what_lz4_cannot_shrink_is_kept_as_text() {
        let p = StoredPayload::new("{}");
        assert_eq!(p.encoding, Encoding::Text);
        assert_eq!(round_trip(&p).unwrap(), "{}");
    }

    #[test]
    fn a_damaged_row_is_an_error_naming_it_not_a_panic_or_a_huge_allocation() {
        let p = StoredPayload::new(&"{\"k\":1}".repeat(100));
        let (encoding, size, body) = p.columns();
        let err = |e, s, b: &[u8]| {
            StoredPayload::decode(7, e, s, b.to_vec())
                .unwrap_err()
                .to_string()
        };
        assert!(err(encoding, 1 << 40, body).contains("size"));
        assert!(err(encoding, size, &body[..body.len() / 2]).contains("LZ4"));
        assert!(err(encoding, size + 1, body).contains("stored"));
        assert!(err(9, size, body).contains("unknown encoding 9"));
        assert!(err(0, 2, b"\xff\xfe").contains("UTF-8"));
        assert!(err(9, size, body).contains("delivery row 7"));
    }
}
