//! Browser interaction in real Firefox: with the switch off every act is `ERR_FEATURE_DISABLED`;
//! with it on and the scope granted, a page fills and submits its own form through
//! `getElements`/`fill`/`select`/`click`, takes a screenshot of itself, and is refused while its
//! tab is in the background; tabs it did not open it cannot close.

use std::time::Duration;

use harbor_e2e::firefox::{Harbor, Options};
use harbor_e2e::site::{Page, Site};
use serde_json::json;

/// A sign-up form whose submit handler shows what it got.
const FORM: &str = r##"<!doctype html><html><body>
<form id="signup">
  <label>Name <input name="name" placeholder="Your name"></label>
  <label>Colour <select name="colour"><option value="red">Red</option><option value="blue">Blue</option></select></label>
  <button type="submit">Sign up</button>
</form>
<p id="out"></p>
<script>
window.__inputs = 0;
document.querySelector("[name=name]").addEventListener("input", () => window.__inputs++);
document.querySelector("#signup").addEventListener("submit", (e) => {
  e.preventDefault();
  const data = new FormData(e.target);
  document.querySelector("#out").textContent = `signed up ${data.get("name")} (${data.get("colour")})`;
});
</script></body></html>"##;

#[tokio::test]
async fn a_page_fills_and_submits_its_own_form_only_with_the_switch_on_and_while_shown() {
    let site = Site::start(vec![("/form", Page::html(FORM))]).await;
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.session.goto(&site.url("/form")).await.unwrap();
    let origin = site.origin.as_str();

    // The switch is off: even a granted scope does nothing.
    harbor.allow_always(origin, "browser:activeTab.interact").await.unwrap();
    harbor.allow_always(origin, "browser:activeTab.screenshot").await.unwrap();
    let off = harbor.page("return await agent.browser.activeTab.getElements();").await.unwrap();
    assert_eq!(off["err"]["code"], "ERR_FEATURE_DISABLED", "{off}");
    let features = harbor.page("return (await agent.capabilities()).features.browserInteraction;").await.unwrap();
    assert_eq!(features["ok"], false);

    harbor.admin("browser.settings.set", json!({"interaction": true})).await.unwrap();
    let features = harbor.page("return (await agent.capabilities()).features;").await.unwrap();
    assert_eq!(
        (features["ok"]["browserInteraction"].as_bool(), features["ok"]["browserControl"].as_bool()),
        (Some(true), Some(false))
    );

    let filled = harbor
        .page(
            r##"const elements = await agent.browser.activeTab.getElements();
               const by = (f) => elements.find(f);
               const name = by((e) => e.name === "name");
               const colour = by((e) => e.name === "colour");
               const submit = by((e) => e.tag === "button" && e.text === "Sign up");
               await agent.browser.activeTab.fill(name.ref, "Ada Lovelace");
               await agent.browser.activeTab.select(colour, "Blue");
               await agent.browser.activeTab.click(submit.ref);
               await new Promise((r) => setTimeout(r, 50));
               return {
                 out: document.querySelector("#out").textContent,
                 inputs: window.__inputs,
                 refs: [name.ref, colour.ref, submit.ref],
                 options: colour.options.map((o) => o.value),
                 placeholder: name.placeholder,
               };"##,
        )
        .await
        .unwrap();
    assert_eq!(filled["ok"]["out"], "signed up Ada Lovelace (blue)", "{filled}");
    assert_eq!(filled["ok"]["inputs"], 1, "the page heard the typing as an input event: {filled}");
    assert_eq!(filled["ok"]["options"], json!(["red", "blue"]));
    assert_eq!(filled["ok"]["placeholder"], "Your name");

    // A ref the page made up, and a choice the list does not have, are refused, saying why.
    let bad = harbor
        .page(
            r##"const e = (p) => p.then(() => "done", (x) => x.code + ": " + x.message);
               return {
                 unknown: await e(agent.browser.activeTab.click("e9999")),
                 noOption: await e(agent.browser.activeTab.select((await agent.browser.activeTab.getElements()).find((x) => x.name === "colour"), "green")),
                 notARef: await e(agent.browser.activeTab.click("#signup button")),
               };"##,
        )
        .await
        .unwrap();
    assert!(
        bad["ok"]["unknown"].as_str().unwrap().starts_with("ERR_INVALID_REQUEST: there is no element e9999"),
        "{bad}"
    );
    assert!(bad["ok"]["noOption"].as_str().unwrap().contains("offers red, blue"), "{bad}");
    assert!(bad["ok"]["notARef"].as_str().unwrap().starts_with("ERR_INVALID_REQUEST"), "{bad}");

    let shot = harbor.page("return (await agent.browser.activeTab.screenshot()).dataUrl.slice(0, 22);").await.unwrap();
    assert_eq!(shot["ok"], "data:image/png;base64,", "{shot}");

    // In a background tab the page may not act: the user is not looking at it. The call is
    // made from a timer that fires after another tab came to the front.
    let form_tab = harbor.session.window_handle().await.unwrap();
    harbor
        .session
        .execute(
            "window.__later = undefined;
             setTimeout(() => agent.browser.activeTab.getElements().then(
               () => window.__later = 'done', (e) => window.__later = (e.data && e.data.reason) || e.code), 1500);",
            json!([]),
        )
        .await
        .unwrap();
    let other = harbor.open_tab(&site.url("/form")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    harbor.session.switch_to_window(&form_tab).await.unwrap();
    let later = harbor.wait_for("window.__later", Duration::from_secs(10)).await.unwrap();
    assert_eq!(later, "tab_not_active");

    // Tabs are the other switch's: off, then on; a page closes the tabs it opened, no others.
    let tabs =
        harbor.page("return await agent.browser.tabs.create(location.href).then(() => 'made', (e) => e.code);").await;
    assert_eq!(tabs.unwrap()["ok"], "ERR_FEATURE_DISABLED");
    harbor.admin("browser.settings.set", json!({"interaction": true, "control": true})).await.unwrap();
    harbor.allow_always(origin, "browser:tabs.create").await.unwrap();
    harbor.allow_always(origin, "browser:tabs.read").await.unwrap();
    let tabs = harbor
        .page(
            r##"const made = await agent.browser.tabs.create(location.href + "?opened");
               const listed = await agent.browser.tabs.list();
               const mine = listed.find((t) => t.id === made.id);
               const stranger = listed.find((t) => t.id !== made.id && !t.active && t.url.startsWith(location.origin));
               const refused = await agent.browser.tabs.close(stranger.id).then(() => "closed", (e) => e.data.reason);
               const closed = await agent.browser.tabs.close(made.id);
               const after = (await agent.browser.tabs.list()).map((t) => t.id);
               return { mine: Boolean(mine), refused, closed: closed.success, gone: !after.includes(made.id), kept: after.includes(stranger.id) };"##,
        )
        .await
        .unwrap();
    assert_eq!(
        tabs["ok"],
        json!({"mine": true, "refused": "not_opened_by_page", "closed": true, "gone": true, "kept": true})
    );
    let _ = other;
    harbor.close().await;
}
