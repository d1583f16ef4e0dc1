//! The `harbor-bridge` command line: install, doctor and uninstall, in a scratch HOME.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bridge(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
        .args(args)
        .env("HOME", home)
        .env("HARBOR_HOME", home.join("harbor"))
        .output()
        .expect("the bridge binary runs")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("harbor-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn install_registers_a_copy_doctor_sees_it_and_uninstall_removes_it() {
    let home = scratch("install");
    let manifest = home.join(".mozilla/native-messaging-hosts/harbor_rs_bridge.json");

    let doctor = bridge(&home, &["doctor", "--json"]);
    assert!(!doctor.status.success(), "doctor fails while the bridge is not registered");
    let checks: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(checks[0]["name"], "native messaging");
    assert_eq!(checks[0]["status"], "fail");
    assert!(checks[0]["fix"].as_str().unwrap().contains("harbor-bridge install"));

    let install = bridge(&home, &["install"]);
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let copy = PathBuf::from(written["path"].as_str().unwrap());
    assert_eq!(copy, home.join("harbor/bin/harbor-bridge"), "Firefox starts Harbor's own copy");
    let version = Command::new(&copy).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), format!("harbor-bridge {}", env!("CARGO_PKG_VERSION")));

    let doctor = bridge(&home, &["doctor", "--json"]);
    let checks: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(checks[0]["status"], "ok", "{checks}");
    let names: Vec<_> = checks.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
    for expected in ["node", "npx", "python3", "uv", "docker", "ollama"] {
        assert!(names.iter().any(|n| n == expected), "doctor checks {expected}: {names:?}");
    }

    let uninstall = bridge(&home, &["uninstall"]);
    assert!(uninstall.status.success());
    assert!(!manifest.exists() && !copy.exists(), "uninstall removes the manifest and the copy");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn data_dir_follows_harbor_home_and_a_mistyped_command_fails_at_once() {
    let home = scratch("data-dir");
    let out = bridge(&home, &["data-dir"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), home.join("harbor").display().to_string());
    let out = bridge(&home, &["instal", "harbor-rs@harbor-mcp.dev"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command \"instal\""));
    std::fs::remove_dir_all(&home).unwrap();
}
