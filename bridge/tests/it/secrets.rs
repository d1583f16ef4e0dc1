//! Secrets in real keychains, through the command line (each command is a fresh bridge, so
//! every step also checks that secrets outlive a bridge restart): the Secret Service (GNOME
//! Keyring on a private D-Bus session) and the kernel's keyutils (the session keyring the test
//! command runs in). A real server (`server-everything`'s `get-env`) shows what it received.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use harbor_bridge::mcp::redact::REDACTED_SECRET;

/// A keychain for the bridges this test starts: the environment that selects it.
struct Keychain {
    env: Vec<(String, String)>,
    session: Option<Child>,
}

impl Drop for Keychain {
    fn drop(&mut self) {
        if let Some(session) = &mut self.session {
            // The D-Bus session and the keyring daemon share the process group.
            unsafe { libc::kill(-(session.id() as i32), libc::SIGKILL) };
            let _ = session.wait();
        }
    }
}

/// A private D-Bus session with GNOME Keyring unlocked in it.
fn secret_service(home: &Path) -> Keychain {
    let runtime = home.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let script = r#"printf '\n' | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; echo "$DBUS_SESSION_BUS_ADDRESS"; exec sleep 600"#;
    let mut session = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script])
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("dbus-run-session runs (scripts/setup --test installs dbus and gnome-keyring)");
    let mut address = String::new();
    BufReader::new(session.stdout.take().unwrap()).read_line(&mut address).unwrap();
    assert!(address.starts_with("unix:"), "no D-Bus session address: {address:?}");
    let env = vec![
        ("DBUS_SESSION_BUS_ADDRESS".to_owned(), address.trim().to_owned()),
        ("XDG_RUNTIME_DIR".to_owned(), runtime.display().to_string()),
        ("HARBOR_SECRET_STORE".to_owned(), "secret-service".to_owned()),
    ];
    Keychain { env, session: Some(session) }
}

/// The kernel's keyutils store, in the session keyring the test runs in.
fn keyutils() -> Keychain {
    Keychain { env: vec![("HARBOR_SECRET_STORE".to_owned(), "keyutils".to_owned())], session: None }
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("harbor-secrets-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bridge(home: &Path, keychain: &Keychain, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harbor-bridge"));
    command
        .args(args)
        .env("HOME", home)
        .env("HARBOR_HOME", home.join("harbor"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .envs(keychain.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the bridge binary runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "the command failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Set, use, replace, delete, a missing secret's error, and no value anywhere but the keychain.
fn exercise(home: &Path, keychain: &Keychain, backend: &str) {
    let everything =
        support::test_servers().join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let everything = everything.to_str().unwrap();
    let (first, second, shared) = (format!("first-{backend}-7f3a"), format!("second-{backend}-9c1e"), "shared-5d2b");
    let mut said = String::new();
    let mut run = |args: &[&str], stdin: Option<&str>| {
        let output = bridge(home, keychain, args, stdin);
        said.push_str(&String::from_utf8_lossy(&output.stderr));
        ok(output)
    };

    run(&["servers", "add", "everything", "--", "node", everything, "stdio"], None);
    run(&["secrets", "set", "--server", "everything", "API_KEY"], Some(&format!("{first}\n")));
    let env = run(&["call", "everything/get-env"], None);
    // The server has the value: its answer carried it, and Harbor redacted it on the way out
    // (a stored secret never appears in a tool's result).
    assert!(env.contains(&format!("\"API_KEY\": \"{REDACTED_SECRET}\"")), "the server got the value: {env}");
    assert!(!env.contains(&first), "a tool's result showed a stored secret: {env}");

    run(&["secrets", "set", "--server", "everything", "API_KEY"], Some(&second));
    let env = run(&["call", "everything/get-env"], None);
    // Only the current value is known to the scanner, so a marker means the server has it.
    assert!(
        env.contains(&format!("\"API_KEY\": \"{REDACTED_SECRET}\"")) && !env.contains(&first),
        "the replaced value is the one used: {env}"
    );

    let status: serde_json::Value = serde_json::from_str(&run(&["secrets", "status", "--json"], None)).unwrap();
    assert_eq!(status["store"]["backend"], backend, "{status}");
    assert_eq!(status["store"]["persistent"], backend != "keyutils");
    assert_eq!(status["secrets"][0]["id"], "everything/API_KEY");
    assert!(!status.to_string().contains(&second), "status never shows a value");

    run(&["secrets", "delete", "--server", "everything", "API_KEY"], None);
    let env = run(&["call", "everything/get-env"], None);
    assert!(!env.contains(&second), "a deleted secret is gone: {env}");

    // A server naming a secret that is not set says which one and how to set it.
    run(&["servers", "add", "needs", "--secret", "TOKEN=shared/token", "--", "node", everything, "stdio"], None);
    let missing = bridge(home, keychain, &["call", "needs/get-env"], None);
    assert!(!missing.status.success());
    let message = String::from_utf8_lossy(&missing.stderr);
    assert!(message.contains("needs the secret TOKEN") && message.contains("secrets set shared/token"), "{message}");
    run(&["secrets", "set", "shared/token"], Some(shared));
    assert!(run(&["call", "needs/get-env"], None).contains(&format!("\"TOKEN\": \"{REDACTED_SECRET}\"")));

    for (path, bytes) in support::files_under(&home.join("harbor")) {
        for value in [first.as_str(), second.as_str(), shared] {
            assert!(!bytes.windows(value.len()).any(|w| w == value.as_bytes()), "{value} is in {}", path.display());
        }
    }
    for value in [first.as_str(), second.as_str(), shared] {
        assert!(!said.contains(value), "a value was printed to the terminal's log: {said}");
    }
}

#[test]
fn the_secret_service_keeps_server_secrets_across_bridge_restarts() {
    let home = scratch("secret-service");
    let keychain = secret_service(&home);
    exercise(&home, &keychain, "secret-service");
    drop(keychain);
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn keyutils_keeps_server_secrets_across_bridge_restarts() {
    let home = scratch("keyutils");
    exercise(&home, &keyutils(), "keyutils");
    std::fs::remove_dir_all(&home).unwrap();
}
