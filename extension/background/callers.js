"use strict";
/*
 * Callers: the runtime ports of web pages (through the content relay) and of Harbor's own pages.
 *
 * The caller context — kind, origin, tab, frame, top-level origin — is built here from
 * port.sender, which Firefox fills in; nothing a page sends can change it. Ports named
 * "harbor-ui" are accepted only from Harbor's own extension pages. Each port's requests are
 * forwarded to the bridge with that context, their events and replies come back on the same
 * port, and closing a port cancels whatever it still had running.
 */

const PAGE_PORT = "harbor-page";
const UI_PORT = "harbor-ui";

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch (e) {
    return "null";
  }
}

function pageCaller(sender) {
  const caller = { kind: "page", origin: sender.origin && sender.origin !== "null" ? sender.origin : originOf(sender.url) };
  if (sender.tab) {
    caller.tabId = sender.tab.id;
    if (sender.tab.url) caller.topOrigin = originOf(sender.tab.url);
  }
  if (typeof sender.frameId === "number") caller.frameId = sender.frameId;
  return caller;
}

function isExtensionPage(sender) {
  return sender.id === browser.runtime.id && typeof sender.url === "string" &&
    sender.url.startsWith(browser.runtime.getURL(""));
}

function isValidId(id) {
  return (typeof id === "string" && id.length <= 128) || Number.isSafeInteger(id);
}

function safePost(port, message) {
  try {
    port.postMessage(message);
  } catch (e) {
    // The port closed while the reply was on its way; nobody is left to tell.
  }
}

/** Forwards one port's requests to the bridge as `caller`. */
function serveRequests(bridge, port, caller) {
  const inFlight = new Map(); // the port's request id -> bridge request id
  port.onMessage.addListener((message) => {
    if (message === null || typeof message !== "object") return;
    if ("cancel" in message) {
      const bridgeId = inFlight.get(message.cancel);
      if (bridgeId !== undefined) bridge.cancel(bridgeId);
      return;
    }
    const { id, method, params } = message;
    if (!isValidId(id)) return;
    if (typeof method !== "string" || inFlight.has(id)) {
      const why = typeof method !== "string" ? "a request needs a method name" : `request id ${id} is already in use`;
      safePost(port, { id, error: bridgeError("ERR_INVALID_REQUEST", why) });
      return;
    }
    const call = bridge.start(method, params, caller, {
      onEvent: (event) => {
        // A sign-in the sidebar started: the provider's page opens in a tab of its own.
        if (method === "oauth.signIn" && caller.kind === "extension" && event && event.type === "authorize"
            && /^https?:\/\//.test(event.url || "")) {
          browser.tabs.create({ url: event.url });
        }
        safePost(port, { id, event });
      },
    });
    inFlight.set(id, call.id);
    // The bridge decides whether a page may read the active tab; the background does the reading.
    const done = method === "agent.browser.activeTab.readability"
      ? call.done.then((result) => (result && result.readActiveTab ? readActiveTab(result.readActiveTab.maxChars) : result))
      : call.done;
    done.then(
      (result) => safePost(port, { id, result }),
      (error) => safePost(port, { id, error })
    ).finally(() => inFlight.delete(id));
  });
  port.onDisconnect.addListener(() => {
    for (const bridgeId of inFlight.values()) bridge.cancel(bridgeId);
    inFlight.clear();
  });
}

/** Accepts a port from a content relay: a web page's frame. */
function attachPage(bridge, port) {
  const sender = port.sender || {};
  if (sender.id !== browser.runtime.id || !sender.tab || !/^https?:/.test(sender.url || "")) {
    port.disconnect();
    return;
  }
  serveRequests(bridge, port, pageCaller(sender));
}

/** Accepts a port from Harbor's sidebar or prompt page; anything else is dropped. */
function attachUi(bridge, port, uiPorts) {
  if (!isExtensionPage(port.sender || {})) {
    port.disconnect();
    return;
  }
  uiPorts.add(port);
  serveRequests(bridge, port, { kind: "extension" });
  safePost(port, { status: bridge.status() });
  port.onMessage.addListener((message) => {
    if (message && message.control === "reconnect") bridge.connect();
  });
  port.onDisconnect.addListener(() => uiPorts.delete(port));
  bridge.connect();
}
