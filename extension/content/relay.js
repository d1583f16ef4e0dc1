"use strict";
/*
 * The content relay (isolated world): carries messages between the page API in the page's own
 * world and the background, over one runtime port per frame, opened on first use.
 *
 * It adds nothing the page could choose about who the caller is (the background reads that from
 * port.sender) and decides nothing. It does stamp two facts that only this world can see and the
 * page cannot forge: whether the frame's origin is opaque (a sandboxed frame, sent as the port's
 * name) and whether the frame has transient user activation at the moment of the call (a click or
 * key press in the last few seconds), which the bridge needs before it opens a prompt. A message
 * over the page size limit, or one that cannot be serialized (too deep), is answered at once with
 * an error instead of being dropped. If its port closes, every call still open is answered with
 * an error so no page promise is left hanging.
 */
(() => {
  const TAG = "harbor-rs:v1";
  // The largest message a page may send, as JSON text (PROTOCOL.md, "Limits for pages").
  const PAGE_MESSAGE_LIMIT = 4 * 1024 * 1024;
  let port = null;
  const open = new Set(); // ids of page requests still waiting for their final reply

  function toPage(msg) {
    window.postMessage({ [TAG]: "to-page", msg }, "*");
  }

  function opaqueOrigin() {
    try {
      return window.origin === "null";
    } catch (e) {
      return true;
    }
  }

  function ensurePort() {
    if (port) return port;
    port = browser.runtime.connect({ name: opaqueOrigin() ? "harbor-page-opaque" : "harbor-page" });
    port.onMessage.addListener((msg) => {
      if (msg && msg.event === undefined) open.delete(msg.id);
      toPage(msg);
    });
    port.onDisconnect.addListener(() => {
      port = null;
      for (const id of open) {
        toPage({ id, error: { code: "ERR_INTERNAL", message: "Harbor's extension was reloaded or disabled; reload the page and try again" } });
      }
      open.clear();
    });
    return port;
  }

  /** Why `msg` may not be sent, or null. */
  function refusal(msg) {
    let size;
    try {
      size = JSON.stringify(msg).length;
    } catch (e) {
      return "the message cannot be sent: it is nested too deeply or holds values that are not JSON";
    }
    if (size > PAGE_MESSAGE_LIMIT) {
      return `the message is ${Math.ceil(size / 1024)} KiB; a page may send at most ${PAGE_MESSAGE_LIMIT / 1024 / 1024} MiB in one call`;
    }
    return null;
  }

  function activated() {
    const activation = navigator.userActivation;
    return Boolean(activation && activation.isActive);
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window) return;
    const data = event.data;
    if (!data || typeof data !== "object") return;
    if (data[TAG] === "hello") {
      window.postMessage({ [TAG]: "relay-ready" }, "*");
      return;
    }
    if (data[TAG] !== "to-relay" || !data.msg || typeof data.msg !== "object") return;
    const msg = data.msg;
    if ("cancel" in msg) {
      if (port) port.postMessage({ cancel: msg.cancel });
      return;
    }
    const why = refusal(msg);
    if (why) {
      toPage({ id: msg.id, error: { code: "ERR_INVALID_REQUEST", message: why, data: { reason: "message_too_large" } } });
      return;
    }
    open.add(msg.id);
    try {
      ensurePort().postMessage({ id: msg.id, method: msg.method, params: msg.params, userActivation: activated() });
    } catch (e) {
      open.delete(msg.id);
      toPage({ id: msg.id, error: { code: "ERR_NOT_INSTALLED", message: "Harbor's extension is not available in this page; reload it" } });
    }
  });

  window.postMessage({ [TAG]: "relay-ready" }, "*");
})();
