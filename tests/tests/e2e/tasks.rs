//! A tool that runs as an MCP task, in the sidebar's chat in real Firefox: the model calls
//! server-everything's `simulate-research-query`, the task shows with where the server says it
//! is, it is still there after the sidebar is closed and opened again, and the user stops it.

use std::time::Duration;

use harbor_e2e::firefox::{Harbor, Options};
use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::json;

#[tokio::test]
async fn a_task_shows_in_the_chat_outlives_a_closed_sidebar_and_the_user_stops_it() {
    let model = ScriptedModel::start(vec![Model::new("llama3.2:3b")]).await;
    let everything = harbor_e2e::paths::everything().unwrap();
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.set_viewport(360, 900).await.unwrap();
    let sidebar = harbor.extension_url("sidebar/index.html");
    harbor.session.goto(&sidebar).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-chat')", Duration::from_secs(10)).await.unwrap();
    harbor.add_server("everything", &["node", everything.to_str().unwrap(), "stdio"]).unwrap();
    harbor.use_ollama(&model.url(), "llama3.2:3b").await.unwrap();
    harbor.session.execute("document.querySelector('#tab-chat').click();", json!([])).await.unwrap();

    // An ambiguous topic: the task asks the user which one is meant, and waits.
    let args = json!({"topic": "python", "ambiguous": true});
    model.push(Turn::new().tool_call("everything__simulate-research-query", args));
    model.push(Turn::new().text("The research was stopped before it finished."));
    harbor.send_chat("Research python for me").await.unwrap();
    let row = ".tasks .task .task-tool";
    harbor
        .wait_for(
            &format!("document.querySelector('{row}')?.textContent === 'everything/simulate-research-query'"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    // The tool card's bar says where the server is.
    harbor
        .wait_for(
            "[...document.querySelectorAll('.tool-card .tool-progress')].some(p => /sources|content|waiting/i.test(p.textContent))",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    harbor
        .wait_for(
            "document.querySelector('.tasks .task.waiting') && document.querySelector('.ask')",
            Duration::from_secs(20),
        )
        .await
        .unwrap();

    // The sidebar is closed and opened again: the task, the question and the conversation are
    // all still there, the conversation marked as still answering.
    harbor.session.goto(&sidebar).await.unwrap();
    let back = harbor
        .wait_for(
            "(() => { const t = document.querySelector('.tasks .task.waiting');
                      return t && document.querySelector('.still-answering') && document.querySelector('.ask')
                        && document.querySelector('.conversation').textContent.includes('Research python for me')
                        && t.querySelector('.task-message').textContent; })()",
            Duration::from_secs(20),
        )
        .await;
    let back = match back {
        Ok(back) => back,
        Err(error) => {
            let seen = harbor
                .session
                .execute(
                    "return { tasks: document.querySelector('.tasks')?.outerHTML, still: !!document.querySelector('.still-answering'),
                              ask: !!document.querySelector('.ask'), conversation: document.querySelector('.conversation')?.textContent,
                              stored: localStorage.getItem('harbor.chat.session') };",
                    json!([]),
                )
                .await;
            panic!("after reopening: {error}; the sidebar shows {seen:?}");
        }
    };
    assert!(back.as_str().unwrap().contains("multiple interpretations"), "{back}");
    assert!(back.as_str().unwrap().contains("for Harbor's chat"), "whom it runs for: {back}");
    let stop = harbor
        .session
        .execute(
            "return document.querySelector('.tasks .task.waiting button.stop').getAttribute('aria-label');",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(stop, "Stop task everything/simulate-research-query of everything");
    let overflow =
        harbor.session.execute("return document.documentElement.scrollWidth - innerWidth;", json!([])).await.unwrap();
    assert_eq!(overflow, 0, "the task row and the question fit the 360 px sidebar");
    harbor.save_screenshot("sidebar-chat-task.png").await.unwrap();

    // The user stops it: the task ends as stopped, its question closes, and the turn ends
    // with the model told why — its answer shows in the conversation opened again.
    harbor
        .session
        .execute("document.querySelector('.tasks .task.waiting button.stop').click();", json!([]))
        .await
        .unwrap();
    harbor
        .wait_for(
            "document.querySelector('.tasks .task.stopped') && !document.querySelector('.ask')",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    harbor
        .wait_for(
            "document.querySelector('.conversation').textContent.includes('The research was stopped before it finished.')
             && !document.querySelector('.still-answering')",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    let told = model.chat_requests().last().unwrap().body["messages"].to_string();
    assert!(told.contains("stopped by the user"), "the model reads why the tool ended: {told}");
    harbor.close().await;
}
