//! Signing in to a remote MCP server that requires authorization, against real parts on
//! loopback: npm's `oidc-provider` as the authorization server, and an MCP server on the
//! official Python SDK that publishes protected resource metadata and checks tokens by
//! introspection. The test plays the user: it follows the authorization URL, logs in and
//! approves on the provider's own pages, and the browser's redirect lands on Harbor's listener.
//! The same provider is a local server's account provider: the user types Harbor's code on its
//! device page.

use crate::support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{files_under, free_port, serve_files_at, test_servers, wait_for_port, Client};
use tokio::process::{Child, Command};

/// The provider (node) and the protected MCP server (python), stopped when dropped.
struct Parts {
    _children: Vec<Child>,
    issuer: String,
    server_url: String,
    tokens_file: PathBuf,
}

/// Starts the protected MCP server on `port`, naming `issuer` as its authorization server.
async fn protected_server(port: u16, issuer: &str) -> (Child, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/oauth/protected_server.py");
    let child = Command::new(test_servers().join("venv/bin/python"))
        .arg(script)
        .arg(port.to_string())
        .arg(issuer)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("python runs");
    wait_for_port(port).await;
    (child, format!("http://127.0.0.1:{port}/mcp"))
}

async fn start_parts(tag: &str, access_token_ttl: u64) -> Parts {
    let server_port = free_port();
    let server_url = format!("http://127.0.0.1:{server_port}/mcp");
    let tokens_file = std::env::temp_dir().join(format!("harbor-oauth-tokens-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&tokens_file);
    let (ttl, tokens) = (access_token_ttl.to_string(), tokens_file.display().to_string());
    let env = [("ACCESS_TOKEN_TTL", ttl.as_str()), ("TOKENS_FILE", tokens.as_str())];
    let (provider, issuer) =
        support::provider_pages::start(&test_servers().join("oauth"), &server_url, &env).await.unwrap();
    let (server, _) = protected_server(server_port, &issuer).await;
    Parts { _children: vec![provider, server], issuer, server_url, tokens_file }
}

/// Waits for the `authorize` event of request `id` and returns its URL.
async fn authorize_url(client: &Client, id: i64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(event) = client.events_so_far(id).into_iter().find(|e| e["type"] == "authorize") {
            return event["url"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no authorize event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn redirect_uri_of(authorize: &str) -> String {
    let url = reqwest::Url::parse(authorize).unwrap();
    url.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_server_is_discovered_signed_in_refreshed_called_and_signed_out() {
    // Tokens live 65 s and are refreshed 60 s ahead: the first refresh comes about 5 s in.
    let parts = start_parts("flow", 65).await;
    let client = Client::start("oauth-flow").await;
    client.ok("servers.add", json!({"id": "protected", "launch": {"kind": "remote", "url": parts.server_url}})).await;

    // Without a sign-in the server says so, and Harbor does not retry in a loop.
    let failed = client.err("servers.start", json!({"id": "protected"})).await;
    assert!(failed["message"].as_str().unwrap().contains("sign in"), "{failed}");
    let entry = client.ok("servers.get", json!({"id": "protected"})).await;
    assert_eq!(entry["status"]["state"], "crashed");
    assert_eq!(entry["status"]["needsSignIn"], true, "{entry}");
    assert_eq!(client.ok("oauth.status", json!({"id": "protected"})).await, Value::Null);

    // Sign in: Harbor discovers the provider from the server, registers, and sends the user to
    // the provider with PKCE S256 and the resource indicator.
    let signing_in = client.send("oauth.signIn", json!({"id": "protected"})).await;
    let authorize = authorize_url(&client, signing_in).await;
    assert!(authorize.starts_with(&format!("{}/auth?", parts.issuer)), "{authorize}");
    let query: HashMap<String, String> = reqwest::Url::parse(&authorize).unwrap().query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["resource"], parts.server_url);
    assert!(query["scope"].contains("tools:call"), "the scope the server asked for is requested: {query:?}");
    let landed = support::provider_pages::approve(&authorize, &redirect_uri_of(&authorize)).await.unwrap();
    assert!(landed.contains("Harbor is signed in"), "{landed}");
    let (outcome, _) = client.wait(signing_in).await;
    let sign_in = outcome.expect("the sign-in succeeds");
    assert_eq!(sign_in["issuer"], parts.issuer);
    assert_eq!(sign_in["resource"], parts.server_url);
    let first_expiry = sign_in["expiresAt"].as_i64().unwrap();

    // The server restarts with the token and its tool answers.
    client.wait_for_state("protected", "running", Duration::from_secs(30)).await;
    let called = client.ok("tools.call", json!({"tool": "protected/whoami", "args": {}})).await;
    assert!(called.to_string().contains("authorized call"), "{called}");

    // The token is refreshed before it expires, in place: the session keeps working.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client.ok("oauth.status", json!({"id": "protected"})).await;
        if status["expiresAt"].as_i64().unwrap() > first_expiry {
            break;
        }
        assert!(Instant::now() < deadline, "the token was not refreshed ahead of expiry: {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let again = client.ok("tools.call", json!({"tool": "protected/whoami", "args": {}})).await;
    assert!(again.to_string().contains("authorized call"), "a call after the refresh goes through: {again}");

    // No token ever reaches the database, the data folder's files or a message.
    let tokens = std::fs::read_to_string(&parts.tokens_file).expect("the provider recorded its tokens");
    let tokens: Vec<&str> = tokens.lines().filter(|t| !t.is_empty()).collect();
    assert!(tokens.len() >= 3, "an access token, a refresh token and a refreshed access token: {}", tokens.len());
    let transcript = client.transcript();
    for (path, bytes) in files_under(&client.home) {
        for token in &tokens {
            assert!(!contains(&bytes, token), "a token is in {}", path.display());
        }
    }
    for token in &tokens {
        assert!(!transcript.contains(token), "a token was sent in a message");
    }

    // Signing out revokes and forgets: the server asks for a sign-in again.
    let out = client.ok("oauth.signOut", json!({"id": "protected"})).await;
    assert_eq!(out["signedOut"], true);
    assert_eq!(client.ok("oauth.status", json!({"id": "protected"})).await, Value::Null);
    let status = client.wait_for_state("protected", "crashed", Duration::from_secs(30)).await;
    assert_eq!(status["needsSignIn"], true, "{status}");
    client.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_redirect_and_a_provider_without_s256_are_refused() {
    let parts = start_parts("refusals", 3600).await;
    let client = Client::start("oauth-refusals").await;
    client.ok("servers.add", json!({"id": "protected", "launch": {"kind": "remote", "url": parts.server_url}})).await;

    // A redirect that does not carry the sign-in's state ends it, and nothing is stored.
    let signing_in = client.send("oauth.signIn", json!({"id": "protected"})).await;
    let authorize = authorize_url(&client, signing_in).await;
    let forged = format!("{}?code=stolen&state=not-the-one", redirect_uri_of(&authorize));
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let page = http.get(&forged).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 400);
    let (outcome, _) = client.wait(signing_in).await;
    let error = outcome.expect_err("a forged redirect is refused");
    assert_eq!(error["code"], "ERR_AUTH_FAILED");
    assert!(error["message"].as_str().unwrap().contains("different state"), "{error}");
    assert_eq!(client.ok("oauth.status", json!({"id": "protected"})).await, Value::Null);

    // An authorization server that does not offer PKCE S256 is refused before any browser opens.
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "code_challenge_methods_supported": ["plain"],
    });
    serve_files_at(port, vec![("/.well-known/oauth-authorization-server", metadata.to_string().into_bytes())]).await;
    let (_server, weak_url) = protected_server(free_port(), &issuer).await;
    client.ok("servers.add", json!({"id": "weak", "launch": {"kind": "remote", "url": weak_url}})).await;
    let (outcome, events) = client.wait(client.send("oauth.signIn", json!({"id": "weak"})).await).await;
    let error = outcome.expect_err("no S256, no sign-in");
    assert_eq!(error["code"], "ERR_AUTH_FAILED");
    assert!(error["message"].as_str().unwrap().contains("S256"), "{error}");
    assert!(events.iter().all(|e| e["type"] != "authorize"), "no browser was sent anywhere");
    client.finish().await;
}

/// Each sign-in failure says whose move it is: a server that cannot sign in is the request's
/// (`ERR_INVALID_REQUEST`), a server or provider that does not answer is the network's
/// (`ERR_NETWORK`, try again), and the user saying no at the provider ends it with
/// `ERR_AUTH_FAILED`. Nothing is stored for any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_say_whose_move_it_is() {
    let parts = start_parts("failures", 3600).await;
    let client = Client::start("oauth-failures").await;
    let code = |error: &Value| error["code"].as_str().unwrap().to_owned();

    client.ok("servers.add", json!({"id": "local", "launch": {"kind": "process", "command": "true"}})).await;
    let local = client.err("oauth.signIn", json!({"id": "local"})).await;
    assert_eq!(code(&local), "ERR_INVALID_REQUEST", "{local}");
    assert!(local["message"].as_str().unwrap().contains("only remote servers sign in"), "{local}");

    let open = serve_files_at(0, vec![]).await;
    client.ok("servers.add", json!({"id": "open", "launch": {"kind": "remote", "url": format!("{open}/mcp")}})).await;
    let open = client.err("oauth.signIn", json!({"id": "open"})).await;
    assert_eq!(code(&open), "ERR_INVALID_REQUEST", "{open}");
    assert!(open["message"].as_str().unwrap().contains("does not ask for a sign-in"), "{open}");

    let gone = format!("http://127.0.0.1:{}/mcp", free_port());
    client.ok("servers.add", json!({"id": "gone", "launch": {"kind": "remote", "url": gone}})).await;
    let gone = client.err("oauth.signIn", json!({"id": "gone"})).await;
    assert_eq!(code(&gone), "ERR_NETWORK", "{gone}");
    assert!(gone["message"].as_str().unwrap().contains("did not answer"), "{gone}");
    assert!(gone["message"].as_str().unwrap().contains("try again"), "{gone}");

    // The server answers, but the authorization server it names does not.
    let (_orphan, orphan_url) = protected_server(free_port(), &format!("http://127.0.0.1:{}", free_port())).await;
    client.ok("servers.add", json!({"id": "orphan", "launch": {"kind": "remote", "url": orphan_url}})).await;
    let orphan = client.err("oauth.signIn", json!({"id": "orphan"})).await;
    assert_eq!(code(&orphan), "ERR_NETWORK", "{orphan}");

    // The user denies at the provider: its redirect says `access_denied`.
    client.ok("servers.add", json!({"id": "protected", "launch": {"kind": "remote", "url": parts.server_url}})).await;
    let signing_in = client.send("oauth.signIn", json!({"id": "protected"})).await;
    let authorize = authorize_url(&client, signing_in).await;
    let state =
        reqwest::Url::parse(&authorize).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    // As the provider sends it: with its `iss` (RFC 9207; oidc-provider promises it).
    let iss: String = url::form_urlencoded::byte_serialize(parts.issuer.as_bytes()).collect();
    let denied = format!("{}?error=access_denied&state={state}&iss={iss}", redirect_uri_of(&authorize));
    harbor_bridge::http::client_builder().build().unwrap().get(&denied).send().await.unwrap();
    let (outcome, _) = client.wait(signing_in).await;
    let denied = outcome.expect_err("a denial ends the sign-in");
    assert_eq!(code(&denied), "ERR_AUTH_FAILED", "{denied}");
    assert!(denied["message"].as_str().unwrap().contains("did not grant access: access_denied"), "{denied}");
    assert_eq!(client.ok("oauth.status", json!({"id": "protected"})).await, Value::Null);
    client.finish().await;
}

fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What `whoami` of the account server says: the SHA-256 of the token it was started with.
async fn fingerprint(client: &Client) -> String {
    let called = client.ok("tools.call", json!({"tool": "notes/whoami", "args": {}})).await;
    called["content"][0]["text"].as_str().unwrap().to_owned()
}

/// A local server's account ("Connect with GitHub", against the real provider): it cannot start
/// before the account is connected, and says so; the user connects it with a code typed at the
/// provider (RFC 8628); the server starts with the access token in its variable; the token never
/// reaches a result, a message or a file; and before it expires, the server starts again with a
/// renewed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_servers_account_is_connected_with_a_code_and_renewed_before_it_expires() {
    // Tokens live 65 s and are renewed 60 s ahead: the server starts again about 5 s in.
    let parts = start_parts("account", 65).await;
    let client = Client::start("oauth-account").await;
    let account = json!({"issuer": parts.issuer, "clientId": "harbor-account", "scope": "openid offline_access", "env": "PROVIDER_TOKEN"});
    // An account is for a local server only, and names a plain variable.
    let remote = json!({"id": "r", "launch": {"kind": "remote", "url": parts.server_url}, "account": account});
    assert!(client.err("servers.add", remote).await["message"]
        .as_str()
        .unwrap()
        .contains("accounts are for local servers"));
    let mut odd = account.clone();
    odd["env"] = json!("PATH=/tmp/evil:");
    let odd = json!({"id": "odd", "launch": support::fixture_launch("account_server.py"), "account": odd});
    assert!(client.err("servers.add", odd).await["message"].as_str().unwrap().contains("environment variable"));

    client
        .ok(
            "servers.add",
            json!({"id": "notes", "launch": support::fixture_launch("account_server.py"), "account": account}),
        )
        .await;
    let failed = client.err("servers.start", json!({"id": "notes"})).await;
    assert!(failed["message"].as_str().unwrap().contains("needs its account"), "{failed}");
    let status = client.ok("servers.get", json!({"id": "notes"})).await["status"].clone();
    assert_eq!((status["state"].as_str(), status["needsSignIn"].as_bool()), (Some("crashed"), Some(true)), "{status}");

    let connecting = client.send("oauth.signIn", json!({"id": "notes", "grant": "device_code"})).await;
    let device = client.first_event(connecting, Duration::from_secs(30)).await;
    assert_eq!(device["type"], "device", "{device}");
    let (uri, code) = (device["verificationUri"].as_str().unwrap(), device["userCode"].as_str().unwrap());
    assert!(uri.starts_with(&parts.issuer), "{uri}");
    let landed = support::provider_pages::enter_code(uri, code).await.unwrap();
    assert!(landed.to_lowercase().contains("success"), "{landed}");
    let (outcome, _) = client.wait(connecting).await;
    let sign_in = outcome.expect("the account connects");
    assert_eq!(
        (sign_in["issuer"].as_str(), sign_in["grant"].as_str()),
        (Some(parts.issuer.as_str()), Some("device_code"))
    );
    assert_eq!(client.ok("oauth.status", json!({"id": "notes"})).await["resource"], "harbor-server:notes");

    // Connected, the server starts with the provider's access token in PROVIDER_TOKEN.
    client.wait_for_state("notes", "running", Duration::from_secs(30)).await;
    let first = fingerprint(&client).await;
    let issued = || -> Vec<String> {
        let tokens = std::fs::read_to_string(&parts.tokens_file).unwrap_or_default();
        tokens.lines().filter(|t| !t.is_empty()).map(str::to_owned).collect()
    };
    assert!(issued().iter().any(|t| sha256(t) == first), "the server got an access token the provider issued: {first}");
    // A server that hands its token back gets it redacted, as any secret Harbor keeps.
    let leaked = client.ok("tools.call", json!({"tool": "notes/leak", "args": {}})).await.to_string();
    assert!(leaked.contains("[redacted") && issued().iter().all(|t| !leaked.contains(t)), "{leaked}");

    // Before the token expires the server starts again with a renewed one.
    let deadline = Instant::now() + Duration::from_secs(40);
    let renewed = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(Instant::now() < deadline, "the account's token was not renewed ahead of its expiry");
        if client.ok("servers.get", json!({"id": "notes"})).await["status"]["state"] != "running" {
            continue;
        }
        match client.call("tools.call", json!({"tool": "notes/whoami", "args": {}})).await.0 {
            Ok(called) if called["content"][0]["text"] != first.as_str() => {
                break called["content"][0]["text"].as_str().unwrap().to_owned()
            }
            _ => {}
        }
    };
    assert!(issued().iter().any(|t| sha256(t) == renewed), "the renewed token is one the provider issued");

    // No token in the data folder's files or in any message.
    let transcript = client.transcript();
    for token in issued() {
        assert!(!transcript.contains(&token), "a token was sent in a message");
        for (path, bytes) in files_under(&client.home) {
            assert!(!contains(&bytes, &token), "a token is in {}", path.display());
        }
    }
    // Disconnecting forgets it: the running server starts again, and needs its account.
    assert_eq!(client.ok("oauth.signOut", json!({"id": "notes"})).await["signedOut"], true);
    let status = client.wait_for_state("notes", "crashed", Duration::from_secs(30)).await;
    assert_eq!(status["needsSignIn"], true, "{status}");
    client.finish().await;
}
