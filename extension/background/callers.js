"use strict";
/*
 * Callers: the runtime ports of web pages (through the content relay) and of Harbor's own pages.
 *
 * The caller context — kind, origin, tab, frame, top-level origin — is built here from
 * port.sender, which Firefox fills in; nothing a page sends can change it. Ports named
 * "harbor-ui" are accepted only from Harbor's own extension pages. Each port's requests are
 * forwarded to the bridge with that context, their events and replies come back on the same
 * port, and closing a port cancels whatever it still had running — except a chat turn of
 * Harbor's own sidebar, which goes on when the sidebar closes (its tasks too) and is stored
 * when it ends; a sidebar opened again shows it (PROTOCOL.md, `chat.changed`).
 *
 * A page's frame with an opaque origin (a sandboxed iframe, named so by the relay or by
 * port.sender.origin) reaches the bridge as origin "null", which the bridge refuses: it never
 * borrows the origin of its URL or its parent. Page ports are held to the page limits of
 * PROTOCOL.md: a message over PAGE_MESSAGE_LIMIT and a request beyond PAGE_MAX_IN_FLIGHT are
 * answered at once with an error, never dropped.
 */

const PAGE_PORT = "harbor-page";
const OPAQUE_PAGE_PORT = "harbor-page-opaque";
const UI_PORT = "harbor-ui";
// PROTOCOL.md, "Limits for pages".
const PAGE_MESSAGE_LIMIT = 4 * 1024 * 1024;
const PAGE_MAX_IN_FLIGHT = 64;
// What Harbor's own pages start that goes on when they close; only an explicit stop ends it.
const OUTLIVES_PORT = new Set(["chat.send"]);

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch (e) {
    return "null";
  }
}

function pageCaller(sender, opaque) {
  const origin = opaque || sender.origin === "null" ? "null" : sender.origin || originOf(sender.url);
  const caller = { kind: "page", origin };
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

/** Why a page's request may not go on, or null. */
function pageRefusal(message, inFlight) {
  if (inFlight.size >= PAGE_MAX_IN_FLIGHT) {
    return bridgeError("ERR_RATE_LIMITED", `this page already has ${PAGE_MAX_IN_FLIGHT} calls waiting for Harbor; wait for some to finish`,
      { reason: "too_many_in_flight", limit: PAGE_MAX_IN_FLIGHT });
  }
  let size;
  try {
    size = JSON.stringify(message.params === undefined ? {} : message.params).length;
  } catch (e) {
    return bridgeError("ERR_INVALID_REQUEST", "the message cannot be sent: it is nested too deeply or is not JSON", { reason: "message_too_large" });
  }
  if (size > PAGE_MESSAGE_LIMIT) {
    return bridgeError("ERR_INVALID_REQUEST", `a page may send at most ${PAGE_MESSAGE_LIMIT / 1024 / 1024} MiB in one call`,
      { reason: "message_too_large", limit: PAGE_MESSAGE_LIMIT });
  }
  return null;
}

/** Forwards one port's requests to the bridge as `caller`. */
function serveRequests(bridge, port, caller) {
  const isPage = caller.kind === "page";
  const inFlight = new Map(); // the port's request id -> bridge request id
  const outliving = new Set(); // bridge request ids a closed port leaves running
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
    const refused = isPage ? pageRefusal(message, inFlight) : null;
    if (refused) {
      safePost(port, { id, error: refused });
      return;
    }
    // Only the relay's stamp of user activation counts, and only for this one request.
    const callerNow = isPage ? { ...caller, userActivation: message.userActivation === true } : caller;
    const call = bridge.start(method, params, callerNow, {
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
    if (!isPage && OUTLIVES_PORT.has(method)) outliving.add(call.id);
    // The bridge decides what a page may do to the browser; the background does it (acts.js).
    const done = isPage ? call.done.then((result) => afterBridge(method, caller, result)) : call.done;
    done.then(
      (result) => safePost(port, { id, result }),
      (error) => safePost(port, { id, error })
    ).finally(() => {
      inFlight.delete(id);
      outliving.delete(call.id);
    });
  });
  port.onDisconnect.addListener(() => {
    for (const bridgeId of inFlight.values()) {
      if (!outliving.has(bridgeId)) bridge.cancel(bridgeId);
    }
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
  serveRequests(bridge, port, pageCaller(sender, port.name === OPAQUE_PAGE_PORT));
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
    // "Ask about this page": the readable text of the web page shown beside this Harbor page.
    if (message && message.control === "readPage") {
      readShownPage(port).then(
        (page) => safePost(port, { pageRead: message.ask, page }),
        (e) => safePost(port, { pageRead: message.ask, error: String(e && e.message) }),
      );
    }
  });
  port.onDisconnect.addListener(() => uiPorts.delete(port));
  bridge.connect();
}
