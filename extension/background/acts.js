"use strict";
/*
 * Acts: what a page asked the browser to do, carried out once the bridge allowed it.
 *
 * The bridge decides every agent.browser.* call (its switch, its scope, the calling frame, the
 * input) and answers with an act; this file does the act on the caller's own tab and answers the
 * page with what came of it. It does an act only for the method that stands for it
 * (ACT_METHODS), so no other answer of the bridge's can start one. Acts on the page need the
 * caller's tab to be the one shown in its window and still to show the caller's top-level
 * origin; they run in the tab's top frame, in the extension's isolated world, where the element
 * refs from getElements are kept out of the page's reach. tabs.close closes only a tab the
 * caller's tab opened; fetch goes out without cookies or other credentials and follows no
 * redirects. A chat a site opened (agent.chat.open, which the bridge allowed and keeps) is shown
 * in the sidebar, or — when Firefox lets the sidebar open only from a click in its own UI —
 * in a Harbor tab beside the page's.
 */

const ACT_METHODS = {
  "agent.browser.activeTab.readability": "readability",
  "agent.browser.activeTab.getElements": "getElements",
  "agent.browser.activeTab.click": "click",
  "agent.browser.activeTab.fill": "fill",
  "agent.browser.activeTab.select": "select",
  "agent.browser.activeTab.scroll": "scroll",
  "agent.browser.activeTab.screenshot": "screenshot",
  "agent.browser.tabs.list": "tabsList",
  "agent.browser.tabs.create": "tabsCreate",
  "agent.browser.tabs.close": "tabsClose",
  "agent.browser.navigate": "navigate",
  "agent.browser.fetch": "fetch",
};

/* The acts done inside the page, by the function each runs there. */
const IN_PAGE = new Set(["readability", "getElements", "click", "fill", "select", "scroll"]);

/** The bridge's answer to `method`, or what its act came to when it is one. */
function afterBridge(method, caller, result) {
  if (method === "agent.chat.open" && result && result.chatId) return showChat(caller).then(() => result);
  const kind = ACT_METHODS[method];
  if (!kind || !result || !result.act || result.act.kind !== kind) return result;
  return perform(caller, result.act);
}

async function perform(caller, act) {
  switch (act.kind) {
    case "screenshot": {
      const tab = await shownTab(caller);
      return { dataUrl: await browser.tabs.captureVisibleTab(tab.windowId, { format: "png" }) };
    }
    case "tabsList": {
      const own = await callersTab(caller);
      const tabs = await browser.tabs.query({ windowId: own.windowId });
      return tabs.map((t) => ({ id: t.id, url: t.url || "", title: t.title || "", active: Boolean(t.active) }));
    }
    case "tabsCreate": {
      const own = await callersTab(caller);
      const tab = await browser.tabs.create({ url: act.url, openerTabId: own.id, windowId: own.windowId, active: false });
      return { id: tab.id };
    }
    case "tabsClose": {
      let tab;
      try {
        tab = await browser.tabs.get(act.tabId);
      } catch (e) {
        throw bridgeError("ERR_INVALID_REQUEST", `there is no tab ${act.tabId}`);
      }
      if (tab.openerTabId !== caller.tabId) {
        throw bridgeError("ERR_PERMISSION_DENIED", "a page may close only the tabs it opened", { reason: "not_opened_by_page" });
      }
      await browser.tabs.remove(tab.id);
      return { success: true };
    }
    case "navigate": {
      await callersTab(caller);
      await browser.tabs.update(caller.tabId, { url: act.url });
      return { success: true };
    }
    case "fetch":
      return fetchFor(act);
    default: {
      if (!IN_PAGE.has(act.kind)) throw bridgeError("ERR_INTERNAL", `Harbor cannot do ${act.kind}`);
      const tab = await shownTab(caller);
      const [injection] = await browser.scripting.executeScript({
        target: { tabId: tab.id, frameIds: [0] },
        func: inPage,
        args: [act],
      });
      const outcome = injection && injection.result;
      if (!outcome) throw bridgeError("ERR_INTERNAL", "the page did not answer; reload it and try again");
      if (outcome.error) throw bridgeError(outcome.error.code, outcome.error.message, outcome.error.data);
      return outcome.result;
    }
  }
}

/* How much of a page "Ask about this page" reads. */
const PAGE_CHARS = 20000;

/**
 * The readable text of the web page shown beside a Harbor page (its "Ask about this page"): the
 * user's own request from Harbor's UI, so no site permission is involved; the text goes only to
 * the user's chat.
 */
