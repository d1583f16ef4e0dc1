//! Ports for tests' servers, shared by the end-to-end harness and the bridge's integration tests.

/// A port nothing listens on, for a test's server to take; none when every one tried is taken.
/// It is chosen below the kernel's range of ephemeral ports (32768 and up), where outgoing
/// connections take their local ports: a port from `bind(0)` could be taken by one of those
/// before the server binds it ("address in use").
pub fn free_port() -> Option<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Each test binary starts at its own place, so two running at once seldom try the same ports.
    let start = std::process::id() * 37;
    (0..12_000).find_map(|_| {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + ((start + n) % 12_000) as u16;
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok().then_some(port)
    })
}
