//! libgit2's plain TCP stream, replaced by one that sends small writes at once.
//!
//! Purpose: libgit2 writes an HTTP request's headers, then its body (in chunked
//! encoding, three writes a chunk) as separate `send`s on a socket without
//! `TCP_NODELAY`. Nagle's algorithm then holds the body until the server
//! acknowledges the headers, and servers delay that acknowledgement (40 ms on
//! Linux): every `POST git-upload-pack` of a fetch waited 40–47 ms for nothing
//! (seen with strace against a local smart-HTTP server; the git CLI, through curl,
//! sets `TCP_NODELAY`). This stream is libgit2's own in every other respect: the
//! same connect and stall timeouts, the same keepalive, the same error classes;
//! TLS (`https://`) runs over it too, since libgit2's OpenSSL stream opens its
//! socket through the same registry.
//!
//! It also bounds each read and write by the fetch's deadline (`with_deadline`), so
//! a server that accepts a fetch and then says nothing frees its thread at the
//! deadline instead of a whole stall timeout later.
//!
//! Registered once per process (`register`); if libgit2 refuses, its own stream
//! stays in use and a warning says so. Checked by hand against a local TLS server
//! (`openssl s_server`): libgit2's `https://` requests reach it through this stream
//! and get the same answer as through libgit2's own.

use std::cell::Cell;
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{SockRef, TcpKeepalive};

/// `GIT_STREAM_VERSION` and `GIT_STREAM_STANDARD` of `git2/sys/stream.h`.
const STREAM_VERSION: c_int = 1;
const STREAM_STANDARD: c_int = 1;

/// `git_stream` of `git2/sys/stream.h`, field for field. The two one-bit fields
/// `encrypted` and `proxy_support` share one `unsigned int`; both are 0 here.
#[repr(C)]
struct RawStream {
    version: c_int,
    flags: c_uint,
    timeout: c_int,
    connect_timeout: c_int,
    connect: Option<unsafe extern "C" fn(*mut RawStream) -> c_int>,
    certificate: Option<unsafe extern "C" fn(*mut *mut c_void, *mut RawStream) -> c_int>,
    set_proxy: Option<unsafe extern "C" fn(*mut RawStream, *const c_void) -> c_int>,
    read: Option<unsafe extern "C" fn(*mut RawStream, *mut c_void, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut RawStream, *const c_char, usize, c_int) -> isize>,
    close: Option<unsafe extern "C" fn(*mut RawStream) -> c_int>,
    free: Option<unsafe extern "C" fn(*mut RawStream)>,
}

/// `git_stream_registration`.
#[repr(C)]
struct Registration {
    version: c_int,
    init: Option<unsafe extern "C" fn(*mut *mut RawStream, *const c_char, *const c_char) -> c_int>,
    wrap: Option<unsafe extern "C" fn(*mut *mut RawStream, *mut RawStream, *const c_char) -> c_int>,
}

unsafe extern "C" {
    fn git_stream_register(kind: c_int, registration: *mut Registration) -> c_int;
}

/// Our stream: libgit2 sees only `raw`, the first field, and hands it back to the
/// callbacks, which cast it back to the whole.
#[repr(C)]
struct Stream {
    raw: RawStream,
    host: String,
    port: String,
    socket: Option<TcpStream>,
    /// The read/write timeout last set on the socket (a syscall each, so only when
    /// it changes).
    applied: Option<Duration>,
}

thread_local! {
    /// The deadline of the fetch this thread is running, if any: libgit2 calls the
    /// stream on the thread that called `git_remote_fetch`.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `work` (a fetch) with every socket read and write bounded by `deadline`.
pub fn with_deadline<T>(deadline: Instant, work: impl FnOnce() -> T) -> T {
    struct Reset(Option<Instant>);
    impl Drop for Reset {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(DEADLINE.with(|d| d.replace(Some(deadline))));
    work()
}

/// Makes libgit2 open its TCP connections through this stream, with these
/// timeouts (initialising libgit2 first). The first call decides; later ones
/// change nothing.
pub fn register(connect_timeout: Duration, stall_timeout: Duration) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = CONFIG.set((connect_timeout, stall_timeout));
        libgit2_sys::init();
        let mut registration = Registration {
            version: STREAM_VERSION,
            init: Some(stream_new),
            wrap: None,
        };
        // SAFETY: libgit2 copies the registration under its registry lock; the
        // function it names lives as long as the process.
        let rc = unsafe { git_stream_register(STREAM_STANDARD, &mut registration) };
        if rc < 0 {
            tracing::warn!(
                code = rc,
                "libgit2 refused the TCP_NODELAY socket stream; its own (slower) one stays in use"
            );
        }
    });
}

/// The timeouts `register` was given, for every stream: (connect, stall).
static CONFIG: std::sync::OnceLock<(Duration, Duration)> = std::sync::OnceLock::new();

/// `CONFIG`; streams exist only once `register` has set it.
fn timeouts() -> (Duration, Duration) {
    CONFIG.get().copied().unwrap_or_default()
}

