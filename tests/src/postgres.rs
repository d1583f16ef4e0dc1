//! A private PostgreSQL cluster for the team gateway's tests and benchmarks: Debian's PostgreSQL
//! (`scripts/setup --test` installs it), initialised in a temporary folder, trusting local
//! connections, listening on a loopback port; run as its own user when the tests run as root.
//! Shared by the bridge's tests and benchmarks.

use std::path::{Path, PathBuf};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A private PostgreSQL cluster (Debian's PostgreSQL, as `scripts/setup --test` installs it) on a
/// loopback port, trusting local connections; stopped when dropped.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    pub url: String,
}

impl Postgres {
    pub fn start(tag: &str) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.flatten().map(|v| v.path().join("bin")).find(|b| b.join("initdb").is_file()))
            .expect("PostgreSQL is not installed: run scripts/setup --test (it installs Debian's postgresql)");
        let dir = std::env::temp_dir().join(format!("harbor-pg-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            // PostgreSQL will not run as root: its own user owns the cluster.
            let chown = std::process::Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status();
            assert!(chown.unwrap().success());
        }
        let run = |program: &str, args: &[&str]| {
            let out = pg_command(&bin, program).args(args).output().unwrap();
            assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let data = dir.join("data");
        run("initdb", &["-D", data.to_str().unwrap(), "--auth=trust", "-U", "postgres", "--no-sync"]);
        let port = free_port();
        let options = format!("-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off", dir.display());
        let log = dir.join("log");
        run("pg_ctl", &["-D", data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "start"]);
        Postgres { dir, bin, url: format!("postgres://postgres@127.0.0.1:{port}/postgres") }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ =
            pg_command(&self.bin, "pg_ctl").args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One of PostgreSQL's programs, run as its own user when the tests run as root.
fn pg_command(bin: &Path, program: &str) -> std::process::Command {
    match unsafe { libc::geteuid() } == 0 {
        true => {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(bin.join(program));
            command
        }
        false => std::process::Command::new(bin.join(program)),
    }
}
