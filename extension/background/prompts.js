"use strict";
/*
 * Permission prompts and tab lifetimes, for the bridge's permission layer.
 *
 * The bridge decides and announces a prompt with a `permissions.prompt` notification; this opens
 * it in a small popup window (prompt/prompt.html), which reads and answers it itself. Closing the
 * window answers "not now" at once. Closed tabs are reported so their "allow once" grants end.
 * The caller's own tab is read here, for agent.browser.activeTab.readability, only after the
 * bridge has allowed it, only while that tab is the one shown in its window, and only for a
 * frame of the tab's own top-level origin.
 */

const promptWindows = new Map(); // windowId -> promptId

function attachPrompts(bridge) {
  bridge.notifyListeners.add((message) => {
    if (message.notify === "permissions.prompt" && message.params) openPrompt(bridge, message.params.promptId);
  });
  browser.windows.onRemoved.addListener((windowId) => {
    const promptId = promptWindows.get(windowId);
    if (promptId === undefined) return;
    promptWindows.delete(windowId);
    dismiss(bridge, promptId);
  });
  browser.tabs.onRemoved.addListener((tabId) => {
    if (bridge.status().state !== "connected") return;
    bridge.start("permissions.tabClosed", { tabId }, null).done.catch(() => {});
  });
}

/** "Not now" for a prompt nobody can see; if it was answered already, nothing changes. */
function dismiss(bridge, promptId) {
  bridge.start("permissions.answer", { promptId, decision: "dismiss" }, null).done.catch(() => {});
}

async function openPrompt(bridge, promptId) {
  const url = browser.runtime.getURL(`prompt/prompt.html?id=${encodeURIComponent(promptId)}`);
  let win;
  try {
    win = await browser.windows.create({ url, type: "popup", width: 460, height: 640 });
  } catch (e) {
    console.error("harbor: could not open the permission prompt", e);
    dismiss(bridge, promptId);
    return;
  }
  promptWindows.set(win.id, promptId);
  // Closed before windows.create resolved? Then onRemoved found nothing to answer for it.
  try {
    await browser.windows.get(win.id);
  } catch (e) {
    promptWindows.delete(win.id);
    dismiss(bridge, promptId);
  }
}

/** The caller's own tab's URL, title and readable text, at most maxChars of it. */
async function readCallersTab(caller, maxChars) {
  let tab;
  try {
    tab = await browser.tabs.get(caller.tabId);
  } catch (e) {
    throw bridgeError("ERR_INVALID_REQUEST", "the page's tab is gone");
  }
  if (!tab.active) {
    throw bridgeError("ERR_PERMISSION_DENIED", "a page can read its tab only while the user is looking at it; " +
      "ask again when the tab is the one shown in its window", { reason: "tab_not_active" });
  }
  if (!/^https?:/.test(tab.url || "") || originOf(tab.url) !== caller.topOrigin) {
    throw bridgeError("ERR_PERMISSION_DENIED", "the tab no longer shows the page that asked", { reason: "tab_navigated" });
  }
  if (caller.origin !== caller.topOrigin) {
    throw bridgeError("ERR_PERMISSION_DENIED", `a frame from ${caller.origin} may not read the page ${caller.topOrigin} ` +
      "that embeds it; only the page itself may", { reason: "cross_origin_frame" });
  }
  const [injection] = await browser.scripting.executeScript({
    target: { tabId: tab.id, frameIds: [0] },
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
