"use strict";
/*
 * Permission prompts and tab lifetimes, for the bridge's permission layer.
 *
 * The bridge decides and announces a prompt with a `permissions.prompt` notification; this opens
 * it in a small popup window (prompt/prompt.html), which reads and answers it itself. Closing the
 * window answers "not now" at once. Closed tabs are reported so their "allow once" grants end.
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
