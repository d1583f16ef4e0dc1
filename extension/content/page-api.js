"use strict";
/*
 * The page API (MAIN world, document_start): window.harbor, window.ai and window.agent.
 *
 * Runs in the page's own world before the page's scripts, so the objects exist when they start.
 * It has no privileges: every call becomes a request {id, method, params} posted to the content
 * relay, which forwards it to the background and the bridge. Replies settle promises; stream
 * events feed async iterables. Errors are Error objects with a `code` from the contract.
 * Whether a call is allowed is decided by the bridge, never here.
 */
(() => {
  const TAG = "harbor-rs:v1";
  const VERSION = "0.1.0";
  let nextId = 1;
  const pending = new Map(); // id -> { resolve, reject, onEvent }
  const queue = [];
  let relayReady = false;

  function toError(e) {
    const error = new Error((e && e.message) || "Harbor request failed");
    error.code = (e && e.code) || "ERR_INTERNAL";
    if (e && e.data !== undefined) error.data = e.data;
    return error;
  }

  function post(msg) {
    if (relayReady) window.postMessage({ [TAG]: "to-relay", msg }, "*");
    else queue.push(msg);
  }

  /** One request; resolves with its result. onEvent receives its stream events. */
  function request(method, params, { onEvent, signal } = {}) {
    if (signal && signal.aborted) return Promise.reject(toError({ code: "ERR_ABORTED", message: "the call was aborted" }));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject, onEvent });
      try {
        post({ id, method, params: params === undefined ? {} : params });
      } catch (e) {
        // Not cloneable (a function, too deep): say so now rather than never.
        pending.delete(id);
        reject(toError({ code: "ERR_INVALID_REQUEST", message: `the call's arguments cannot be sent: ${e && e.message}` }));
        return;
      }
      if (signal) signal.addEventListener("abort", () => post({ cancel: id }), { once: true });
    });
  }

  /** One streaming request as an async iterable of its events, ending at the final reply. */
  function stream(method, params, { signal } = {}) {
    const events = [];
    let wake = null;
    let finished = null; // { error } or { result }
    const settle = (state) => {
      finished = state;
      if (wake) wake();
    };
    request(method, params, {
      signal,
      onEvent: (event) => {
        events.push(event);
        if (wake) wake();
      },
    }).then((result) => settle({ result }), (error) => settle({ error }));
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (events.length) {
            yield events.shift();
            continue;
          }
          if (finished) {
            if (finished.error) throw finished.error;
            return;
          }
          await new Promise((resolve) => (wake = resolve));
          wake = null;
        }
      },
    };
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window) return;
    const data = event.data;
    if (!data || typeof data !== "object") return;
    if (data[TAG] === "relay-ready") {
      if (relayReady) return;
      relayReady = true;
      for (const msg of queue.splice(0)) post(msg);
      announceReady();
      return;
    }
    if (data[TAG] !== "to-page" || !data.msg) return;
    const msg = data.msg;
    const entry = pending.get(msg.id);
    if (!entry) return;
    if (msg.event !== undefined) {
      if (entry.onEvent) entry.onEvent(msg.event);
      return;
    }
    pending.delete(msg.id);
    if (msg.error) entry.reject(toError(msg.error));
    else entry.resolve(msg.result);
  });

  /* Fired once the relay answers and the document is parsed, so the page's own listeners exist. */
  function announceReady() {
    const fire = () => {
      window.dispatchEvent(new Event("harbor-provider-ready"));
      window.dispatchEvent(new Event("agent-ready"));
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fire, { once: true });
    else fire();
  }

  /**
   * A text session held by the bridge; `sessionId` is its id there. `chrome` sessions (from
   * ai.languageModel.create) stream plain string chunks like Chrome's Prompt API; Harbor's own
   * (ai.createTextSession) stream { type: "token", token } events and end with { type: "done" },
   * as the Web Agent API explainer shows.
   */
  function textSession(sessionId, chrome) {
    let destroyed = false;
    const live = () => {
      if (destroyed) throw toError({ code: "ERR_INVALID_REQUEST", message: "this session was destroyed; create a new one" });
      return sessionId;
    };
    return Object.freeze({
      async prompt(input, options) {
        return (await request("ai.session.prompt", { sessionId: live(), input }, { signal: options && options.signal })).text;
      },
      promptStreaming(input, options) {
        const events = stream("ai.session.promptStreaming", { sessionId: live(), input }, { signal: options && options.signal });
        return {
          async *[Symbol.asyncIterator]() {
            for await (const event of events) {
              if (event.token === undefined) continue;
              yield chrome ? event.token : { type: "token", token: event.token };
            }
            if (!chrome) yield { type: "done" };
          },
        };
      },
      async destroy() {
        if (destroyed) return;
        destroyed = true;
        await request("ai.session.destroy", { sessionId });
      },
      async clone() {
        return textSession((await request("ai.session.clone", { sessionId: live() })).sessionId, chrome);
      },
    });
  }

  const createTextSession = async (options) =>
    textSession((await request("ai.createTextSession", sessionOptions(options))).sessionId, false);
  const createLanguageModel = async (options) =>
    textSession((await request("ai.createTextSession", sessionOptions(options))).sessionId, true);

  /* The options the bridge takes, from either API's shape. */
  function sessionOptions(options) {
    const o = options || {};
    const picked = {};
    for (const key of ["model", "provider", "temperature", "systemPrompt", "initialPrompts"]) {
      if (o[key] !== undefined) picked[key] = o[key];
    }
    return picked;
  }

  const ai = Object.freeze({
    canCreateTextSession: () => request("ai.canCreateTextSession"),
    createTextSession,
    languageModel: Object.freeze({
      capabilities: () => request("ai.languageModel.capabilities"),
      availability: async () =>
        (await request("ai.languageModel.capabilities")).available === "readily" ? "available" : "unavailable",
      create: createLanguageModel,
    }),
    providers: Object.freeze({
      list: () => request("ai.providers.list"),
      getActive: () => request("ai.providers.getActive"),
    }),
  });

  const agent = Object.freeze({
    requestPermissions: (options) => request("agent.requestPermissions", options || {}),
    permissions: Object.freeze({ list: () => request("agent.permissions.list") }),
    tools: Object.freeze({
      list: () => request("agent.tools.list"),
      call: (options) => request("agent.tools.call", options || {}),
    }),
    run: (options) => {
      const { signal, ...params } = options || {};
      return stream("agent.run", params, { signal });
    },
    browser: Object.freeze({
      activeTab: Object.freeze({ readability: () => request("agent.browser.activeTab.readability") }),
    }),
  });

  const harbor = Object.freeze({
    version: VERSION,
    ai,
    agent,
    system: Object.freeze({
      info: () => request("system.info"),
      echo: (params, options) => request("system.echo", params, options),
    }),
  });

  for (const [name, value] of [["harbor", harbor], ["ai", ai], ["agent", agent]]) {
    Object.defineProperty(window, name, { value, enumerable: true, configurable: false, writable: false });
  }
  window.postMessage({ [TAG]: "hello" }, "*");
})();
