"use strict";
/*
 * The background event page's entry: one BridgeConnection, every caller port attached to it,
 * status, notifications and the active tab fanned out to the open sidebars, permission prompts,
 * the toolbar button toggling the sidebar and counting what servers ask the user.
 */

const bridge = new BridgeConnection();
const uiPorts = new Set();

bridge.wanted = () => uiPorts.size > 0;
bridge.statusListeners.add((status) => {
  for (const port of uiPorts) safePost(port, { status });
});
bridge.notifyListeners.add((message) => {
  for (const port of uiPorts) safePost(port, message);
  if (message.notify === "asks.changed") showAsks(message.params);
});

/*
 * A server asking the user something (a form, a page to visit, its model's answer) shows as a
 * count on the toolbar button, so a closed sidebar is not a silent wait; the sidebar shows the
 * asks themselves.
 */
function showAsks(params) {
  const open = Array.isArray(params && params.asks) ? params.asks.length : 0;
  browser.action.setBadgeText({ text: open > 0 ? String(open) : "" }).catch(() => {});
  browser.action.setTitle({ title: open > 0 ? `Harbor — ${open} waiting for your answer` : null }).catch(() => {});
}

attachPrompts(bridge);

browser.runtime.onConnect.addListener((port) => {
  if (port.name === PAGE_PORT || port.name === OPAQUE_PAGE_PORT) attachPage(bridge, port);
  else if (port.name === UI_PORT) {
    attachUi(bridge, port, uiPorts);
    tellActiveTab();
  }
  else port.disconnect();
});

browser.action.onClicked.addListener(() => browser.sidebarAction.toggle());

/*
 * The page whose own tools (WebMCP) a sidebar's chat may offer, told to each Harbor page: for
 * the sidebar, the web page shown in the focused window; for Harbor opened in a tab, the last web
 * page shown in that tab's window (the page the user came from).
 */
const pageTabs = new Map(); // windowId -> the last web page tab shown in it

function isWebPage(tab) {
  return Boolean(tab) && /^https?:/.test(tab.url || "");
}

async function pageTabFor(port) {
  const own = port.sender && port.sender.tab;
  if (own) return pageTabs.get(own.windowId) ?? null;
  const [shown] = await browser.tabs.query({ active: true, lastFocusedWindow: true });
  return isWebPage(shown) ? shown.id : null;
}

async function tellActiveTab() {
  for (const port of uiPorts) {
    let tab = null;
    try {
      tab = await pageTabFor(port);
    } catch (e) {
      // The window went away meanwhile: nothing is shown.
    }
    safePost(port, { activeTab: tab });
  }
}

function noteShown(tab) {
  if (isWebPage(tab)) pageTabs.set(tab.windowId, tab.id);
  tellActiveTab();
}

browser.tabs.onActivated.addListener(({ tabId }) => browser.tabs.get(tabId).then(noteShown, () => {}));
browser.tabs.onUpdated.addListener((tabId, change, tab) => {
  if (tab.active && change.status === "complete") noteShown(tab);
});
browser.tabs.onRemoved.addListener((tabId, { windowId }) => {
  if (pageTabs.get(windowId) === tabId) pageTabs.delete(windowId);
  tellActiveTab();
});
browser.windows.onFocusChanged.addListener(tellActiveTab);
