"use strict";
/*
 * Permission prompts and tab lifetimes, for the bridge's permission layer.
 *
 * The bridge decides and announces a prompt with a `permissions.prompt` notification; this opens
 * it in a small popup window (prompt/prompt.html), which reads and answers it itself. Closing the
 * window answers "not now" at once. Closed tabs are reported so their "allow once" grants end.
 * The active tab is read here, for agent.browser.activeTab.readability, only after the bridge
 * has allowed it.
 */

const promptWindows = new Map(); // windowId -> promptId

function attachPrompts(bridge) {
  bridge.notifyListeners.add((message) => {
    if (message.notify === "permissions.prompt" && message.params) openPrompt(message.params.promptId);
  });
  browser.windows.onRemoved.addListener((windowId) => {
    const promptId = promptWindows.get(windowId);
    if (promptId === undefined) return;
    promptWindows.delete(windowId);
    // Answered already? Then the bridge says there is no such prompt, and nothing changes.
    bridge.start("permissions.answer", { promptId, decision: "dismiss" }, null).done.catch(() => {});
  });
  browser.tabs.onRemoved.addListener((tabId) => {
    if (bridge.status().state !== "connected") return;
    bridge.start("permissions.tabClosed", { tabId }, null).done.catch(() => {});
  });
}

async function openPrompt(promptId) {
  const url = browser.runtime.getURL(`prompt/prompt.html?id=${encodeURIComponent(promptId)}`);
  try {
    const win = await browser.windows.create({ url, type: "popup", width: 460, height: 640 });
    promptWindows.set(win.id, promptId);
  } catch (e) {
    console.error("harbor: could not open the permission prompt", e);
  }
}

/** The active tab's URL, title and readable text, at most maxChars of it. */
async function readActiveTab(maxChars) {
  const [tab] = await browser.tabs.query({ active: true, lastFocusedWindow: true });
  if (!tab || !/^https?:/.test(tab.url || "")) {
    throw bridgeError("ERR_INVALID_REQUEST", "the active tab is not a web page Harbor can read");
  }
  const [injection] = await browser.scripting.executeScript({
    target: { tabId: tab.id },
    func: extractReadable,
    args: [maxChars],
  });
  return injection.result;
}

/* Runs in the tab: the main text without scripts, styles, navigation or forms. */
function extractReadable(maxChars) {
  const root = document.querySelector("article, main, [role=main]") || document.body;
  const clone = root ? root.cloneNode(true) : document.createElement("div");
  for (const el of clone.querySelectorAll("script, style, noscript, template, nav, header, footer, aside, form, iframe, svg")) {
    el.remove();
  }
  for (const el of clone.querySelectorAll("p, div, li, br, h1, h2, h3, h4, h5, h6, tr, section, article")) {
    el.append("\n");
  }
  const text = (clone.textContent || "").replace(/[ \t\u00a0]+/g, " ").replace(/ *\n[ \n]*/g, "\n").trim();
  return { url: location.href, title: document.title, text: text.slice(0, maxChars), truncated: text.length > maxChars };
}
