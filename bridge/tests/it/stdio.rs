//! The built `harbor-bridge` binary over real stdio, started the way Firefox starts it.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    home: tempdir::Dir,
}

mod tempdir {
    /// A scratch folder removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let path = std::env::temp_dir().join(format!("harbor-stdio-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Bridge {
    /// Starts the bridge with the two arguments Firefox passes a native host.
    fn start(tag: &str) -> Bridge {
        Bridge::start_with(tag, &[])
    }

    /// [`Bridge::start`] with these environment variables set too.
    fn start_with(tag: &str, env: &[(&str, &str)]) -> Bridge {
        let home = tempdir::Dir::new(tag);
        let mut child = Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
            .args(["/path/to/harbor_rs_bridge.json", "harbor-rs@harbor-mcp.dev"])
            .envs(env.iter().copied())
            .env("HARBOR_HOME", &home.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the bridge binary starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        Bridge { child, stdin, stdout, home }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(&(bytes.len() as u32).to_ne_bytes()).unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, value: &Value) {
        self.send_raw(value.to_string().as_bytes());
    }

    /// One raw frame from the bridge, checking Firefox's 1 MiB limit on every frame.
    fn frame(&mut self) -> Value {
        let mut len = [0u8; 4];
        self.stdout.read_exact(&mut len).unwrap();
        let len = u32::from_ne_bytes(len) as usize;
        assert!(len <= 1024 * 1024, "a frame of {len} bytes breaks Firefox's 1 MiB limit");
        let mut body = vec![0u8; len];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The next whole message, joining chunk frames as the background does.
    fn message(&mut self) -> (Value, usize) {
        let first = self.frame();
        let Some(chunk) = first.get("chunk") else {
            return (first, 1);
        };
        let parts = chunk["parts"].as_u64().unwrap() as usize;
        let mut text = chunk["data"].as_str().unwrap().to_owned();
        for part in 1..parts {
            let next = self.frame();
            assert_eq!(next["chunk"]["part"], part as u64);
            assert_eq!(next["chunk"]["seq"], chunk["seq"]);
            text.push_str(next["chunk"]["data"].as_str().unwrap());
        }
        (serde_json::from_str(&text).unwrap(), parts)
    }

    fn close_and_wait(&mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the bridge did not exit after its stdin closed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn answers_system_info_like_firefox_expects() {
    let mut bridge = Bridge::start("info");
    bridge.send(&json!({"id": 1, "method": "system.info", "params": {}}));
    let (reply, _) = bridge.message();
    assert_eq!(reply["id"], 1);
    assert_eq!(reply["result"]["name"], "harbor-bridge");
    assert_eq!(reply["result"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(reply["result"]["protocol"], 1);
    assert_eq!(reply["result"]["dataDir"], bridge.home.0.display().to_string());
    assert!(bridge.close_and_wait().success(), "end of input is a clean shutdown");
}

/// With no certificate store loadable, the bridge still starts and serves; what needs HTTPS
/// says what to check instead (it used to panic at start, so Firefox saw a host that died).
#[test]
fn a_missing_certificate_store_fails_only_what_needs_https() {
    let none =
        [("SSL_CERT_FILE", "/nonexistent/harbor-test-certs.pem"), ("SSL_CERT_DIR", "/nonexistent/harbor-test-certs")];
    let mut bridge = Bridge::start_with("no-certs", &none);
    bridge.send(&json!({"id": 1, "method": "system.info", "params": {}}));
    let (reply, _) = bridge.message();
    assert_eq!(reply["result"]["name"], "harbor-bridge", "{reply}");
    bridge.send(&json!({"id": 2, "method": "llm.providers", "params": {}}));
    let (providers, _) = bridge.message();
    let listed = providers["result"]["providers"].as_array().unwrap_or_else(|| panic!("{providers}"));
    let error = listed[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("cannot set up HTTPS") && error.contains("SSL_CERT_FILE"), "{providers}");
    assert!(bridge.close_and_wait().success(), "end of input is a clean shutdown");
}

#[test]
fn a_5_mib_echo_comes_back_whole_in_chunks() {
    let mut bridge = Bridge::start("echo");
    // Quotes and non-ASCII grow once escaped; the chunker must still keep frames under 1 MiB.
    let payload: String = "harbor \"quoted\" é 😀 ".chars().cycle().take(5 * 1024 * 1024).collect();
    let request = json!({"id": "big", "method": "system.echo", "params": {"payload": payload}});
    assert!(request.to_string().len() > 5 * 1024 * 1024);
    bridge.send(&request);
    let (reply, frames) = bridge.message();
    assert!(frames >= 5, "a 5 MiB reply needs at least 5 frames, got {frames}");
    assert_eq!(reply["id"], "big");
    assert_eq!(reply["result"]["payload"].as_str().unwrap(), payload);
    // The pipe is still in step after the chunks.
    bridge.send(&json!({"id": 2, "method": "system.echo", "params": {"n": 2}}));
    assert_eq!(bridge.message().0, json!({"id": 2, "result": {"n": 2}}));
}

#[test]
fn bad_input_gets_an_error_and_the_bridge_keeps_serving() {
    let mut bridge = Bridge::start("bad");
    bridge.send_raw(b"\x00\xffnot json");
    let (reply, _) = bridge.message();
    assert_eq!(reply["error"]["code"], "ERR_INVALID_REQUEST");
    bridge.send(&json!({"id": 7, "method": "servers.frobnicate"}));
    let (reply, _) = bridge.message();
    assert_eq!(reply["id"], 7);
    assert_eq!(reply["error"]["code"], "ERR_INVALID_REQUEST");
    assert!(reply["error"]["message"].as_str().unwrap().contains("servers.frobnicate"));
    bridge.send(&json!({"id": 8, "method": "system.echo", "params": {"delayMs": "soon"}}));
    assert_eq!(bridge.message().0["error"]["code"], "ERR_INVALID_REQUEST");
    bridge.send(&json!({"id": 9, "method": "system.info"}));
    assert_eq!(bridge.message().0["result"]["name"], "harbor-bridge");
}

#[test]
fn logs_go_to_a_file_and_never_carry_params() {
    let mut bridge = Bridge::start("logs");
    let marker = "params-marker-5f1c2a";
    bridge.send(&json!({"id": 1, "method": "system.echo", "params": {"secret": marker}}));
    bridge.message();
    bridge.send(&json!({"id": 2, "method": "no.such", "params": {"secret": marker}}));
    bridge.message();
    assert!(bridge.close_and_wait().success());
    let log =
        std::fs::read_to_string(bridge.home.0.join("logs/bridge.log")).expect("the bridge writes logs/bridge.log");
    assert!(log.contains("bridge started"), "{log}");
    assert!(!log.contains(marker), "params leaked into the log");
}
