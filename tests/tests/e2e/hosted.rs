//! Servers Harbor runs itself, added from the sidebar, and code mode switched on where the user
//! meets it: in real Firefox at the sidebar's 360 px, the Directory's form adds a REST API from
//! its OpenAPI document (`tests/fixtures/rest_api.py` on loopback) with its token — which the API
//! then receives — and a JavaScript server with the hosts it may fetch from; the Gateway panel's
//! switch puts an app in code mode (its tools become code mode's), and the Sites panel's switch
//! saves a site's code mode.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use harbor_e2e::firefox::{Harbor, NativeHost, Options};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Sets a sidebar field's value as typing would.
async fn type_into(harbor: &Harbor, selector: &str, value: &str) {
    harbor
        .page(&format!(
            r#"const field = document.querySelector({selector});
               field.value = {value}; field.dispatchEvent(new Event("input", {{ bubbles: true }}));
               field.dispatchEvent(new Event("change", {{ bubbles: true }}));"#,
            selector = serde_json::to_string(selector).unwrap(),
            value = serde_json::to_string(value).unwrap(),
        ))
        .await
        .unwrap();
}

/// Submits the form and waits for the outcome line of the install of `source`.
async fn add(harbor: &Harbor, source: &str) -> String {
    harbor
        .session
        .execute("document.querySelector('.add-hosted button[type=submit]').click();", json!([]))
        .await
        .unwrap();
    let done = harbor
        .wait_for(
            &format!(
                "document.querySelector('.install-progress strong')?.textContent === {} \
                 && document.querySelector('.install-progress p.state, .install-failed')?.textContent",
                serde_json::to_string(source).unwrap()
            ),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    done.as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_sidebar_adds_a_rest_api_and_a_javascript_server_and_switches_code_mode() {
    // The REST API, and its document where the user saved it.
    let port = harbor_e2e::firefox::free_port().unwrap();
    let script = harbor_e2e::paths::repo_root().join("tests/fixtures/rest_api.py");
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let mut api = tokio::process::Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .arg("sidebar-token")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut ready = BufReader::new(api.stdout.take().unwrap()).lines();
    assert_eq!(ready.next_line().await.unwrap().as_deref(), Some("ready"));
    let http = reqwest::Client::new();
    let document =
        http.get(format!("http://127.0.0.1:{port}/openapi.json")).send().await.unwrap().text().await.unwrap();
    let folder = std::env::temp_dir().join(format!("harbor-e2e-hosted-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("shop.json");
    std::fs::write(&file, document).unwrap();

    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    harbor.set_viewport(360, 900).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-directory')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-directory').click();", json!([])).await.unwrap();
    harbor.wait_for("document.querySelector('.add-hosted summary')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('.add-hosted summary').click();", json!([])).await.unwrap();

    // A REST API with its token: the token goes to the keychain, and the API gets it.
    type_into(&harbor, "#hosted-source", &file.display().to_string()).await;
    type_into(&harbor, "#hosted-token", "sidebar-token").await;
    let done = add(&harbor, &file.display().to_string()).await;
    assert_eq!(done, "Installed Pets 1 as shop. Start it in Servers.");
    let token_left =
        harbor.session.execute("return document.querySelector('#hosted-token').value;", json!([])).await.unwrap();
    assert_eq!(token_left, "", "the token does not stay in the form");
    harbor.save_screenshot("sidebar-directory-rest-api.png").await.unwrap();
    harbor.admin("servers.start", json!({"id": "shop"})).await.unwrap();
    let made = harbor
        .admin("tools.call", json!({"tool": "shop/createPet", "args": {"body": {"name": "Rex", "kind": "dog"}}}))
        .await
        .unwrap();
    assert_eq!(made["structuredContent"]["name"], "Rex", "{made}");
    let seen: Value = http.get(format!("http://127.0.0.1:{port}/v1/seen")).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen["authorized"], true, "{seen}");

    // A JavaScript server, its hosts from the form.
    let js = harbor_e2e::paths::repo_root().join("tests/fixtures/js_server.js");
    harbor
        .page(
            r##"const kind = document.querySelector("#hosted-kind");
               kind.value = "js"; kind.dispatchEvent(new Event("change", { bubbles: true }));"##,
        )
        .await
        .unwrap();
    harbor.wait_for("document.querySelector('#hosted-hosts')", Duration::from_secs(5)).await.unwrap();
    type_into(&harbor, "#hosted-source", &js.display().to_string()).await;
    type_into(&harbor, "#hosted-id", "greeter").await;
    type_into(&harbor, "#hosted-hosts", "127.0.0.1, api.example.com").await;
    let done = add(&harbor, &js.display().to_string()).await;
    assert!(done.starts_with("Installed greeter") && done.ends_with("as greeter. Start it in Servers."), "{done}");
    let entry = harbor.admin("servers.get", json!({"id": "greeter"})).await.unwrap();
    assert_eq!(entry["source"]["kind"], "js", "{entry}");
    let args = entry["launch"]["args"].as_array().unwrap();
    assert!(args.contains(&json!("127.0.0.1")) && args.contains(&json!("api.example.com")), "{entry}");

    // A URL without its SHA-256 is refused, and says what is missing.
    type_into(&harbor, "#hosted-source", "https://example.com/server.js").await;
    type_into(&harbor, "#hosted-id", "").await;
    let refused = add(&harbor, "https://example.com/server.js").await;
    assert!(refused.contains("needs its SHA-256"), "{refused}");
    let overflow =
        harbor.session.execute("return document.documentElement.scrollWidth - innerWidth;", json!([])).await.unwrap();
    assert!(overflow.as_i64().unwrap() <= 0, "the form fits the 360 px sidebar: {overflow} px too wide");
    harbor.session.execute("document.querySelector('.add-hosted').scrollIntoView();", json!([])).await.unwrap();
    harbor.save_screenshot("sidebar-directory-add-hosted.png").await.unwrap();

    // The Gateway panel's switch: the app's tools become code mode's.
    harbor.admin("gateway.clients.add", json!({"name": "coder", "allow": ["shop"]})).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-gateway').click();", json!([])).await.unwrap();
    harbor.wait_for("document.querySelector('#code-coder')", Duration::from_secs(10)).await.unwrap();
    let before = tool_names(&harbor.admin("gateway.tools", json!({"client": "coder"})).await.unwrap());
    assert!(before.contains(&"shop/listPets".to_owned()), "{before:?}");
    harbor.session.execute("document.querySelector('#code-coder').click();", json!([])).await.unwrap();
    let mut after = Vec::new();
    for _ in 0..100 {
        after = tool_names(&harbor.admin("gateway.tools", json!({"client": "coder"})).await.unwrap());
        if !after.contains(&"shop/listPets".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        after.iter().any(|t| t.ends_with("execute_code")) && !after.iter().any(|t| t.starts_with("shop/")),
        "{after:?}"
    );

    // The Sites panel's switch, saved with the site's limits.
    let origin = "https://shop.example";
    harbor.allow_always(origin, "mcp:tools.call").await.unwrap();
    harbor.session.execute("document.querySelector('#tab-sites').click();", json!([])).await.unwrap();
    let site = format!("li.site[data-origin=\"{origin}\"]");
    harbor
        .wait_for(&format!("document.querySelector('{site} .site-limits summary')"), Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .page(&format!(
            r#"const site = document.querySelector('{site}');
               site.querySelector('.site-limits summary').click();
               site.querySelector('.code-mode input').click();
               site.querySelector('.site-limits button[type=submit]').click();"#
        ))
        .await
        .unwrap();
    let mut saved = Value::Null;
    for _ in 0..100 {
        let sites = harbor.admin("permissions.sites", json!({})).await.unwrap();
        saved = sites.as_array().unwrap().iter().find(|s| s["origin"] == origin).cloned().unwrap_or_default();
        if saved["limits"]["codeMode"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(saved["limits"]["codeMode"], true, "{saved}");
    harbor.close().await;
    let _ = std::fs::remove_dir_all(Path::new(&folder));
}

fn tool_names(answer: &Value) -> Vec<String> {
    answer["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect()
}