/// Sets libgit2's last error to `message` (class `GIT_ERROR_NET`).
fn set_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: libgit2 copies the string.
    unsafe {
        libgit2_sys::git_error_set_str(libgit2_sys::GIT_ERROR_NET as c_int, text.as_ptr());
    }
}

/// # Safety
/// Called by libgit2 with valid out pointer and NUL-terminated host and port.
unsafe extern "C" fn stream_new(
    out: *mut *mut RawStream,
    host: *const c_char,
    port: *const c_char,
) -> c_int {
    if out.is_null() || host.is_null() {
        set_error("no host to connect to");
        return -1;
    }
    // SAFETY: libgit2 passes NUL-terminated strings that outlive this call.
    let text = |p: *const c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // libgit2 never reads `timeout` and `connect_timeout` of a custom stream; they
    // are filled in as its own stream fills them.
    let (connect_timeout, stall_timeout) = timeouts();
    let stream = Box::new(Stream {
        raw: RawStream {
            version: STREAM_VERSION,
            flags: 0,
            timeout: stall_timeout.as_millis() as c_int,
            connect_timeout: connect_timeout.as_millis() as c_int,
            connect: Some(stream_connect),
            certificate: None,
            set_proxy: None,
            read: Some(stream_read),
            write: Some(stream_write),
            close: Some(stream_close),
            free: Some(stream_free),
        },
        host: text(host),
        port: if port.is_null() {
            "80".into()
        } else {
            text(port)
        },
        socket: None,
        applied: None,
    });
    // SAFETY: `out` is valid for a write; libgit2 frees the stream through `free`.
    unsafe { *out = Box::into_raw(stream).cast() };
    0
}

/// # Safety
/// `raw` must be a stream made by `stream_new` and not yet freed.
unsafe fn this<'a>(raw: *mut RawStream) -> &'a mut Stream {
    // SAFETY: `raw` is the first field of a `Stream` (repr(C)) we boxed.
    unsafe { &mut *raw.cast::<Stream>() }
}

unsafe extern "C" fn stream_connect(raw: *mut RawStream) -> c_int {
    // SAFETY: libgit2 passes back the stream `stream_new` made.
    let st = unsafe { this(raw) };
    match st.connect() {
        Ok(()) => 0,
        Err(message) => {
            set_error(&message);
            -1
        }
    }
}

unsafe extern "C" fn stream_read(raw: *mut RawStream, data: *mut c_void, len: usize) -> isize {
    // SAFETY: as above; `data` is valid for `len` bytes.
    let (st, buf) = unsafe {
        (
            this(raw),
            std::slice::from_raw_parts_mut(data.cast::<u8>(), len),
        )
    };
    st.io("read from", |s| s.read(buf))
}

unsafe extern "C" fn stream_write(
    raw: *mut RawStream,
    data: *const c_char,
    len: usize,
    _flags: c_int,
) -> isize {
    // SAFETY: as above; `data` is valid for `len` bytes.
    let (st, buf) = unsafe {
        (
            this(raw),
            std::slice::from_raw_parts(data.cast::<u8>(), len),
        )
    };
    st.io("write to", |s| s.write(buf))
}

unsafe extern "C" fn stream_close(raw: *mut RawStream) -> c_int {
    // SAFETY: as above.
    let st = unsafe { this(raw) };
    st.socket = None;
    0
}

unsafe extern "C" fn stream_free(raw: *mut RawStream) {
    if !raw.is_null() {
        // SAFETY: made by `Box::into_raw` in `stream_new`; libgit2 frees it once.
        drop(unsafe { Box::from_raw(raw.cast::<Stream>()) });
    }
}

impl Stream {
    fn connect(&mut self) -> Result<(), String> {
        let host = &self.host;
        let port: u16 = self.port.parse().map_err(|_| {
            format!(
                "failed to connect to {host}: port {:?} is not a number",
                self.port
            )
        })?;
        // IPv6 literals come bracketed from URLs.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs = (bare, port)
            .to_socket_addrs()
            .map_err(|e| format!("failed to resolve address for {host}: {e}"))?;
        let mut last = format!("failed to resolve address for {host}: no address");
        for addr in addrs {
            let limit = self.bounded(timeouts().0);
            if limit.is_zero() {
                return Err(format!("failed to connect to {host}: Operation timed out"));
            }
            match TcpStream::connect_timeout(&addr, limit) {
                Ok(socket) => {
                    // Best effort, as libgit2's own: a socket without them still works.
                    let _ = socket.set_nodelay(true);
                    let keepalive = TcpKeepalive::new()
                        .with_time(Duration::from_secs(60))
                        .with_interval(Duration::from_secs(10));
                    let _ = SockRef::from(&socket).set_tcp_keepalive(&keepalive);
                    self.socket = Some(socket);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    return Err(format!("failed to connect to {host}: Operation timed out"));
                }
                Err(e) => last = format!("failed to connect to {host}: {e}"),
            }
        }
        Err(last)
    }

