//! Markdown for the chat's answers, built straight into DOM nodes — never through HTML text.
//!
//! pulldown-cmark (CommonMark with tables, strikethrough and task lists) parses the answer into
//! events; [`parse`] folds them into a small tree and [`Markdown`] renders it with Leptos's
//! element builders. Raw HTML in the answer (`<script>`, `<img onerror=…>`) is shown as the text
//! it is. Links open in a new tab, only for `http(s):` and `mailto:`; anything else stays text.
//! Images are not loaded: a model that was fed a hostile page could otherwise leak the
//! conversation in an image's address, so an image shows as its description and address. Code
//! blocks get a copy button.

use leptos::html;
use leptos::prelude::*;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["navigator", "clipboard"], js_name = writeText)]
    fn clipboard_write(text: &str) -> js_sys::Promise;
}

/// A block or inline element of the answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Text(String),
    Code(String),
    CodeBlock { language: String, text: String },
    Break,
    Rule,
    Link { href: Option<String>, children: Vec<Node> },
    Image { address: String, children: Vec<Node> },
    Task(bool),
    Element { kind: Kind, children: Vec<Node> },
}

/// The elements a node can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Paragraph,
    Heading(u8),
    Quote,
    List { ordered: bool },
    Item,
    Emphasis,
    Strong,
    Strikethrough,
    Table,
    Head,
    Row,
    Cell { head: bool },
}

/// The tree of `text`.
pub fn parse(text: &str) -> Vec<Node> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // The open elements, innermost last, each with what it holds so far.
    let mut stack: Vec<(Open, Vec<Node>)> = vec![(Open::Root, Vec::new())];
    let mut in_head = false;
    for event in Parser::new_ext(text, options) {
        match event {
            Event::Start(tag) => {
                let open = match tag {
                    Tag::Paragraph => Open::Element(Kind::Paragraph),
                    Tag::Heading { level, .. } => Open::Element(Kind::Heading(heading(level))),
                    Tag::BlockQuote(_) => Open::Element(Kind::Quote),
                    Tag::List(start) => Open::Element(Kind::List { ordered: start.is_some() }),
                    Tag::Item => Open::Element(Kind::Item),
                    Tag::Emphasis => Open::Element(Kind::Emphasis),
                    Tag::Strong => Open::Element(Kind::Strong),
                    Tag::Strikethrough => Open::Element(Kind::Strikethrough),
                    Tag::Table(_) => Open::Element(Kind::Table),
                    Tag::TableHead => {
                        in_head = true;
                        Open::Element(Kind::Head)
                    }
                    Tag::TableRow => Open::Element(Kind::Row),
                    Tag::TableCell => Open::Element(Kind::Cell { head: in_head }),
                    Tag::CodeBlock(kind) => Open::CodeBlock(match kind {
                        CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or_default().to_owned(),
                        CodeBlockKind::Indented => String::new(),
                    }),
                    Tag::Link { dest_url, .. } => Open::Link(safe_link(&dest_url)),
                    Tag::Image { dest_url, .. } => Open::Image(dest_url.to_string()),
                    // Anything else (HTML blocks, footnotes, metadata) keeps only its text.
                    _ => Open::Transparent,
                };
                stack.push((open, Vec::new()));
            }
            Event::End(end) => {
                if matches!(end, TagEnd::TableHead) {
                    in_head = false;
                }
                let Some((open, children)) = stack.pop().filter(|_| !stack.is_empty()) else { continue };
                let node = match open {
                    Open::Root => continue,
                    Open::Element(kind) => Some(Node::Element { kind, children }),
                    Open::CodeBlock(language) => Some(Node::CodeBlock { language, text: plain(&children) }),
                    Open::Link(href) => Some(Node::Link { href, children }),
                    Open::Image(address) => Some(Node::Image { address, children }),
                    Open::Transparent => {
                        push_all(&mut stack, children);
                        None
                    }
                };
                if let (Some(node), Some((_, parent))) = (node, stack.last_mut()) {
                    parent.push(node);
                }
            }
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => {
                push(&mut stack, Node::Text(text.into()))
            }
            Event::Code(code) => push(&mut stack, Node::Code(code.into())),
            Event::SoftBreak => push(&mut stack, Node::Text(" ".into())),
            Event::HardBreak => push(&mut stack, Node::Break),
            Event::Rule => push(&mut stack, Node::Rule),
            Event::TaskListMarker(done) => push(&mut stack, Node::Task(done)),
            other => push(&mut stack, Node::Text(event_text(&other))),
        }
    }
    // Unclosed elements (a streaming answer stops mid-way) keep what they hold.
    while stack.len() > 1 {
        let (open, children) = stack.pop().unwrap_or((Open::Root, Vec::new()));
        let node = match open {
            Open::Element(kind) => Node::Element { kind, children },
            Open::CodeBlock(language) => Node::CodeBlock { language, text: plain(&children) },
            _ => {
                push_all(&mut stack, children);
                continue;
            }
        };
        push(&mut stack, node);
    }
    stack.pop().map(|(_, nodes)| nodes).unwrap_or_default()
}

enum Open {
    Root,
    Element(Kind),
    CodeBlock(String),
    Link(Option<String>),
    Image(String),
    Transparent,
}

