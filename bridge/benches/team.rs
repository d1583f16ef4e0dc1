//! The team gateway's figures (run with `scripts/bench`), against the team provider fixture
//! (npm's oidc-provider) and a private PostgreSQL:
//! - what checking an access token costs per request, warm (keys fetched), for RS256, ES256 and
//!   EdDSA JWTs, in process;
//! - `tools/call` of server-everything's `echo` through the team gateway with a token, over MCP
//!   (rmcp's client) and over REST (one keep-alive connection), against the same call straight to
//!   the server (the floor);
//! - throughput (calls/s, 16 callers at once for 5 s, REST) of one replica, of one replica counting
//!   its rate windows in PostgreSQL, and of two replicas sharing one PostgreSQL.
//!
//! Needs what `scripts/setup --test` installs.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use harbor_bridge::gateway::team::config::TeamConfig;
use harbor_bridge::gateway::team::Team;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

mod measure;
#[path = "../../tests/src/postgres.rs"]
mod postgres;
#[path = "../../tests/src/provider_pages.rs"]
#[allow(dead_code)]
mod provider_pages;
use measure::quantile;

const CALLS: usize = 2000;
const CALLERS: usize = 16;
const FOR: Duration = Duration::from_secs(5);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(issuer: &str, resource: &str, everything: &Path, database: bool) -> String {
    format!(
        "listen: 127.0.0.1:${{TEAM_PORT}}\nresource: {resource}\n{}auth:\n  issuers:\n    - issuer: {issuer}\nroles:\n  dev: {{ allow: [everything], rate_per_min: 100000000, concurrency: 64 }}\nmappings:\n  - {{ claim: groups, value: dev, role: dev }}\nservers:\n  everything:\n    launch: {}\n",
        if database { "database: ${TEAM_DATABASE}\n" } else { "" },
        json!({"kind": "process", "command": "node", "args": [everything, "stdio"]}),
    )
}

/// A `gateway serve --config` process, serving once it has said so.
async fn gateway(config: &str, port: u16, database: Option<&str>, tag: &str) -> tokio::process::Child {
    let home = std::env::temp_dir().join(format!("harbor-bench-team-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("team.yaml"), config).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
        .args(["gateway", "serve", "--config"])
        .arg(home.join("team.yaml"))
        .env("HARBOR_HOME", &home)
        .env("TEAM_PORT", port.to_string())
        .env("TEAM_DATABASE", database.unwrap_or_default())
        .env("HOSTNAME", tag)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap();
    assert!(line.is_some_and(|l| l.starts_with("Harbor gateway on")), "the gateway did not start");
    child
}

/// REST calls from `CALLERS` tasks at once for `FOR`, spread over `apis`: calls per second.
async fn throughput(apis: &[String], bearer: &str) -> f64 {
    let http = harbor_bridge::http::client_builder().pool_max_idle_per_host(CALLERS).build().unwrap();
    let started = Instant::now();
    let callers = (0..CALLERS).map(|i| {
        let (http, api, bearer) = (http.clone(), apis[i % apis.len()].clone(), bearer.to_owned());
        tokio::spawn(async move {
            let mut done = 0u64;
            while started.elapsed() < FOR {
                let answer = http
                    .post(format!("{api}/tools/call"))
                    .bearer_auth(&bearer)
                    .json(&json!({"tool": "echo", "arguments": {"message": "x"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200);
                let _ = answer.bytes().await;
                done += 1;
            }
            done
        })
    });
    let total: u64 = futures::future::join_all(callers).await.into_iter().map(Result::unwrap).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let (servers, everything) = measure::test_servers();
    let direct = measure::direct_calls(&everything, CALLS);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let port = free_port();
        let resource = format!("http://127.0.0.1:{port}/mcp");
        let (_provider, issuer) =
            provider_pages::start_fixture(&servers.join("oauth"), "team_provider.mjs", free_port(), &resource, &[])
                .await
                .unwrap();

        let http = harbor_bridge::http::client_builder().build().unwrap();
        // Checking a token, in process, warm.
        std::env::set_var("TEAM_PORT", port.to_string());
        let team = Team::load(TeamConfig::parse(&config(&issuer, &resource, &everything, false)).unwrap()).unwrap();
        for (service, alg) in [("dev-app", "RS256"), ("admin-app", "ES256"), ("ed-app", "EdDSA")] {
            let token = provider_pages::client_credentials(&http, &issuer, service, &resource).await;
            let _ = team.authenticate(&token).await;
            let mut samples = Vec::with_capacity(CALLS);
            for _ in 0..CALLS {
                let started = Instant::now();
                let _ = team.authenticate(&token).await;
                samples.push(started.elapsed().as_secs_f64() * 1e6);
            }
            println!(
                "access token check ({alg} JWT, keys cached): p50 {:.1} µs, p99 {:.1} µs (n = {CALLS})",
                quantile(&samples, 0.5),
                quantile(&samples, 0.99)
            );
        }

        // One replica: MCP and REST against the floor.
        let _one = gateway(&config(&issuer, &resource, &everything, false), port, None, "one").await;
        let bearer = provider_pages::client_credentials(&http, &issuer, "dev-app", &resource).await;
        let mcp = measure::mcp_echo_calls(&resource, &bearer, "everything__echo", CALLS).await;
        let api = resource.replace("/mcp", "/api/v1");
        let mut rest = Vec::with_capacity(CALLS);
        for n in 0..CALLS + 200 {
            let started = Instant::now();
            let answer = http
                .post(format!("{api}/tools/call"))
                .bearer_auth(&bearer)
                .json(&json!({"tool": "everything/echo", "arguments": {"message": n.to_string()}}))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            let _ = answer.bytes().await;
            if n >= 200 {
                rest.push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
        let floor = quantile(&direct, 0.5);
        println!("tools/call echo direct (rmcp, stdio; the floor): p50 {floor:.0} µs (n = {CALLS})");
        for (how, samples) in [("MCP (rmcp client, Streamable HTTP)", &mcp), ("REST (POST /api/v1/tools/call)", &rest)] {
            let p50 = quantile(samples, 0.5);
            println!(
                "tools/call echo via the team gateway with a JWT, {how}: p50 {p50:.0} µs ({:.2}× the floor, {:+.0} µs), p99 {:.0} µs (n = {CALLS})",
                p50 / floor,
                p50 - floor,
                quantile(samples, 0.99)
            );
        }
        let alone = throughput(std::slice::from_ref(&api), &bearer).await;
        println!("throughput, one replica: {alone:.0} calls/s ({CALLERS} callers, REST echo, {} s)", FOR.as_secs());
        drop(_one);

        // Replicas on one PostgreSQL, behind one resource URI.
        let database = postgres::Postgres::start("bench");
        let with_database = config(&issuer, &resource, &everything, true);
        let _first = gateway(&with_database, port, Some(&database.url), "replica-a").await;
        let shared = throughput(std::slice::from_ref(&api), &bearer).await;
        println!(
            "throughput, one replica counting in PostgreSQL: {shared:.0} calls/s ({:.2}× one replica alone)",
            shared / alone
        );
        let second_port = free_port();
        let _second = gateway(&with_database, second_port, Some(&database.url), "replica-b").await;
        let apis = [api.clone(), format!("http://127.0.0.1:{second_port}/api/v1")];
        let both = throughput(&apis, &bearer).await;
        println!(
            "throughput, two replicas on one PostgreSQL (this 2-core machine runs both, their servers and the callers): {both:.0} calls/s ({:.2}× one replica alone)",
            both / alone
        );
    });
}
