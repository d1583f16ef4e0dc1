//! Code mode in the sidebar's chat, in real Firefox at the sidebar's 360 px: the user turns it
//! on in Settings, the model (scripted to write code) does a two-call task with one
//! `execute_code` on the real server-everything, and the card shows the code it wrote and each
//! call the code made as a card of its own, with its arguments and result.

use std::time::Duration;

use harbor_e2e::firefox::{Harbor, Options};
use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::json;

#[tokio::test]
async fn the_chat_in_code_mode_shows_the_code_and_each_call_it_made() {
    let model = ScriptedModel::start(vec![Model::new("llama3.2:3b")]).await;
    let everything = harbor_e2e::paths::everything().unwrap();
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.set_viewport(360, 900).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-chat')", Duration::from_secs(10)).await.unwrap();
    harbor.add_server("everything", &["node", everything.to_str().unwrap(), "stdio"]).unwrap();
    harbor.use_ollama(&model.url(), "llama3.2:3b").await.unwrap();

    // Settings: the switch shows the saved setting once read, and turns code mode on.
    harbor.session.execute("document.querySelector('#tab-settings').click();", json!([])).await.unwrap();
    harbor
        .wait_for(
            "document.querySelector('#chat-code-mode') && !document.querySelector('#chat-code-mode').disabled",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    harbor.session.execute("document.querySelector('#chat-code-mode').click();", json!([])).await.unwrap();
    harbor.wait_for("document.querySelector('#chat-code-mode').checked", Duration::from_secs(10)).await.unwrap();

    harbor.session.execute("document.querySelector('#tab-chat').click();", json!([])).await.unwrap();
    let code = "const a = await tools.everything.echo({ message: 'one' });\nconst b = await tools.everything[\"get-sum\"]({ a: 2, b: 3 });\nreturn [a.content[0].text, b.content[0].text];";
    model.push(Turn::new().tool_call("execute_code", json!({ "code": code })));
    model.push(Turn::new().text("Echoed and summed: 5."));
    harbor.send_chat("Echo 'one' and add 2 and 3").await.unwrap();
    let card = ".tool-card.done[data-tool=\"harbor/execute_code\"]";
    harbor.wait_for(&format!("document.querySelector('{card}')"), Duration::from_secs(20)).await.unwrap();
    harbor.session.execute(&format!("document.querySelector('{card} summary').click();"), json!([])).await.unwrap();
    let shown = harbor
        .session
        .execute(
            &format!(
                "const card = document.querySelector('{card}');
                 const first = card.querySelector('.code-calls > li.inner');
                 first?.querySelector('summary').click();
                 return {{ code: card.querySelector('pre.code')?.textContent,
                          calls: [...card.querySelectorAll('.code-calls > li.inner')].map(li => li.querySelector('summary').textContent),
                          firstArgs: first?.querySelector('pre')?.textContent,
                          firstResult: first?.querySelector('pre.tool-result')?.textContent,
                          result: card.querySelector(':scope > details > pre.tool-result')?.textContent }};"
            ),
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(shown["code"], code, "the code, as the model wrote it: {shown}");
    assert_eq!(shown["calls"], json!(["everything/echo — done", "everything/get-sum — done"]), "{shown}");
    // Each call is a card of its own: what the code passed and what the server answered.
    assert!(shown["firstArgs"].as_str().unwrap().contains("\"message\": \"one\""), "{shown}");
    assert_eq!(shown["firstResult"], "Echo: one", "{shown}");
    assert!(shown["result"].as_str().unwrap().contains("Echo: one"), "the real server's answer: {shown}");
    harbor
        .wait_for(
            "document.querySelector('.msg.assistant')?.textContent === 'Echoed and summed: 5.'",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let overflow =
        harbor.session.execute("return document.documentElement.scrollWidth - innerWidth;", json!([])).await.unwrap();
    assert_eq!(overflow, 0, "the code card fits the 360 px sidebar");
    harbor.save_screenshot("sidebar-chat-code-mode.png").await.unwrap();
    harbor.close().await;
}