fn push(stack: &mut [(Open, Vec<Node>)], node: Node) {
    if let Some((_, children)) = stack.last_mut() {
        children.push(node);
    }
}

fn push_all(stack: &mut [(Open, Vec<Node>)], nodes: Vec<Node>) {
    if let Some((_, children)) = stack.last_mut() {
        children.extend(nodes);
    }
}

fn heading(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

fn event_text(event: &Event) -> String {
    match event {
        Event::InlineMath(text) | Event::DisplayMath(text) | Event::FootnoteReference(text) => text.to_string(),
        _ => String::new(),
    }
}

/// A link's target if it is one the sidebar may open: `http(s):` or `mailto:`.
pub fn safe_link(href: &str) -> Option<String> {
    let lower = href.trim().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:"))
        .then(|| href.trim().to_owned())
}

/// The text of `nodes`, markup aside.
pub fn plain(nodes: &[Node]) -> String {
    let mut text = String::new();
    for node in nodes {
        match node {
            Node::Text(t) | Node::Code(t) => text.push_str(t),
            Node::CodeBlock { text: t, .. } => text.push_str(t),
            Node::Break => text.push('\n'),
            Node::Link { children, .. } | Node::Image { children, .. } | Node::Element { children, .. } => {
                text.push_str(&plain(children))
            }
            Node::Rule | Node::Task(_) => {}
        }
    }
    text
}

/// `text` as rendered Markdown.
#[component]
pub fn Markdown(text: String) -> impl IntoView {
    parse(&text).into_iter().map(render).collect_view()
}

fn render(node: Node) -> AnyView {
    match node {
        Node::Text(text) => text.into_any(),
        Node::Code(code) => html::code().child(code).into_any(),
        Node::Break => html::br().into_any(),
        Node::Rule => html::hr().into_any(),
        Node::Task(done) => view! { <input type="checkbox" disabled=true checked=done aria-label="task"/> }.into_any(),
        Node::CodeBlock { language, text } => {
            let copied = RwSignal::new(false);
            let copy_text = text.clone();
            let label = if language.is_empty() { "Copy code".to_owned() } else { format!("Copy {language} code") };
            view! {
                <div class="code-block">
                    <button type="button" class="copy" aria-label=label on:click=move |_| {
                        let _ = clipboard_write(&copy_text);
                        copied.set(true);
                    }>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
                    <pre><code data-language=language>{text}</code></pre>
                </div>
            }
            .into_any()
        }
        Node::Link { href: Some(href), children } => view! {
            <a href=href target="_blank" rel="noopener noreferrer">{children.into_iter().map(render).collect_view()}</a>
        }
        .into_any(),
        Node::Link { href: None, children } => children.into_iter().map(render).collect_view().into_any(),
        Node::Image { address, children } => {
            let description = plain(&children);
            html::span().class("image-ref").child(format!("[image: {description} — {address}]")).into_any()
        }
        Node::Element { kind, children } => {
            let inner = children.into_iter().map(render).collect_view();
            match kind {
                Kind::Paragraph => html::p().child(inner).into_any(),
                Kind::Heading(1) => html::h3().class("md-h1").child(inner).into_any(),
                Kind::Heading(2) => html::h4().class("md-h2").child(inner).into_any(),
                Kind::Heading(_) => html::h5().class("md-h3").child(inner).into_any(),
                Kind::Quote => html::blockquote().child(inner).into_any(),
                Kind::List { ordered: true } => html::ol().child(inner).into_any(),
                Kind::List { ordered: false } => html::ul().child(inner).into_any(),
                Kind::Item => html::li().child(inner).into_any(),
                Kind::Emphasis => html::em().child(inner).into_any(),
                Kind::Strong => html::strong().child(inner).into_any(),
                Kind::Strikethrough => html::s().child(inner).into_any(),
                Kind::Table => html::div().class("md-table").child(html::table().child(inner)).into_any(),
                Kind::Head => html::thead().child(html::tr().child(inner)).into_any(),
                Kind::Row => html::tr().child(inner).into_any(),
                Kind::Cell { head: true } => html::th().child(inner).into_any(),
                Kind::Cell { head: false } => html::td().child(inner).into_any(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_in_an_answer_stays_text() {
        let nodes = parse("Hi <script>alert(1)</script> and <img src=x onerror=alert(2)>");
        let text = plain(&nodes);
        assert!(text.contains("<script>alert(1)</script>") && text.contains("onerror=alert(2)"), "{text}");
        assert!(!format!("{nodes:?}").contains("Image"), "no image element from raw HTML");
    }

    #[test]
    fn tables_code_and_links_become_elements_and_only_safe_links_are_links() {
        let nodes = parse("| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n\n[site](https://example.com) [bad](javascript:alert(1))");
        let debug = format!("{nodes:?}");
        assert!(debug.contains("Table") && debug.contains("Cell { head: true }"), "{debug}");
        assert!(nodes.contains(&Node::CodeBlock { language: "rust".into(), text: "fn main() {}\n".into() }));
        assert!(debug.contains("href: Some(\"https://example.com\")"), "{debug}");
        assert!(debug.contains("href: None"), "{debug}");
    }

    #[test]
    fn an_answer_cut_mid_way_keeps_its_text() {
        let nodes = parse("```\nlet x = 1;");
        assert_eq!(plain(&nodes), "let x = 1;");
    }
}
