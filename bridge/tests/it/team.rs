//! The gateway for a team, against a real identity provider on loopback (npm's `oidc-provider`,
//! `tests/fixtures/oauth/team_provider.mjs`): `harbor-bridge gateway serve --config` accepts its
//! access tokens — JWTs signed RS256, ES256 and EdDSA, and opaque ones by introspection — turns
//! their `groups` into roles and each caller sees and calls exactly its roles' tools; forged,
//! expired, misdirected and unsigned tokens are refused with the right status and challenge; a
//! provider that rotates its keys is followed without a restart; the config file is checked with
//! its lines named and read again on SIGHUP under an open session.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use harbor_bridge::gateway::shared::KEY_TTL;
use harbor_bridge::link::Link;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use support::{
    admin, everything_launch, free_port, http_client, initialize, probe_launch, raw, test_servers, McpClient,
};

/// The dev role's tools, as an MCP client sees them.
const DEV_TOOLS: [&str; 5] = ["everything__echo", "probe__echo", "probe__slow", "probe__stats", "probe__wipe"];

fn config(issuer: &str) -> String {
    format!(
        r#"# The team's gateway, as a test writes it.
listen: 127.0.0.1:${{TEAM_PORT}}
auth:
  issuers:
    - issuer: {issuer}
      leeway_seconds: 0
      introspection:
        client_id: gateway
        client_secret: ${{TEAM_INTROSPECTION_SECRET}}
roles:
  dev:
    allow: [everything/echo, probe/*]
    rate_per_min: ${{DEV_RATE:-100}}
  admin: {{ allow: ["*"] }}
mappings:
  - {{ claim: groups, value: dev, role: dev }}
  - {{ claim: groups, value: Admin, role: admin }}
  - {{ claim: scope, value: "tools:admin", role: admin }}
servers:
  everything:
    launch: {everything}
  probe:
    launch: {probe}
"#,
        everything = everything_launch("stdio"),
        probe = probe_launch(),
    )
}

/// The provider, the gateway serving the config, and its servers.
struct Team {
    provider: tokio::process::Child,
    provider_port: u16,
    issuer: String,
    gateway: tokio::process::Child,
    home: PathBuf,
    config_path: PathBuf,
    url: String,
}

async fn provider(port: u16, resource: &str) -> (tokio::process::Child, String) {
    let install = test_servers().join("oauth");
    support::provider_pages::start_fixture(&install, "team_provider.mjs", port, resource, &[]).await.unwrap()
}

async fn team(tag: &str) -> Team {
    team_with(tag, &[], "").await
}

/// A team whose gateway has `env`, and `more` at the end of its config file.
async fn team_with(tag: &str, env: &[(&str, &str)], more: &str) -> Team {
    let home = std::env::temp_dir().join(format!("harbor-team-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let port = free_port();
    let scheme = if more.contains("tls:") { "https" } else { "http" };
    let url = format!("{scheme}://127.0.0.1:{port}/mcp");
    let provider_port = free_port();
    let (provider, issuer) = provider(provider_port, &url).await;
    let config_path = home.join("team.yaml");
    std::fs::write(&config_path, config(&issuer) + &more.replace("HOME", home.to_str().unwrap())).unwrap();
    let gateway = serve(tag, &home, &config_path, port, env, &url).await;
    Team { provider, provider_port, issuer, gateway, home, config_path, url }
}

/// `harbor-bridge gateway serve --config` in `home` on `port`, once it says it serves `url`.
async fn serve(
    tag: &str,
    home: &Path,
    config_path: &Path,
    port: u16,
    env: &[(&str, &str)],
    url: &str,
) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"));
    command
        .args(["gateway", "serve", "--config"])
        .arg(config_path)
        .env("HARBOR_HOME", home)
        .env("HARBOR_TEST_MARK", tag)
        .env("TEAM_PORT", port.to_string())
        .env("TEAM_INTROSPECTION_SECRET", "gateway-secret")
        .envs(env.iter().copied());
    let (gateway, line) = support::first_line(command, Duration::from_secs(30)).await;
    // `on <url>`, or `on <resource> (listening on <address>)` when callers reach it by another URI.
    let address = url.split('/').nth(2).unwrap();
    assert!(
        line == format!("Harbor gateway on {url}") || line.ends_with(&format!("(listening on {address})")),
        "{line}"
    );
    gateway
}

impl Team {
    /// An access token for `service` (client credentials), for `resource` (default: the gateway).
    async fn token(&self, service: &str, resource: Option<&str>) -> String {
        {
            let http = harbor_bridge::http::client_builder().build().unwrap();
            support::provider_pages::client_credentials(&http, &self.issuer, service, resource.unwrap_or(&self.url))
                .await
        }
    }
}

async fn tools(client: &McpClient) -> BTreeSet<String> {
    client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect()
}

async fn call(client: &McpClient, tool: &str, arguments: Value) -> Result<String, String> {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.as_object().unwrap().clone());
    match client.call_tool(params).await {
        Ok(result) => Ok(serde_json::to_value(result).unwrap()["content"][0]["text"].as_str().unwrap_or("").to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// `initialize` with `token`: the status and the `WWW-Authenticate` challenge.
async fn knock(url: &str, token: &str) -> (u16, String) {
    let bearer = format!("Bearer {token}");
    let (status, headers, _) = raw(reqwest::Method::POST, url, &[("authorization", &bearer)], Some(initialize())).await;
    let challenge = headers.get("www-authenticate").map(|h| h.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, challenge)
}

#[tokio::test]
async fn each_callers_roles_decide_exactly_what_it_sees_and_calls() {
    let team = team("team-roles").await;

    // dev (RS256): exactly the dev role's tools; a tool outside them is refused.
    let dev_token = team.token("dev-app", None).await;
    let (dev, _) = http_client(&team.url, &dev_token).await;
    assert_eq!(tools(&dev).await, set(&DEV_TOOLS));
    assert_eq!(call(&dev, "everything__echo", json!({"message": "hi team"})).await.unwrap(), "Echo: hi team");
    let refused = call(&dev, "everything__get-sum", json!({"a": 1, "b": 2})).await.unwrap_err();
    assert!(refused.contains("ERR_TOOL_NOT_ALLOWED"), "{refused}");

    // Admin (ES256): every tool.
    let (admin_client, _) = http_client(&team.url, &team.token("admin-app", None).await).await;
    let all = tools(&admin_client).await;
    assert!(all.contains("everything__get-sum") && all.is_superset(&set(&DEV_TOOLS)), "{all:?}");
    assert!(call(&admin_client, "everything__get-sum", json!({"a": 1, "b": 2})).await.unwrap().contains('3'));

    // EdDSA, and an opaque token checked by introspection: the dev role too.
    for service in ["ed-app", "opaque-app"] {
        let (client, _) = http_client(&team.url, &team.token(service, None).await).await;
        assert_eq!(tools(&client).await, set(&DEV_TOOLS), "{service}");
        assert_eq!(call(&client, "probe__echo", json!({"text": service})).await.unwrap(), format!("echo: {service}"));
        client.cancel().await.unwrap();
    }

    // A good token that gives no role: 403, naming the scope that would give one.
    let (status, challenge) = knock(&team.url, &team.token("stranger-app", None).await).await;
    assert_eq!(status, 403, "{challenge}");
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"tools:admin\""),
        "{challenge}"
    );

    // The protected-resource metadata names the provider; no bearer gets a challenge to it.
    let (status, challenge) = {
        let (status, headers, _) = raw(reqwest::Method::POST, &team.url, &[], Some(initialize())).await;
        (status, headers["www-authenticate"].to_str().unwrap().to_owned())
    };
    assert_eq!(status, 401);
    let metadata_url = challenge.split('"').nth(1).unwrap().to_owned();
    let (_, _, metadata) = raw(reqwest::Method::GET, &metadata_url, &[], None).await;
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(metadata["authorization_servers"], json!([team.issuer]));
    assert_eq!(metadata["resource"], team.url.as_str());

    // The audit log names the subject and its roles, and no token is anywhere in Harbor's files.
    let mut link = Link::open(&team.home).await.unwrap();
    let audit = admin(&mut link, "audit.list", json!({})).await.to_string();
    assert!(audit.contains("gateway:idp:dev-app (roles: dev)"), "{audit}");
    assert!(audit.contains("gateway:idp:admin-app (roles: admin)"), "{audit}");
    link.close().await;
    let secret = dev_token.rsplit('.').next().unwrap();
    for (path, bytes) in support::files_under(&team.home) {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "a token is in {}", path.display());
    }
    dev.cancel().await.unwrap();
    admin_client.cancel().await.unwrap();
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token's claims, read without checking anything.
fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn forged_expired_misdirected_and_unsigned_tokens_are_refused_and_rotated_keys_are_followed() {
    let mut team = team("team-refusals").await;
    let good = team.token("dev-app", None).await;
    assert_eq!(knock(&team.url, &good).await.0, 200);
    let invalid = |(status, challenge): (u16, String), why: &str| {
        assert_eq!(status, 401, "{why}: {challenge}");
        assert!(challenge.contains("error=\"invalid_token\"") && challenge.contains(why), "{why}: {challenge}");
        assert!(challenge.contains("resource_metadata="), "{challenge}");
    };

    // A real token of the provider, for another resource.
    let other = team.token("dev-app", Some("http://127.0.0.1:9/mcp")).await;
    invalid(knock(&team.url, &other).await, "audience");
    // A real token that has expired (1 s life, no leeway in this config).
    let short = team.token("short-app", None).await;
    assert_eq!(knock(&team.url, &short).await.0, 200, "it works while it lasts");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    invalid(knock(&team.url, &short).await, "expired");

    // The good token's claims, unsigned; and signed with HMAC keyed by the provider's public keys.
    let claims = claims_of(&good);
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "at+jwt"})), b64(&claims));
    invalid(knock(&team.url, &unsigned).await, "unsigned");
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let jwks: Value = http.get(format!("{}/jwks", team.issuer)).send().await.unwrap().json().await.unwrap();
    let rsa = jwks["keys"].as_array().unwrap().iter().find(|k| k["kty"] == "RSA").unwrap();
    let input = format!("{}.{}", b64(&json!({"alg": "HS256", "kid": rsa["kid"]})), b64(&claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, jwks.to_string().as_bytes());
    let mac = URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, input.as_bytes()).as_ref());
    invalid(knock(&team.url, &format!("{input}.{mac}")).await, "HS256");

    // Signed by a key the provider does not have, naming the provider's own key.
    let ed = jwks["keys"].as_array().unwrap().iter().find(|k| k["kty"] == "OKP").unwrap();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let stranger = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let mut elevated = claims.clone();
    elevated["groups"] = json!(["Admin"]);
    let input = format!("{}.{}", b64(&json!({"alg": "EdDSA", "kid": ed["kid"]})), b64(&elevated));
    let signature = URL_SAFE_NO_PAD.encode(stranger.sign(input.as_bytes()).as_ref());
    invalid(knock(&team.url, &format!("{input}.{signature}")).await, "signature");
    // A real token whose claims were changed afterwards.
    let mut parts = good.split('.');
    let (header, _, signature) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
    invalid(knock(&team.url, &format!("{header}.{}.{signature}", b64(&elevated))).await, "signature");
    // Not a token at all, and an opaque token the provider never issued.
    invalid(knock(&team.url, "w45-7TxWtMfrUyR7MzLsu02ZrFEVA6Kw").await, "not a key or an active token");
    // A made-up Harbor key is refused as a key: it never reaches the provider's introspection.
    let (status, challenge) = knock(&team.url, "hbk_made_up_key").await;
    assert!(status == 401 && challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(!challenge.contains("active token"), "not introspected: {challenge}");

    // The provider rotates its keys (restarts with new ones on its address): its new tokens are
    // taken without restarting the gateway, and the old key's tokens no longer are.
    team.provider.kill().await.unwrap();
    let (provider, _) = provider(team.provider_port, &team.url).await;
    team.provider = provider;
    let rotated = team.token("dev-app", None).await;
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(rotated.split('.').next().unwrap()).unwrap()).unwrap();
    assert_ne!(header["kid"], rsa["kid"], "the provider has a new key");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, challenge) = knock(&team.url, &rotated).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the new key is never picked up: {status} {challenge}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    invalid(knock(&team.url, &good).await, "no signing key");
    // The gateway never stopped.
    assert!(team.gateway.try_wait().unwrap().is_none());
}

/// `harbor-bridge gateway check --config FILE`: its exit status and what it printed.
fn check(path: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
        .args(["gateway", "check", "--config"])
        .arg(path)
        .env("TEAM_PORT", "9")
        .env("TEAM_INTROSPECTION_SECRET", "x")
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn the_config_is_checked_with_its_lines_and_read_again_on_sighup_under_an_open_session() {
    let team = team("team-reload").await;
    let (good, said) = check(&team.config_path);
    assert!(good && said.contains("1 issuer(s), 2 role(s), 3 mapping(s), 2 server(s)"), "{said}");
    let bad = team.home.join("bad.yaml");
    std::fs::write(&bad, config(&team.issuer).replace("    allow: [everything/echo", "    alow: [everything/echo"))
        .unwrap();
    let (good, said) = check(&bad);
    assert!(!good && said.contains("roles.dev") && said.contains("alow") && said.contains("line 12"), "{said}");
    std::fs::write(&bad, config(&team.issuer).replace("${TEAM_PORT}", "${TEAM_PORT_UNSET}")).unwrap();
    let (good, said) = check(&bad);
    assert!(!good && said.contains("TEAM_PORT_UNSET is not set") && said.contains("line 2"), "{said}");

    let (dev, mut changes) = http_client(&team.url, &team.token("dev-app", None).await).await;
    assert_eq!(tools(&dev).await, set(&DEV_TOOLS));

    // The dev role narrows to one tool: after SIGHUP the same session hears of it and sees it.
    while changes.try_recv().is_ok() {}
    let narrowed = config(&team.issuer).replace("allow: [everything/echo, probe/*]", "allow: [probe/echo]");
    std::fs::write(&team.config_path, narrowed).unwrap();
    let pid = team.gateway.id().unwrap() as i32;
    unsafe { libc::kill(pid, libc::SIGHUP) };
    tokio::time::timeout(Duration::from_secs(10), changes.recv()).await.expect("list_changed after the reload");
    assert_eq!(tools(&dev).await, set(&["probe__echo"]));
    let refused = call(&dev, "everything__echo", json!({"message": "x"})).await.unwrap_err();
    assert!(refused.contains("ERR_TOOL_NOT_ALLOWED"), "{refused}");

    // A broken file on SIGHUP leaves the config in force as it was.
    std::fs::write(&team.config_path, "roles: [\n").unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tools(&dev).await, set(&["probe__echo"]));
    assert_eq!(call(&dev, "probe__echo", json!({"text": "still here"})).await.unwrap(), "echo: still here");
    dev.cancel().await.unwrap();
}

/// A REST request with `bearer` (when given): status, headers and the JSON answer.
async fn rest(
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let auth = bearer.map(|b| ("authorization", b));
    let (status, headers, text) = raw(method, url, auth.as_slice(), body).await;
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn the_rest_face_serves_the_same_callers_and_policy_with_routing_limits_and_its_openapi_document() {
    let team = team_with("team-rest", &[("DEV_RATE", "4")], "").await;
    let api = format!("{}/api/v1", team.url.trim_end_matches("/mcp"));
    let dev = format!("Bearer {}", team.token("dev-app", None).await);
    let (get, post) = (reqwest::Method::GET, reqwest::Method::POST);

    // Health is open (for load balancers); everything else needs the same bearer as MCP.
    let (status, _, health) = rest(get.clone(), &format!("{api}/health"), None, None).await;
    assert_eq!((status, &health["status"], &health["servers"]["running"]), (200, &json!("ok"), &json!(2)), "{health}");
    let (status, headers, _) = rest(get.clone(), &format!("{api}/tools"), None, None).await;
    assert_eq!(status, 401);
    assert!(header(&headers, "www-authenticate").contains("resource_metadata="));
    let stranger = format!("Bearer {}", team.token("stranger-app", None).await);
    assert_eq!(rest(get.clone(), &format!("{api}/tools"), Some(&stranger), None).await.0, 403);

    // Exactly the dev role's tools, as over MCP.
    let (status, _, tools) = rest(get.clone(), &format!("{api}/tools"), Some(&dev), None).await;
    assert_eq!(status, 200, "{tools}");
    let names: BTreeSet<String> =
        tools["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, DEV_TOOLS.iter().map(|t| t.replace("__", "/")).collect::<BTreeSet<_>>());
    let (_, _, probe) = rest(get.clone(), &format!("{api}/tools?server=probe"), Some(&dev), None).await;
    assert_eq!(probe["tools"].as_array().unwrap().len(), 4, "{probe}");
    let (_, _, servers) = rest(get.clone(), &format!("{api}/servers"), Some(&dev), None).await;
    let counts: Vec<(String, u64)> = servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s["tools"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("everything".to_owned(), 1), ("probe".to_owned(), 4)], "{servers}");
    let (status, _, everything) = rest(get.clone(), &format!("{api}/servers/everything"), Some(&dev), None).await;
    assert_eq!((status, everything["tools"].as_array().unwrap().len()), (200, 1), "{everything}");
    assert_eq!(everything["tools"][0]["name"], "everything/echo");
    assert_eq!(rest(get.clone(), &format!("{api}/servers/nowhere"), Some(&dev), None).await.0, 404);

    // Calls: a name two of the caller's servers have is ambiguous; the server settles it; a name
    // only one has is routed; a tool outside the role is not found.
    let call_url = format!("{api}/tools/call");
    let call = |body: Value| rest(post.clone(), &call_url, Some(&dev), Some(body));
    let (status, _, ambiguous) = call(json!({"tool": "echo", "arguments": {"text": "x"}})).await;
    assert_eq!(status, 409, "{ambiguous}");
    assert_eq!(ambiguous["error"]["candidates"], json!(["everything/echo", "probe/echo"]));
    let (status, headers, echoed) =
        call(json!({"tool": "echo", "server": "probe", "arguments": {"text": "rest"}})).await;
    assert_eq!(status, 200, "{echoed}");
    assert_eq!(
        (echoed["tool"].as_str(), echoed["result"]["content"][0]["text"].as_str()),
        (Some("probe/echo"), Some("echo: rest"))
    );
    assert_eq!(
        (header(&headers, "x-ratelimit-limit"), header(&headers, "x-ratelimit-remaining")),
        ("4".into(), "3".into())
    );
    let (status, headers, stats) = call(json!({"tool": "stats"})).await;
    assert_eq!((status, stats["tool"].as_str()), (200, Some("probe/stats")), "{stats}");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "2");
    for outside in ["get-sum", "everything/get-sum"] {
        let (status, _, refused) = call(json!({"tool": outside, "arguments": {"a": 1, "b": 2}})).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (404, Some("ERR_TOOL_NOT_FOUND")), "{refused}");
    }
    let (status, _, bad) = call(json!({"name": "echo"})).await;
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("ERR_INVALID_REQUEST")), "{bad}");
    for _ in 0..2 {
        assert_eq!(call(json!({"tool": "probe/echo", "arguments": {"text": "again"}})).await.0, 200);
    }
    // The limit is the role's: the fifth call in the minute is refused, with when to come back.
    let (status, headers, limited) = call(json!({"tool": "probe/echo", "arguments": {"text": "one too many"}})).await;
    assert_eq!((status, limited["error"]["code"].as_str()), (429, Some("ERR_RATE_LIMITED")), "{limited}");
    assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
    assert!(header(&headers, "retry-after").parse::<u64>().unwrap() >= 1);

    // The caller's own calls and figures; another caller sees none of them.
    let (_, _, requests) = rest(get.clone(), &format!("{api}/requests"), Some(&dev), None).await;
    let outcomes: Vec<&str> =
        requests["requests"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "ok").count(), 4, "{requests}");
    assert!(
        !requests.to_string().contains("one too many") && !requests.to_string().contains("rest\""),
        "metadata only"
    );
    let (_, _, metrics) = rest(get.clone(), &format!("{api}/metrics"), Some(&dev), None).await;
    assert_eq!((metrics["calls"].as_u64(), metrics["rateLimited"].as_u64()), (Some(4), Some(1)), "{metrics}");
    let admin = format!("Bearer {}", team.token("admin-app", None).await);
    let (_, _, theirs) = rest(get.clone(), &format!("{api}/requests"), Some(&admin), None).await;
    assert_eq!(theirs["requests"], json!([]), "{theirs}");

    // The OpenAPI document is valid OpenAPI 3.1, by the ecosystem's own validator.
    let (status, _, document) = rest(get.clone(), &format!("{api}/openapi.json"), None, None).await;
    assert_eq!((status, document["openapi"].as_str()), (200, Some("3.1.0")));
    let mut validator = tokio::process::Command::new(test_servers().join("venv/bin/python"))
        .args(["-c", "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(sys.stdin))\nprint('valid')"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test servers' venv has Python (scripts/setup --test)");
    use tokio::io::AsyncWriteExt;
    validator.stdin.take().unwrap().write_all(document.to_string().as_bytes()).await.unwrap();
    let out = validator.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "valid");
}

#[tokio::test]
async fn the_python_sdks_oauth_client_signs_a_person_in_through_the_provider_to_their_roles_tools() {
    let team = team("team-sdk-oauth").await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sdk_oauth_client.py");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(test_servers().join("venv/bin/python"))
            .arg(&script)
            .args([&team.url, "dev-ada"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the SDK's sign-in ends")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{stderr}"));
    assert_eq!(report["tools"], json!(DEV_TOOLS), "{report}");
    assert_eq!(report["echo"], "echo: signed in");
    // The person, by their subject at the provider, with the role their groups give.
    let mut link = Link::open(&team.home).await.unwrap();
    let audit = admin(&mut link, "audit.list", json!({})).await.to_string();
    assert!(audit.contains("gateway:idp:dev-ada (roles: dev)"), "{audit}");
    link.close().await;
}

#[tokio::test]
async fn beyond_loopback_means_tls_and_pages_get_in_only_from_the_configured_origins() {
    // A certificate for the gateway's address, as an operator would install one.
    let home = std::env::temp_dir().join(format!("harbor-team-certs-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    std::fs::write(home.join("cert.pem"), issued.cert.pem()).unwrap();
    std::fs::write(home.join("key.pem"), issued.signing_key.serialize_pem()).unwrap();
    let more = "tls:\n  cert: HOME/cert.pem\n  key: HOME/key.pem\ncors:\n  origins: [https://app.example]\n";
    let team = team_with("team-tls", &[], &more.replace("HOME", home.to_str().unwrap())).await;
    assert!(team.url.starts_with("https://"), "{}", team.url);
    let api = format!("{}/api/v1", team.url.trim_end_matches("/mcp"));

    // Over TLS with the certificate trusted: served. Without trusting it, or in plain HTTP: not.
    let root = reqwest::Certificate::from_pem(issued.cert.pem().as_bytes()).unwrap();
    let trusting = harbor_bridge::http::client_builder().add_root_certificate(root).build().unwrap();
    let health: Value = trusting.get(format!("{api}/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let untrusting = harbor_bridge::http::client_builder().build().unwrap();
    assert!(untrusting.get(format!("{api}/health")).send().await.is_err(), "an unknown certificate is refused");
    let plain = api.replace("https://", "http://");
    assert!(untrusting.get(format!("{plain}/health")).send().await.is_err(), "no plain HTTP on a TLS listener");

    // MCP over TLS with a team token.
    let token = team.token("dev-app", None).await;
    let config = StreamableHttpClientTransportConfig::with_uri(team.url.clone()).auth_header(token.clone());
    let client = ().serve(StreamableHttpClientTransport::with_client(trusting.clone(), config)).await.unwrap();
    let names: BTreeSet<String> =
        client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, set(&DEV_TOOLS));
    client.cancel().await.unwrap();

    // A page at a configured origin: its preflight is answered and its request carries the CORS
    // headers; a page anywhere else is refused before anything runs.
    let preflight = trusting
        .request(reqwest::Method::OPTIONS, &team.url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(header(preflight.headers(), "access-control-allow-origin"), "https://app.example");
    assert!(header(preflight.headers(), "access-control-allow-headers").contains("authorization"));
    let tools = trusting
        .get(format!("{api}/tools"))
        .header("origin", "https://app.example")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(tools.status(), 200);
    assert_eq!(header(tools.headers(), "access-control-allow-origin"), "https://app.example");
    for page in ["https://evil.example", "https://app.example.evil", "null"] {
        let refused =
            trusting.get(format!("{api}/tools")).header("origin", page).bearer_auth(&token).send().await.unwrap();
        assert_eq!(refused.status(), 403, "{page}");
        assert!(refused.headers().get("access-control-allow-origin").is_none());
    }

    // A certificate that cannot be read stops `gateway check` (and `serve`) with the key named.
    let broken = team.home.join("broken.yaml");
    let text = std::fs::read_to_string(&team.config_path).unwrap().replace("cert.pem", "missing.pem");
    std::fs::write(&broken, text).unwrap();
    let (good, said) = check(&broken);
    assert!(!good && said.contains("tls.cert") && said.contains("missing.pem"), "{said}");
}

#[tokio::test]
async fn sigterm_lets_the_calls_in_flight_finish_and_takes_no_new_work() {
    let mut team = team("team-drain").await;
    let api = format!("{}/api/v1", team.url.trim_end_matches("/mcp"));
    let bearer = format!("Bearer {}", team.token("dev-app", None).await);
    let slow = {
        let (api, bearer) = (api.clone(), bearer.clone());
        tokio::spawn(async move {
            let body = json!({"tool": "probe/slow", "arguments": {"ms": 1500, "tag": "in-flight"}});
            rest(reqwest::Method::POST, &format!("{api}/tools/call"), Some(&bearer), Some(body)).await
        })
    };
    // The call is running when the orchestrator stops the gateway.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pid = team.gateway.id().unwrap() as i32;
    unsafe { libc::kill(pid, libc::SIGTERM) };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let late = http.get(format!("{api}/tools")).header("authorization", &bearer).send().await;
    assert!(late.is_err() || late.as_ref().unwrap().status() == 503, "new work is refused: {late:?}");
    let (status, _, answer) = slow.await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["content"][0]["text"], "slept 1500 ms in-flight");
    let exited = tokio::time::timeout(Duration::from_secs(15), team.gateway.wait()).await.expect("it exits").unwrap();
    assert!(exited.success(), "{exited:?}");
}

#[tokio::test]
async fn the_files_servers_come_up_with_it_and_follow_it_on_reload() {
    let team =
        team_with("team-servers", &[], "  broken:\n    launch: {kind: process, command: /nonexistent/server}\n").await;
    let mut link = Link::open(&team.home).await.unwrap();
    let state = |list: &Value, id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["status"]["state"].as_str().unwrap().to_owned())
    };
    // The good ones run; the broken one failed on its own without holding them up.
    let list = admin(&mut link, "servers.list", json!({})).await;
    assert_eq!(state(&list, "everything").as_deref(), Some("running"), "{list}");
    assert_eq!(state(&list, "probe").as_deref(), Some("running"), "{list}");
    assert_ne!(state(&list, "broken").as_deref(), Some("running"), "{list}");
    let (dev, mut changes) = http_client(&team.url, &team.token("dev-app", None).await).await;
    assert_eq!(tools(&dev).await, set(&DEV_TOOLS));

    // A server someone added by hand is not the file's: the file may not take its id over.
    admin(&mut link, "servers.add", json!({"id": "manual", "launch": probe_launch()})).await;
    // The file drops `everything` and names `manual`: after SIGHUP `everything` is gone, and
    // `manual` is still the hand-added one.
    while changes.try_recv().is_ok() {}
    let text = std::fs::read_to_string(&team.config_path).unwrap();
    let everything = format!("  everything:\n    launch: {}\n", everything_launch("stdio"));
    let text = text.replace(&everything, &format!("  manual:\n    launch: {}\n", everything_launch("stdio")));
    std::fs::write(&team.config_path, text).unwrap();
    unsafe { libc::kill(team.gateway.id().unwrap() as i32, libc::SIGHUP) };
    tokio::time::timeout(Duration::from_secs(15), changes.recv()).await.expect("list_changed after the reload");
    let deadline = Instant::now() + Duration::from_secs(15);
    let list = loop {
        let list = admin(&mut link, "servers.list", json!({})).await;
        if state(&list, "everything").is_none() || Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(state(&list, "everything"), None, "{list}");
    let manual = list.as_array().unwrap().iter().find(|s| s["id"] == "manual").unwrap();
    assert_eq!(manual["source"]["kind"], "manual", "{manual}");
    assert_eq!(state(&list, "probe").as_deref(), Some("running"), "{list}");
    assert_eq!(tools(&dev).await, set(&["probe__echo", "probe__slow", "probe__stats", "probe__wipe"]));
    link.close().await;
    dev.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_admit_exactly_one_limit_and_share_one_trail_and_the_keys() {
    let database = support::Postgres::start("team-replicas");
    let env = [("DEV_RATE", "10"), ("TEAM_DATABASE", database.url.as_str()), ("HOSTNAME", "replica-a")];
    // Behind a load balancer replicas share the URI callers use, which their tokens name.
    let resource = "http://127.0.0.1:1/team";
    let more = format!("resource: {resource}\ndatabase: ${{TEAM_DATABASE}}\n");
    let first = team_with("team-replica-a", &env, &more).await;
    // A second replica: the same file (the same provider, roles and database), its own machine.
    let home = first.home.with_file_name(format!("harbor-team-replica-b-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let port = free_port();
    let second_url = format!("http://127.0.0.1:{port}/mcp");
    let env = [("DEV_RATE", "10"), ("TEAM_DATABASE", database.url.as_str()), ("HOSTNAME", "replica-b")];
    let _second = serve("team-replica-b", &home, &first.config_path, port, &env, &second_url).await;

    // A burst of 30 calls, split across the replicas, all at once: exactly 10 get through.
    let bearer = format!("Bearer {}", first.token("dev-app", Some(resource)).await);
    let apis = [first.url.replace("/mcp", "/api/v1"), second_url.replace("/mcp", "/api/v1")];
    let burst = (0..30).map(|i| {
        let (api, bearer) = (apis[i % 2].clone(), bearer.clone());
        async move {
            let body = json!({"tool": "probe/echo", "arguments": {"text": format!("call {i}")}});
            rest(reqwest::Method::POST, &format!("{api}/tools/call"), Some(&bearer), Some(body)).await.0
        }
    });
    let statuses = futures::future::join_all(burst).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((admitted, refused), (10, 20), "{statuses:?}");

    // Either replica tells the caller of all its calls, each with the replica that served it.
    let mut seen = Vec::new();
    for api in &apis {
        let deadline = Instant::now() + Duration::from_secs(10);
        let requests = loop {
            let (_, _, requests) = rest(reqwest::Method::GET, &format!("{api}/requests"), Some(&bearer), None).await;
            if requests["requests"].as_array().map_or(0, Vec::len) >= 10 || Instant::now() > deadline {
                break requests;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let served: Vec<String> = requests["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r["replica"].as_str().unwrap_or("?"), r["at"]))
            .collect();
        assert_eq!(served.len(), 10, "{requests}");
        assert!(served.iter().all(|s| s.starts_with("replica-a ") || s.starts_with("replica-b ")), "{requests}");
        seen.push(served);
    }
    assert_eq!(seen[0], seen[1], "both replicas read the one shared trail");

    // Harbor's own keys: made on one replica, taken by the other; re-keyed or removed on one,
    // refused by the other within the time a replica trusts its last look-up.
    let mut link = Link::open(&first.home).await.unwrap();
    let added = admin(&mut link, "gateway.clients.add", json!({"name": "script", "allow": ["probe"]})).await;
    let key = format!("Bearer {}", added["key"].as_str().unwrap());
    let tools = |api: String, bearer: String| async move {
        rest(reqwest::Method::GET, &format!("{api}/tools"), Some(&bearer), None).await.0
    };
    assert_eq!(tools(apis[1].clone(), key.clone()).await, 200, "a key made on replica a works on b");
    let rotated = admin(&mut link, "gateway.clients.rotateKey", json!({"name": "script"})).await;
    let new_key = format!("Bearer {}", rotated["key"].as_str().unwrap());
    let within = |what: &'static str, api: String, bearer: String, status: u16| async move {
        let deadline = Instant::now() + KEY_TTL + Duration::from_secs(3);
        loop {
            let got = tools(api.clone(), bearer.clone()).await;
            if got == status {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: still {got}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    within("the old key on b", apis[1].clone(), key.clone(), 401).await;
    assert_eq!(tools(apis[1].clone(), new_key.clone()).await, 200, "the new key works on b");
    admin(&mut link, "gateway.clients.remove", json!({"name": "script"})).await;
    within("a removed client's key on b", apis[1].clone(), new_key.clone(), 401).await;
    link.close().await;
}

#[tokio::test]
async fn the_kubernetes_manifests_and_the_compose_example_are_valid_and_their_configs_check() {
    let installers = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../installers");
    let manifests = installers.join("kubernetes/gateway.yaml");
    // The manifests, by the Kubernetes schemas (strict: no field Kubernetes does not know).
    let out = std::process::Command::new(test_servers().join("venv/bin/kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .arg(&manifests)
        .output()
        .expect("kubernetes-validate is in the test servers' venv (scripts/setup --test)");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !said.contains("ERROR"), "{said}");
    // The compose example, by Compose itself.
    let compose = installers.join("container/compose.yaml");
    let out = std::process::Command::new("docker-compose")
        .args(["-f"])
        .arg(&compose)
        .args(["config", "-q"])
        .output()
        .expect("docker-compose is installed (scripts/setup --test)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The gateway configs they carry pass `gateway check`, with a certificate where they expect one.
    let dir = std::env::temp_dir().join(format!("harbor-deploy-configs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), issued.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), issued.signing_key.serialize_pem()).unwrap();
    let documents = std::fs::read_to_string(&manifests).unwrap();
    let config_map = documents.split("\n---\n").next().unwrap();
    let map: serde_norway::Value = serde_norway::from_str(config_map).unwrap();
    let kubernetes = map["data"]["team.yaml"].as_str().unwrap().to_owned();
    let compose = std::fs::read_to_string(installers.join("container/team.yaml")).unwrap();
    for (name, config) in [("kubernetes", kubernetes), ("compose", compose)] {
        let config = config
            .replace("/etc/harbor/tls/tls.crt", "CERT")
            .replace("/etc/harbor/tls/tls.key", "KEY")
            .replace("/etc/harbor/tls/cert.pem", "CERT")
            .replace("/etc/harbor/tls/key.pem", "KEY")
            .replace("CERT", dir.join("cert.pem").to_str().unwrap())
            .replace("KEY", dir.join("key.pem").to_str().unwrap());
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, config).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
            .args(["gateway", "check", "--config"])
            .arg(&path)
            .env("DATABASE_URL", "postgres://harbor@127.0.0.1:1/harbor")
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.contains("is good"), "{name}: {said}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The OTLP receiver fixture on `port`, writing the spans it accepts to `spans`.
async fn otlp_receiver(port: u16, spans: &Path) -> tokio::process::Child {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/otlp_receiver.py");
    let mut command = tokio::process::Command::new(test_servers().join("venv/bin/python"));
    command.arg(script).arg(port.to_string()).arg(spans);
    let (child, ready) = support::first_line(command, Duration::from_secs(20)).await;
    assert_eq!(ready, "ready", "opentelemetry-proto is in the test servers' venv (scripts/setup --test)");
    child
}

/// The spans of `trace` the receiver holds, once there are at least `least` of them.
async fn spans_of(file: &Path, trace: &str, least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans: Vec<Value> = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|s| s["traceId"] == trace)
            .collect();
        if spans.len() >= least || Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_otlp_receiver_gets_the_spans_of_a_tool_call_under_the_callers_traceparent() {
    let dir = std::env::temp_dir().join(format!("harbor-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spans = dir.join("spans.jsonl");
    let _ = std::fs::remove_file(&spans);
    let port = free_port();
    let _receiver = otlp_receiver(port, &spans).await;
    let more = format!(
        "  trace:\n    launch: {}\ntelemetry:\n  otlp_endpoint: http://127.0.0.1:{port}\n  service_name: team-gateway\n",
        support::fixture_launch("trace_server.py")
    );
    let team = team_with("team-traces", &[], &more).await;
    let admin = team.token("admin-app", None).await;

    // Over REST, the caller's span in the `traceparent` header.
    let (trace, caller_span) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let answer: Value = http
        .post(format!("{}/tools/call", team.url.replace("/mcp", "/api/v1")))
        .bearer_auth(&admin)
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .json(&json!({"tool": "trace/traceparent"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The server got a traceparent of the caller's trace, naming Harbor's span for the call.
    let seen = answer["result"]["content"][0]["text"].as_str().unwrap().to_owned();
    let seen = SpanContextText::parse(&seen);
    assert_eq!(seen.trace, trace, "{answer}");
    assert_ne!(seen.span, caller_span);

    let got = spans_of(&spans, trace, 4).await;
    let named = |name: &str, kind: u64| {
        got.iter()
            .find(|s| s["name"].as_str().unwrap().starts_with(name) && s["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} span of kind {kind}: {}", serde_json::to_string_pretty(&got).unwrap()))
    };
    let request = named("POST /api/v1/tools/call", 2);
    let call = named("tools/call", 1);
    let policy = named("harbor.policy", 1);
    let server = named("tools/call", 3);
    assert_eq!(request["parentSpanId"], caller_span, "the request is the caller's child");
    assert_eq!(call["parentSpanId"], request["spanId"]);
    assert_eq!(policy["parentSpanId"], call["spanId"]);
    assert_eq!(server["parentSpanId"], call["spanId"]);
    assert_eq!(server["spanId"], seen.span.as_str(), "the server's traceparent is the server-call span");
    assert!(got.iter().all(|s| s["service"] == "team-gateway" && s["status"] == 1), "{got:?}");
    assert_eq!(request["attributes"]["http.response.status_code"]["intValue"], "200");
    assert_eq!(call["attributes"]["gen_ai.tool.name"]["stringValue"], "trace/traceparent");
    let recorded = std::fs::read_to_string(&spans).unwrap();
    assert!(!recorded.contains(&admin), "no token in the spans");

    // Over MCP, the caller's span in the request's `_meta.traceparent`.
    let mcp_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (client, _) = http_client(&team.url, &admin).await;
    let mut params = CallToolRequestParams::new("trace__traceparent");
    rmcp::model::RequestParamsMeta::set_traceparent(&mut params, &format!("00-{mcp_trace}-00f067aa0ba902b7-01"));
    let result = serde_json::to_value(client.call_tool(params).await.unwrap()).unwrap();
    let seen = SpanContextText::parse(result["content"][0]["text"].as_str().unwrap());
    assert_eq!(seen.trace, mcp_trace, "{result}");
    let got = spans_of(&spans, mcp_trace, 3).await;
    let call = got.iter().find(|s| s["name"].as_str().unwrap().starts_with("tools/call") && s["kind"] == 1).unwrap();
    assert_eq!(call["parentSpanId"], "00f067aa0ba902b7", "{got:?}");
    client.cancel().await.unwrap();
}

/// A `traceparent`'s trace and span ids, as text.
struct SpanContextText {
    trace: String,
    span: String,
}

impl SpanContextText {
    fn parse(traceparent: &str) -> SpanContextText {
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "not a traceparent: {traceparent:?}");
        SpanContextText { trace: parts[1].to_owned(), span: parts[2].to_owned() }
    }
}
