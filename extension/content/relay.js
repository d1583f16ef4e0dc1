"use strict";
/*
 * The content relay (isolated world): carries messages between the page API in the page's own
 * world and the background, over one runtime port per frame, opened on first use.
 *
 * It only moves messages: it adds nothing about who the caller is (the background reads that
 * from port.sender) and decides nothing. If its port closes, every call still open is answered
 * with an error so no page promise is left hanging.
 */
(() => {
  const TAG = "harbor-rs:v1";
  let port = null;
  const open = new Set(); // ids of page requests still waiting for their final reply

  function toPage(msg) {
    window.postMessage({ [TAG]: "to-page", msg }, "*");
  }

  function ensurePort() {
    if (port) return port;
    port = browser.runtime.connect({ name: "harbor-page" });
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
    if (!("cancel" in msg)) open.add(msg.id);
    try {
      ensurePort().postMessage(msg);
    } catch (e) {
      open.delete(msg.id);
      toPage({ id: msg.id, error: { code: "ERR_NOT_INSTALLED", message: "Harbor's extension is not available in this page; reload it" } });
    }
  });

  window.postMessage({ [TAG]: "relay-ready" }, "*");
})();
