//! The OpenID Provider the sign-in tests run on loopback (npm's `oidc-provider`, configured by
//! `tests/fixtures/oauth/provider.mjs`) and a user at its pages: typing a device code,
//! confirming, logging in as `ada` and approving — each form posted with what it carries, as a
//! browser would, cookies kept and redirects followed by hand. Shared by the bridge's tests and
//! the end-to-end tests.

use std::collections::HashMap;
use std::path::Path;

/// Starts the provider from its npm install folder `install` (the script runs from there, where
/// ESM finds the package) on a free loopback port, its tokens for `resource` by default, with
/// `env`; returns the process (stopped when dropped) and its issuer, once it listens.
pub async fn start(
    install: &Path,
    resource: &str,
    env: &[(&str, &str)],
) -> Result<(tokio::process::Child, String), String> {
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    start_fixture(install, "provider.mjs", port, resource, env).await
}

/// Starts the provider fixture `name` (in `tests/fixtures/oauth/`) on `port`: the child and its
/// issuer URL, once it listens. Starting one again on the same port is a provider that kept its
/// address and changed its keys.
pub async fn start_fixture(
    install: &Path,
    name: &str,
    port: u16,
    resource: &str,
    env: &[(&str, &str)],
) -> Result<(tokio::process::Child, String), String> {
    if !install.join("node_modules/oidc-provider/package.json").is_file() {
        return Err(format!("oidc-provider is not installed in {}: run scripts/setup --test", install.display()));
    }
    // `bridge/` or `tests/`, whichever crate includes this file: the fixture is beside both.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/oauth").join(name);
    std::fs::copy(&fixture, install.join(name)).map_err(|e| format!("{}: {e}", fixture.display()))?;
    let child = tokio::process::Command::new("node")
        .current_dir(install)
        .args([name, &port.to_string(), resource])
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("node does not run: {e}"))?;
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok((child, format!("http://127.0.0.1:{port}")));
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    Err(format!("the provider did not listen on port {port}"))
}

/// An access token for `service` at `issuer`'s token endpoint by client credentials (its secret
/// is `<service>-secret`, as the team provider fixture has it), for `resource`, asked with `http`
/// (the caller's: a crate that builds reqwest without a TLS provider installs its own first).
pub async fn client_credentials(http: &reqwest::Client, issuer: &str, service: &str, resource: &str) -> String {
    // The resource, url-encoded as a form value (reqwest::Url does the encoding).
    let mut form = reqwest::Url::parse("http://form.invalid/").unwrap();
    form.query_pairs_mut()
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", "tools:call")
        .append_pair("resource", resource);
    let answer: serde_json::Value = http
        .post(format!("{issuer}/token"))
        .basic_auth(service, Some(format!("{service}-secret")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.query().unwrap_or_default().to_owned())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap_or_else(|| panic!("no token for {service}: {answer}")).to_owned()
}

/// Opens `verification_uri`, types `user_code` where the page asks for it and posts every form
/// until a page without one: the provider's answer, returned.
pub async fn enter_code(verification_uri: &str, user_code: &str) -> Result<String, String> {
    follow(verification_uri, Some(user_code), None).await
}

/// Opens an authorization URL, logs in, approves, and returns what Harbor's listener (the
/// redirect, starting with `redirect_prefix`) answered.
pub async fn approve(authorize_url: &str, redirect_prefix: &str) -> Result<String, String> {
    follow(authorize_url, None, Some(redirect_prefix)).await
}

/// The provider's pages from `start`, as a user would go through them: each form posted with
/// what it carries (`user_code` typed where it is asked for, `ada` and any password to log in),
/// redirects followed by hand with cookies kept; ends at the first page without a form, or
/// after the request to a URL starting with `stop_at`, with that page.
async fn follow(start: &str, user_code: Option<&str>, stop_at: Option<&str>) -> Result<String, String> {
    let failed = |e: &dyn std::fmt::Display| e.to_string();
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(|e| failed(&e))?;
    let mut cookies: HashMap<String, String> = HashMap::new();
    let mut url = reqwest::Url::parse(start).map_err(|e| failed(&e))?;
    let mut form: Option<String> = None;
    for _ in 0..20 {
        let jar = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let request = match form.take() {
            Some(body) => http.post(url.clone()).header("content-type", "application/x-www-form-urlencoded").body(body),
            None => http.get(url.clone()),
        };
        let answer = request.header("cookie", jar).send().await.map_err(|e| failed(&e))?;
        for cookie in answer.headers().get_all("set-cookie") {
            let pair = cookie.to_str().unwrap_or_default().split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                cookies.insert(name.trim().to_owned(), value.to_owned());
            }
        }
        if stop_at.is_some_and(|prefix| url.as_str().starts_with(prefix)) {
            return answer.text().await.map_err(|e| failed(&e));
        }
        if answer.status().is_redirection() {
            let location = answer.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default();
            url = url.join(location).map_err(|e| failed(&e))?;
            continue;
        }
        let page = answer.text().await.map_err(|e| failed(&e))?;
        let Some(action) = page.split("action=\"").nth(1).and_then(|rest| rest.split('"').next()) else {
            return match stop_at {
                Some(prefix) => {
                    Err(format!("the provider's page at {url} has no form and never led to {prefix}: {page}"))
                }
                None => Ok(page),
            };
        };
        url = url.join(action).map_err(|e| failed(&e))?;
        let inside = page.split("<form").nth(1).unwrap_or_default().split("</form>").next().unwrap_or_default();
        // The form's fields, url-encoded the way a browser posts them.
        let mut body = reqwest::Url::parse("http://form.invalid/").map_err(|e| failed(&e))?;
        {
            let mut fields = body.query_pairs_mut();
            for input in inside.split("<input").skip(1) {
                let attribute =
                    |name: &str| input.split(&format!("{name}=\"")).nth(1).and_then(|r| r.split('"').next());
                let (name, value) = (attribute("name").unwrap_or_default(), attribute("value").unwrap_or_default());
                let value = match (name, user_code) {
                    ("", _) => continue,
                    ("user_code", Some(code)) if value.is_empty() => code,
                    ("login", _) => "ada",
                    ("password", _) => "any",
                    _ => value,
                };
                fields.append_pair(name, value);
            }
        }
        form = Some(body.query().unwrap_or_default().to_owned());
    }
    Err("the provider's pages did not end within 20 steps".into())
}
