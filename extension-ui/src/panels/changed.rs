//! Tools whose servers changed them since the user allowed them (a "rug pull" or an honest
//! update): each with its differences — description, parameters, hints — before and now, with
//! invisible characters made visible, and a button that approves the new version. Until then the
//! site or app that was allowed the tool cannot use it. Shown by the Sites and Gateway panels.

use harbor_protocol::api::permissions::{ChangedTool, ToolChange};
use leptos::prelude::*;
use serde_json::Value;

use harbor_protocol::shown::{visible, visible_name};

/// The changed tools of `items` for `who` ("This site", "This app"); `approve` is called with a
/// tool's name when the user approves it.
pub fn changed_tools(
    items: Vec<ChangedTool>,
    who: &'static str,
    approve: impl Fn(String) + Clone + 'static,
) -> impl IntoView {
    (!items.is_empty()).then(|| {
        let rows = items
            .into_iter()
            .map(|entry| {
                let tool = entry.tool;
                let approve = approve.clone();
                let approve_tool = tool.clone();
                let changes = entry.changes.into_iter().map(change).collect_view();
                view! {
                    <div class="changed-tool" data-tool=tool.clone()>
                        <p>
                            <strong>{visible_name(&tool)}</strong>
                            {format!(" changed since you allowed it. {who} cannot use it until you approve the new version.")}
                        </p>
                        {changes}
                        <button type="button" class="approve" on:click=move |_| approve(approve_tool.clone())>
                            "Approve the new version"
                        </button>
                    </div>
                }
            })
            .collect_view();
        view! { <div class="changed-tools" role="alert">{rows}</div> }
    })
}

/// One field's difference.
fn change(change: ToolChange) -> impl IntoView {
    let shown = |v: &Value| match v {
        Value::String(s) => visible(s),
        Value::Null => "(none)".to_owned(),
        other => visible(&serde_json::to_string_pretty(other).unwrap_or_default()),
    };
    let field = match change.field.as_str() {
        "inputSchema" => "Parameters",
        "annotations" => "Hints",
        "title" => "Title",
        _ => "Description",
    };
    view! {
        <div class="change" data-field=change.field.clone()>
            <p class="change-field">{field}</p>
            <p class="change-side">"Before"</p>
            <pre class="before" aria-label=format!("{field} before")>{shown(&change.before)}</pre>
            <p class="change-side">"Now"</p>
            <pre class="after" aria-label=format!("{field} now")>{shown(&change.after)}</pre>
        </div>
    }
}