async function readShownPage(port) {
  const tabId = await pageTabFor(port);
  if (tabId === null || tabId === undefined) throw new Error("no web page is shown beside Harbor; open one and try again");
  const [injection] = await browser.scripting.executeScript({
    target: { tabId, frameIds: [0] },
    func: inPage,
    args: [{ kind: "readability", maxChars: PAGE_CHARS }],
  });
  const outcome = injection && injection.result;
  if (!outcome || outcome.error) throw new Error("the page could not be read; reload it and try again");
  return outcome.result;
}

/** Shows Harbor's chat for the caller's tab: the sidebar, else a Harbor tab beside it. */
async function showChat(caller) {
  try {
    await browser.sidebarAction.open();
    return;
  } catch (e) {
    // Not in answer to a user action in Harbor's own UI: Firefox refuses. A tab it is.
  }
  const tab = await callersTab(caller);
  await browser.tabs.create({
    url: browser.runtime.getURL("sidebar/index.html#chat"),
    windowId: tab.windowId,
    index: tab.index + 1,
    openerTabId: tab.id,
  });
}

/** The caller's tab, still showing the caller's top-level page. */
async function callersTab(caller) {
  let tab;
  try {
    tab = await browser.tabs.get(caller.tabId);
  } catch (e) {
    throw bridgeError("ERR_INVALID_REQUEST", "the page's tab is gone");
  }
  if (!/^https?:/.test(tab.url || "") || originOf(tab.url) !== caller.topOrigin) {
    throw bridgeError("ERR_PERMISSION_DENIED", "the tab no longer shows the page that asked", { reason: "tab_navigated" });
  }
  return tab;
}

/** The caller's tab, which must also be the one the user is looking at in its window. */
async function shownTab(caller) {
  const tab = await callersTab(caller);
  if (!tab.active) {
    throw bridgeError("ERR_PERMISSION_DENIED", "a page can do this only while the user is looking at its tab; " +
      "ask again when the tab is the one shown in its window", { reason: "tab_not_active" });
  }
  return tab;
}

async function fetchFor(act) {
  let response;
  try {
    response = await fetch(act.url, {
      method: act.method,
      headers: act.headers,
      body: act.body === undefined || act.method === "GET" || act.method === "HEAD" ? undefined : act.body,
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      signal: AbortSignal.timeout(act.timeoutMs),
    });
  } catch (e) {
    const timedOut = e && e.name === "TimeoutError";
    throw bridgeError(timedOut ? "ERR_TOOL_TIMEOUT" : "ERR_NETWORK", timedOut
      ? `${act.url} did not answer in ${act.timeoutMs / 1000} s`
      : `could not fetch ${act.url} (it is unreachable, refused the request or answered with a redirect, which Harbor does not follow): ${e && e.message}`);
  }
  const { text, truncated } = await readCapped(response, act.maxBytes);
  return {
    status: response.status,
    statusText: response.statusText,
    ok: response.ok,
    url: response.url,
    headers: Object.fromEntries(response.headers),
    body: text,
    truncated,
  };
}

/** At most `maxBytes` of the body, as text. */
async function readCapped(response, maxBytes) {
  if (!response.body) return { text: "", truncated: false };
  const reader = response.body.getReader();
  const parts = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.length > maxBytes) {
      parts.push(value.subarray(0, maxBytes - size));
      truncated = true;
      reader.cancel().catch(() => {});
      break;
    }
    parts.push(value);
    size += value.length;
  }
  return { text: new TextDecoder().decode(await new Blob(parts).arrayBuffer()), truncated };
}

/*
 * Runs in the tab's top frame, in the extension's isolated world: one act, answered as
 * {result} or {error: {code, message, data}}. Element refs live in this world only.
 */