    /// `limit`, or less when the fetch's deadline comes sooner.
    fn bounded(&self, limit: Duration) -> Duration {
        match DEADLINE.with(Cell::get) {
            Some(d) => limit.min(d.saturating_duration_since(Instant::now())),
            None => limit,
        }
    }

    /// One read or write, with libgit2's return convention: bytes done, or -1 (or
    /// `GIT_TIMEOUT`) with the error set.
    fn io(
        &mut self,
        doing: &str,
        mut op: impl FnMut(&mut TcpStream) -> std::io::Result<usize>,
    ) -> isize {
        let limit = self.bounded(timeouts().1);
        let Some(socket) = self.socket.as_mut() else {
            set_error(&format!("could not {doing} socket: not connected"));
            return -1;
        };
        if limit.is_zero() {
            set_error(&format!("could not {doing} socket: timed out"));
            return libgit2_sys::GIT_TIMEOUT as isize;
        }
        if self.applied != Some(limit) {
            let set = socket
                .set_read_timeout(Some(limit))
                .and_then(|()| socket.set_write_timeout(Some(limit)));
            if let Err(e) = set {
                set_error(&format!("could not {doing} socket: {e}"));
                return -1;
            }
            self.applied = Some(limit);
        }
        loop {
            match op(socket) {
                Ok(n) => return n as isize,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    set_error(&format!("could not {doing} socket: timed out"));
                    return libgit2_sys::GIT_TIMEOUT as isize;
                }
                Err(e) => {
                    set_error(&format!("could not {doing} socket: {e}"));
                    return -1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;

    const CONNECT: Duration = Duration::from_secs(5);
    const STALL: Duration = Duration::from_secs(60);

    /// A stream made and connected the way libgit2 does it, through the callbacks.
    fn open(port: u16) -> (*mut RawStream, c_int) {
        register(CONNECT, STALL);
        let (host, port) = (c"127.0.0.1", CString::new(port.to_string()).unwrap());
        let mut raw: *mut RawStream = std::ptr::null_mut();
        // SAFETY: valid out pointer and C strings, as libgit2 passes them.
        unsafe {
            assert_eq!(stream_new(&mut raw, host.as_ptr(), port.as_ptr()), 0);
            let rc = ((*raw).connect.unwrap())(raw);
            (raw, rc)
        }
    }

    fn last_error() -> String {
        git2::Error::last_error(-1).message().to_string()
    }

    #[test]
    fn bytes_go_both_ways_at_once_and_a_refused_connection_names_the_host() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut got = [0u8; 5];
            peer.read_exact(&mut got).unwrap();
            peer.write_all(b"world").unwrap();
            got
        });
        let (raw, rc) = open(port);
        assert_eq!(rc, 0, "{}", last_error());
        // SAFETY: a connected stream of ours, used as libgit2 uses it.
        unsafe {
            let st = this(raw);
            assert!(
                st.socket.as_ref().unwrap().nodelay().unwrap(),
                "TCP_NODELAY is set"
            );
            let write = (*raw).write.unwrap();
            assert_eq!(write(raw, c"hello".as_ptr(), 5, 0), 5);
            let mut buf = [0u8; 16];
            let read = (*raw).read.unwrap();
            let mut got = Vec::new();
            while got.len() < 5 {
                let n = read(raw, buf.as_mut_ptr().cast(), buf.len());
                assert!(n > 0, "{}", last_error());
                got.extend_from_slice(&buf[..n as usize]);
            }
            assert_eq!(got, b"world");
            assert_eq!(((*raw).close.unwrap())(raw), 0);
            ((*raw).free.unwrap())(raw);
        }
        assert_eq!(&server.join().unwrap(), b"hello");

        // Nothing listens on a port just freed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (raw, rc) = open(port);
        assert_eq!(rc, -1);
        let message = last_error();
        assert!(
            message.contains("failed to connect to 127.0.0.1"),
            "{message}"
        );
        // SAFETY: made by `stream_new`, freed once.
        unsafe { ((*raw).free.unwrap())(raw) };
    }

    /// libgit2 itself, asked to fetch from a server that accepts and never answers,
    /// gives up at the fetch's deadline: its connections go through this stream
    /// (its own would wait the whole stall timeout).
    #[test]
    fn a_silent_server_frees_libgit2_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(2).collect();
            std::thread::sleep(Duration::from_secs(30));
            drop(held);
        });
        register(CONNECT, STALL);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let started = Instant::now();
            let deadline = started + Duration::from_millis(300);
            let mut remote =
                git2::Remote::create_detached(format!("http://127.0.0.1:{port}/acme/widgets.git"))
                    .unwrap();
            let result = with_deadline(deadline, || remote.connect(git2::Direction::Fetch));
            let _ = tx.send((result.map(|_| ()), started.elapsed()));
        });
        let (result, took) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("libgit2 gave up at the deadline, not the stall timeout");
        let e = result.expect_err("a silent server cannot be fetched from");
        assert!(e.message().contains("timed out"), "{}", e.message());
        assert!(took >= Duration::from_millis(300), "{took:?}");
    }
}
