//! The bridge's half of browser interaction and control, attacked as hostile pages would: every
//! act is refused while its switch is off (even with its scope granted), needs its own scope,
//! is refused to a frame of another origin that would drive the page embedding it, and takes no
//! made-up refs, no non-web addresses, and no fetch from a public site into this computer or its
//! network. What is allowed comes back as the act the background carries out.

use serde_json::{json, Value};

use crate::support::{frame, page, set_grant, Client};

const SHOP: &str = "https://shop.example";

async fn refused(client: &Client, caller: &Value, method: &str, params: Value) -> Value {
    match client.call_as(caller, method, params.clone()).await.0 {
        Ok(result) => panic!("{method} {params} was allowed: {result}"),
        Err(error) => error,
    }
}

#[tokio::test]
async fn each_act_needs_its_switch_its_scope_and_the_callers_own_page() {
    let client = Client::start("browser-acts").await;
    let shop = page(SHOP, 1);
    set_grant(&client, SHOP, "browser:activeTab.interact", "ALLOW_ALWAYS").await;
    set_grant(&client, SHOP, "web:fetch", "ALLOW_ALWAYS").await;

    // Off by default: a granted scope does not turn a switch on.
    let off = refused(&client, &shop, "agent.browser.activeTab.click", json!({"ref": "e1"})).await;
    assert_eq!(off["code"], "ERR_FEATURE_DISABLED", "{off}");
    assert!(off["message"].as_str().unwrap().contains("Let sites act in their pages"), "{off}");
    let off = refused(&client, &shop, "agent.browser.fetch", json!({"url": "https://news.example/"})).await;
    assert_eq!(
        (off["code"].as_str(), off["data"]["switch"].as_str()),
        (Some("ERR_FEATURE_DISABLED"), Some("Let sites open tabs, navigate and fetch"))
    );
    let features = client.call_as(&shop, "agent.capabilities", json!({})).await.0.unwrap();
    assert_eq!(
        (features["browserInteraction"].as_bool(), features["browserControl"].as_bool()),
        (Some(false), Some(false))
    );

    assert_eq!(
        client.ok("browser.settings.set", json!({"interaction": true})).await,
        json!({"interaction": true, "control": false})
    );
    let features = client.call_as(&shop, "agent.capabilities", json!({})).await.0.unwrap();
    assert_eq!(features["browserInteraction"], true);
    let act =
        client.call_as(&shop, "agent.browser.activeTab.fill", json!({"ref": "e3", "value": "Ada"})).await.0.unwrap();
    assert_eq!(act, json!({"act": {"kind": "fill", "ref": "e3", "value": "Ada"}}));

    // Each act has its own scope: interaction does not grant screenshots.
    let shot = refused(&client, &shop, "agent.browser.activeTab.screenshot", json!({})).await;
    assert_eq!(
        (shot["code"].as_str(), shot["data"]["scope"].as_str()),
        (Some("ERR_SCOPE_REQUIRED"), Some("browser:activeTab.screenshot"))
    );

    // A frame of another origin inside the shop may not drive the shop's page, even with its
    // own grant and a gesture.
    set_grant(&client, "https://ads.example", "browser:activeTab.interact", "ALLOW_ALWAYS").await;
    let ad = frame("https://ads.example", SHOP, 1, 7, true);
    let framed = refused(&client, &ad, "agent.browser.activeTab.click", json!({"ref": "e1"})).await;
    assert_eq!(
        (framed["code"].as_str(), framed["data"]["reason"].as_str()),
        (Some("ERR_PERMISSION_DENIED"), Some("cross_origin_frame"))
    );

    // Made-up refs and oversized values are refused before anything reaches the tab.
    for bad in ["#buy", "e", "e1; drop", "button"] {
        let error = refused(&client, &shop, "agent.browser.activeTab.click", json!({"ref": bad})).await;
        assert_eq!(error["code"], "ERR_INVALID_REQUEST", "{bad}: {error}");
    }
    let huge = "x".repeat(100_001);
    let error = refused(&client, &shop, "agent.browser.activeTab.fill", json!({"ref": "e1", "value": huge})).await;
    assert_eq!(error["code"], "ERR_INVALID_REQUEST");

    // Control: no script or file addresses, and no fetch from the internet into this computer
    // or its network — while a page served from loopback may fetch loopback.
    client.ok("browser.settings.set", json!({"interaction": true, "control": true})).await;
    set_grant(&client, SHOP, "browser:navigate", "ALLOW_ALWAYS").await;
    for url in ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,hi"] {
        let error = refused(&client, &shop, "agent.browser.navigate", json!({"url": url})).await;
        assert_eq!(error["code"], "ERR_INVALID_REQUEST", "{url}: {error}");
    }
    for url in [
        "http://127.0.0.1:9090/admin",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://localhost:631/",
    ] {
        let error = refused(&client, &shop, "agent.browser.fetch", json!({"url": url})).await;
        assert_eq!(
            (error["code"].as_str(), error["data"]["reason"].as_str()),
            (Some("ERR_PERMISSION_DENIED"), Some("private_network")),
            "{url}: {error}"
        );
    }
    let fetch = client
        .call_as(
            &shop,
            "agent.browser.fetch",
            json!({"url": "https://news.example/feed", "options": {"method": "post", "body": "q=1"}}),
        )
        .await
        .0
        .unwrap();
    assert_eq!(fetch["act"]["method"], "POST");
    assert_eq!(fetch["act"]["maxBytes"], 5 * 1024 * 1024);
    let bad = refused(
        &client,
        &shop,
        "agent.browser.fetch",
        json!({"url": "https://news.example/", "options": {"method": "CONNECT"}}),
    )
    .await;
    assert_eq!(bad["code"], "ERR_INVALID_REQUEST");
    let local = page("http://127.0.0.1:8000", 2);
    set_grant(&client, "http://127.0.0.1:8000", "web:fetch", "ALLOW_ALWAYS").await;
    let allowed =
        client.call_as(&local, "agent.browser.fetch", json!({"url": "http://127.0.0.1:9090/"})).await.0.unwrap();
    assert_eq!(allowed["act"]["kind"], "fetch");

    // Every decision is audited under its method, refused ones too.
    let audit = client.ok("audit.list", json!({"origin": SHOP})).await;
    let methods: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["method"].as_str()).collect();
    assert!(methods.contains(&"agent.browser.activeTab.click") && methods.contains(&"agent.browser.fetch"), "{audit}");

    // The switches persist across a restart of the bridge.
    let home = client.home.clone();
    client.finish().await;
    let client = Client::open(home).await;
    assert_eq!(client.ok("browser.settings.get", json!({})).await, json!({"interaction": true, "control": true}));
    client.finish().await;
}