function inPage(act) {
  const fail = (code, message, data) => ({ error: { code, message, data } });
  const refs = (globalThis.harborRefs = globalThis.harborRefs || { next: 1, byRef: new Map(), byElement: new WeakMap() });
  const refOf = (el) => {
    let ref = refs.byElement.get(el);
    if (!ref) {
      ref = `e${refs.next++}`;
      refs.byElement.set(el, ref);
    }
    refs.byRef.set(ref, new WeakRef(el));
    return ref;
  };
  const element = (ref) => {
    const el = refs.byRef.get(ref)?.deref();
    if (!el || !el.isConnected) {
      return null;
    }
    return el;
  };
  const missing = (ref) => fail("ERR_INVALID_REQUEST", `there is no element ${ref} on the page now; call getElements() again`);
  const visible = (el) => {
    const rect = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return rect.width > 0 && rect.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  };
  const text = (value) => String(value || "").replace(/\s+/g, " ").trim().slice(0, 200);
  const announce = (el, ...types) => {
    for (const type of types) el.dispatchEvent(new Event(type, { bubbles: true }));
  };

  switch (act.kind) {
    case "readability": {
      const root = document.querySelector("article, main, [role=main]") || document.body;
      const clone = root ? root.cloneNode(true) : document.createElement("div");
      for (const el of clone.querySelectorAll("script, style, noscript, template, nav, header, footer, aside, form, iframe, svg")) {
        el.remove();
      }
      for (const el of clone.querySelectorAll("p, div, li, br, h1, h2, h3, h4, h5, h6, tr, section, article")) {
        el.append("\n");
      }
      const all = (clone.textContent || "").replace(/[ \t\u00a0]+/g, " ").replace(/ *\n[ \n]*/g, "\n").trim();
      return { result: { url: location.href, title: document.title, text: all.slice(0, act.maxChars), truncated: all.length > act.maxChars } };
    }
    case "getElements": {
      const selector = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], [role=link], " +
        "[role=checkbox], [role=tab], [role=menuitem], [contenteditable=''], [contenteditable=true]";
      const found = [];
      for (const el of document.querySelectorAll(selector)) {
        if (found.length >= act.max) break;
        if (!visible(el)) continue;
        const rect = el.getBoundingClientRect();
        const tag = el.tagName.toLowerCase();
        const item = {
          ref: refOf(el),
          role: el.getAttribute("role") || (tag === "a" ? "link" : tag === "input" ? (el.type || "text") : tag),
          tag,
          text: text(el.getAttribute("aria-label") || el.innerText || el.value || el.getAttribute("title")),
          rect: { x: Math.round(rect.x), y: Math.round(rect.y), width: Math.round(rect.width), height: Math.round(rect.height) },
        };
        if (el.name) item.name = el.name;
        if (el.placeholder) item.placeholder = el.placeholder;
        if ("value" in el && tag !== "button" && el.type !== "password") item.value = String(el.value);
        if (el.type === "checkbox" || el.type === "radio") item.checked = el.checked;
        if (el.disabled) item.disabled = true;
        if (tag === "select") item.options = [...el.options].slice(0, 50).map((o) => ({ value: o.value, text: text(o.text) }));
        found.push(item);
      }
      return { result: found };
    }
    case "click": {
      const el = element(act.ref);
      if (!el) return missing(act.ref);
      if (el.disabled) return fail("ERR_INVALID_REQUEST", `${act.ref} is disabled`);
      el.scrollIntoView({ block: "center", inline: "center" });
      if (typeof el.focus === "function") el.focus();
      el.click();
      return { result: { success: true } };
    }
    case "fill": {
      const el = element(act.ref);
      if (!el) return missing(act.ref);
      const tag = el.tagName.toLowerCase();
      if (el.isContentEditable) {
        el.focus();
        el.textContent = act.value;
        announce(el, "input");
        return { result: { success: true } };
      }
      if (!(tag === "textarea" || (tag === "input" && !["button", "submit", "reset", "checkbox", "radio", "file", "image"].includes(el.type)))) {
        return fail("ERR_INVALID_REQUEST", `${act.ref} is a ${tag} that takes no typed text; fill text fields, or use click or select`);
      }
      if (el.disabled || el.readOnly) return fail("ERR_INVALID_REQUEST", `${act.ref} is disabled or read-only`);
      el.focus();
      el.value = act.value;
      announce(el, "input", "change");
      return { result: { success: true } };
    }
    case "select": {
      const el = element(act.ref);
      if (!el) return missing(act.ref);
      if (el.tagName.toLowerCase() !== "select") return fail("ERR_INVALID_REQUEST", `${act.ref} is not a list to choose from`);
      const option = [...el.options].find((o) => o.value === act.value) || [...el.options].find((o) => o.text.trim() === act.value);
      if (!option) {
        const offered = [...el.options].slice(0, 20).map((o) => o.value).join(", ");
        return fail("ERR_INVALID_REQUEST", `${act.ref} has no option ${JSON.stringify(act.value)}; it offers ${offered}`);
      }
      el.value = option.value;
      announce(el, "input", "change");
      return { result: { success: true, value: option.value } };
    }
    case "scroll": {
      const across = act.direction === "left" || act.direction === "right";
      const step = act.amount ?? Math.round((across ? innerWidth : innerHeight) * 0.8);
      const sign = act.direction === "up" || act.direction === "left" ? -1 : 1;
      window.scrollBy(across ? sign * step : 0, across ? 0 : sign * step);
      return { result: { success: true, scrollX: Math.round(scrollX), scrollY: Math.round(scrollY) } };
    }
    default:
      return fail("ERR_INTERNAL", `no such act ${act.kind}`);
  }
}
