"use strict";
/*
 * The page API (MAIN world, document_start): window.harbor, window.ai, window.agent, the
 * Prompt API's global LanguageModel (webmachinelearning/prompt-api) and WebMCP's
 * document.modelContext (webmachinelearning/webmcp) in secure contexts.
 *
 * Runs in the page's own world before the page's scripts, so the objects exist when they start.
 * It has no privileges: every call becomes a request {id, method, params} posted to the content
 * relay, which forwards it to the background and the bridge. Replies settle promises; stream
 * events feed async iterables and ReadableStreams. Errors are DOMExceptions named as the web
 * platform names them (AbortError, NotAllowedError, …) that also carry a `code` from the
 * contract. Whether a call is allowed is decided by the bridge, never here.
 */
(() => {
  const TAG = "harbor-rs:v1";
  const VERSION = "0.1.0";
  let nextId = 1;
  const pending = new Map(); // id -> { resolve, reject, onEvent }
  const queue = [];
  let relayReady = false;

  /* The DOMException name each contract code is thrown as (anything else: OperationError). */
  const NAMES = {
    ERR_ABORTED: "AbortError",
    ERR_PERMISSION_DENIED: "NotAllowedError",
    ERR_SCOPE_REQUIRED: "NotAllowedError",
    ERR_FEATURE_DISABLED: "NotAllowedError",
    ERR_NOT_INSTALLED: "NotSupportedError",
    ERR_MODEL_UNAVAILABLE: "NotSupportedError",
    ERR_NOT_SUPPORTED: "NotSupportedError",
    ERR_CONTEXT_OVERFLOW: "QuotaExceededError",
    ERR_BUDGET_EXCEEDED: "QuotaExceededError",
    ERR_RATE_LIMITED: "QuotaExceededError",
    ERR_SESSION_NOT_FOUND: "InvalidStateError",
    ERR_INVALID_REQUEST: "DataError",
    ERR_TOOL_TIMEOUT: "TimeoutError",
  };

  function toError(e) {
    const code = (e && e.code) || "ERR_INTERNAL";
    const error = new DOMException((e && e.message) || "Harbor request failed", NAMES[code] || "OperationError");
    // Own properties: DOMException has `code` (a number) and, in Firefox, `data` as read-only
    // accessors, which plain assignment cannot override.
    const own = (name, value) => Object.defineProperty(error, name, { value, enumerable: true });
    own("code", code);
    if (e && e.data !== undefined) {
      own("data", e.data);
      // QuotaExceededError's own members, in tokens.
      if (code === "ERR_CONTEXT_OVERFLOW") {
        own("requested", e.data.requested);
        own("quota", e.data.quota);
      }
    }
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

  /*
   * What this page API offers, as the reference implementation's `agent-ready` detail and
   * `agent.capabilities()` name it: the bridge says, since browser interaction and control are
   * switches the user sets in Harbor. Without a bridge, only what needs none.
   */
  const OFFLINE_FEATURES = Object.freeze({
    textGeneration: false,
    languageModel: false,
    toolAccess: false,
    toolCalling: false,
    browserRead: false,
    browserInteraction: false,
    browserControl: false,
    multiAgent: false,
    webmcp: true,
    bringYourOwnChatbot: false,
  });
  const features = () => request("agent.capabilities").then((f) => Object.freeze(f), () => OFFLINE_FEATURES);

  /* Fired once the relay answers and the document is parsed, so the page's own listeners exist. */
  function announceReady() {
    const fire = async () => {
      const detail = Object.freeze({ version: VERSION, features: await features() });
      window.dispatchEvent(new Event("harbor-provider-ready"));
      window.dispatchEvent(new CustomEvent("agent-ready", { detail }));
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fire, { once: true });
    else fire();
  }

  /**
   * A text session held by the bridge (ai.createTextSession, the Web Agent API's shape);
   * `sessionId` is its id there. promptStreaming yields each token as a String object that also
   * carries `type: "token"` and `token`, so pages that concatenate chunks (`text += chunk`) and
   * pages that read `chunk.token` both get the text; it ends with one `{type: "done"}` whose
   * string value is empty, so it adds nothing to a concatenation.
   */
  /* A stream's chunk as the Web Agent API's pages read it: a String (so `text += chunk` works)
   * that also carries `type` and `token`. */
  const chunk = (text, type) => Object.assign(new String(text), type === "done" ? { type } : { type, token: text });

  /* The token events of `events` as chunks, ending with one `{type: "done"}`. */
  const tokenChunks = (events) => ({
    async *[Symbol.asyncIterator]() {
      for await (const event of events) {
        if (event.token !== undefined) yield chunk(event.token, "token");
      }
      yield chunk("", "done");
    },
  });

  function textSession(sessionId) {
    let destroyed = false;
    const live = () => {
      if (destroyed) throw toError({ code: "ERR_SESSION_NOT_FOUND", message: "this session was destroyed; create a new one" });
      return sessionId;
    };
    return Object.freeze({
      sessionId,
      async prompt(input, options) {
        return (await request("ai.session.prompt", { sessionId: live(), input }, { signal: options && options.signal })).text;
      },
      promptStreaming(input, options) {
        return tokenChunks(stream("ai.session.promptStreaming", { sessionId: live(), input }, { signal: options && options.signal }));
      },
      async destroy() {
        if (destroyed) return;
        destroyed = true;
        await request("ai.session.destroy", { sessionId });
      },
      async clone() {
        return textSession((await request("ai.session.clone", { sessionId: live() })).sessionId);
      },
    });
  }

  const createTextSession = async (options) => {
    const o = options || {};
    const picked = {};
    for (const key of ["model", "provider", "temperature", "systemPrompt", "initialPrompts"]) {
      if (o[key] !== undefined) picked[key] = o[key];
    }
    return textSession((await request("ai.createTextSession", picked)).sessionId);
  };

  /* ---- The Prompt API: LanguageModel ---- */

  const CONSTRUCT = Symbol("harbor");
  const abortError = (signal) =>
    toError({ code: "ERR_ABORTED", message: (signal && signal.reason && String(signal.reason)) || "the operation was aborted" });
  const kinds = (expected) => (Array.isArray(expected) ? expected.map((e) => e && e.type) : []);

  /* The create options the bridge takes; page tools keep their `execute` here. */
  function createOptions(options) {
    const o = options || {};
    for (const kind of [...kinds(o.expectedInputs), ...kinds(o.expectedOutputs)]) {
      if (kind !== "text") throw toError({ code: "ERR_NOT_SUPPORTED", message: `Harbor's models take and give text only, not ${kind}` });
    }
    const tools = new Map();
    const declared = [];
    for (const tool of o.tools || []) {
      if (!tool || typeof tool.execute !== "function" || typeof tool.name !== "string") {
        throw new TypeError("each tool needs a name, a description, an inputSchema and an execute function");
      }
      tools.set(tool.name, tool.execute);
      declared.push({ name: tool.name, description: String(tool.description || ""), inputSchema: tool.inputSchema || {} });
    }
    const params = { tools: declared };
    for (const key of ["initialPrompts", "expectedInputs", "expectedOutputs", "temperature", "topK"]) {
      if (o[key] !== undefined) params[key] = o[key];
    }
    return { params, tools };
  }

  /* What prompt() and promptStreaming() send: a RegExp constraint is refused here. */
  function promptParams(sessionId, input, options) {
    const o = options || {};
    // Across realms too (a RegExp from another frame is not `instanceof` this one's).
    if (Object.prototype.toString.call(o.responseConstraint) === "[object RegExp]") {
      throw toError({
        code: "ERR_NOT_SUPPORTED",
        message: "Harbor's model providers take a JSON Schema as responseConstraint, not a RegExp",
      });
    }
    const params = { sessionId, input };
    if (o.responseConstraint !== undefined) params.responseConstraint = o.responseConstraint;
    if (o.omitResponseConstraintInput) params.omitResponseConstraintInput = true;
    return params;
  }

  class LanguageModel extends EventTarget {
    #id;
    #tools;
    #usage;
    #window;
    #temperature;
    #topK;
    #destroyed = false;
    #handlers = {};

    constructor(key, described, tools) {
      if (key !== CONSTRUCT) throw new TypeError("Illegal constructor: use LanguageModel.create()");
      super();
      this.#id = described.sessionId;
      this.#usage = described.contextUsage;
      this.#window = described.contextWindow;
      this.#temperature = described.temperature;
      this.#topK = described.topK;
      this.#tools = tools;
    }

    static async availability(options) {
      const o = options || {};
      if ([...kinds(o.expectedInputs), ...kinds(o.expectedOutputs)].some((kind) => kind !== "text")) return "unavailable";
      const available = (await request("ai.languageModel.capabilities")).available;
      // Harbor's built-in model is "downloadable" until its file is there.
      return { readily: "available", "after-download": "downloadable", downloading: "downloading" }[available] || "unavailable";
    }

    static async params() {
      return Object.freeze(await request("ai.languageModel.params"));
    }

    static async create(options) {
      const o = options || {};
      if (o.signal && o.signal.aborted) throw abortError(o.signal);
      const { params, tools } = createOptions(o);
      // The monitor hears 0 first and 1 once the model is there, as the spec's steps fire them;
      // between them, the built-in model's download as it comes (when it has to be fetched
      // first, which the bridge starts only on the user's gesture).
      let monitor = null;
      let heard = 0;
      const progress = (loaded) => {
        if (monitor && (loaded > heard || loaded === 0)) {
          heard = loaded;
          monitor.dispatchEvent(new ProgressEvent("downloadprogress", { loaded, total: 1 }));
        }
      };
      if (typeof o.monitor === "function") {
        monitor = new EventTarget();
        o.monitor(monitor);
        progress(0);
      }
      const onEvent = (event) => {
        if (event && event.type === "progress" && event.total > 0) progress(Math.min(event.loaded / event.total, 0.999));
      };
      const described = await request("ai.createTextSession", params, { signal: o.signal, onEvent });
      progress(1);
      return new LanguageModel(CONSTRUCT, described, tools);
    }

    get contextUsage() { return this.#usage; }
    get contextWindow() { return this.#window; }
    get inputUsage() { return this.#usage; }
    get inputQuota() { return this.#window; }
    get temperature() { return this.#temperature; }
    get topK() { return this.#topK; }
    get oncontextoverflow() { return this.#handlers.contextoverflow || null; }
    set oncontextoverflow(handler) { this.#handle("contextoverflow", handler); }
    get onquotaoverflow() { return this.#handlers.quotaoverflow || null; }
    set onquotaoverflow(handler) { this.#handle("quotaoverflow", handler); }

    #handle(type, handler) {
      if (this.#handlers[type]) this.removeEventListener(type, this.#handlers[type]);
      this.#handlers[type] = typeof handler === "function" ? handler : null;
      if (this.#handlers[type]) this.addEventListener(type, this.#handlers[type]);
    }

    #live() {
      if (this.#destroyed) throw toError({ code: "ERR_SESSION_NOT_FOUND", message: "this session was destroyed; create a new one" });
      return this.#id;
    }

    /* A prompt's or an append's answer: the context as the bridge has it now. */
    #settle(context) {
      this.#usage = context.contextUsage;
      this.#window = context.contextWindow;
      if (context.overflowed) {
        this.dispatchEvent(new Event("contextoverflow"));
        this.dispatchEvent(new Event("quotaoverflow"));
      }
    }

    /* The model called one of this session's tools: run its execute here, answer the bridge. */
    async #runTool(event) {
      const execute = this.#tools.get(event.tool);
      const answer = { sessionId: this.#id, callId: event.id };
      try {
        if (!execute) throw new Error(`there is no tool ${event.tool}`);
        const value = await execute(event.args);
        answer.result = typeof value === "string" ? value : JSON.stringify(value);
      } catch (e) {
        answer.error = String((e && e.message) || e);
      }
      request("ai.session.toolResult", answer).catch(() => {});
    }

    #onEvent = (event) => {
      if (event && event.type === "tool_call") this.#runTool(event);
    };

    async prompt(input, options) {
      const o = options || {};
      const params = promptParams(this.#live(), input, o);
      const answer = await request("ai.session.prompt", params, { signal: o.signal, onEvent: this.#onEvent });
      this.#settle(answer);
      return answer.text;
    }

    promptStreaming(input, options) {
      const o = options || {};
      const params = promptParams(this.#live(), input, o);
      const controller = new AbortController();
      const signal = o.signal ? AbortSignal.any([o.signal, controller.signal]) : controller.signal;
      return new ReadableStream({
        start: (stream) => {
          request("ai.session.promptStreaming", params, {
            signal,
            onEvent: (event) => {
              if (event && event.token === undefined) return this.#onEvent(event);
              try {
                stream.enqueue(event.token);
              } catch {
                // The reader cancelled; the bridge is being told to stop.
              }
            },
          }).then(
            (answer) => {
              this.#settle(answer);
              stream.close();
            },
            (error) => stream.error(error),
          );
        },
        // The reader cancelled: the bridge stops the model.
        cancel: () => controller.abort(),
      });
    }

    async append(input, options) {
      const o = options || {};
      this.#settle(await request("ai.session.append", { sessionId: this.#live(), input }, { signal: o.signal }));
    }

    async measureContextUsage(input, options) {
      const o = options || {};
      return (await request("ai.session.measureContextUsage", { sessionId: this.#live(), input }, { signal: o.signal })).usage;
    }

    measureInputUsage(input, options) {
      return this.measureContextUsage(input, options);
    }

    async clone(options) {
      const o = options || {};
      const described = await request("ai.session.clone", { sessionId: this.#live() }, { signal: o.signal });
      return new LanguageModel(CONSTRUCT, described, this.#tools);
    }

    destroy() {
      if (this.#destroyed) return;
      this.#destroyed = true;
      request("ai.session.destroy", { sessionId: this.#id }).catch(() => {});
    }
  }

  /* ---- WebMCP: document.modelContext (and the older navigator.modelContext) ---- */

  const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
  const pageTools = new Map(); // name -> { definition, execute, source }
  let toolsVersion = 0;
  let serving = false;
  const toolListeners = new Set(); // ModelContext objects told of each change

  /* The bridge's view of this page's tools: one long-lived `webmcp.serve` request carrying the
   * calls, and `webmcp.tools.set` for each change after it (version orders them). */
  function offerTools() {
    toolsVersion += 1;
    const params = { version: toolsVersion, tools: [...pageTools.values()].map((t) => t.definition) };
    if (!serving) {
      serving = true;
      // It ends only when the bridge or the extension goes away: offer again on the next change.
      request("webmcp.serve", params, { onEvent: runPageTool }).then(() => (serving = false), () => (serving = false));
    } else {
      request("webmcp.tools.set", params).catch(() => {});
    }
    for (const context of toolListeners) context.dispatchEvent(new Event("toolchange"));
  }

  /* The user's agent called one of this page's tools: run its execute here and answer. */
  async function runPageTool(event) {
    if (!event || event.type !== "tool_call") return;
    const tool = pageTools.get(event.tool);
    const answer = { callId: event.id };
    try {
      if (!tool) throw new Error(`this page has no tool ${event.tool} any more`);
      const value = await tool.execute(event.args || {});
      // What reaches the agent is JSON: undefined becomes null, and so does what JSON drops.
      answer.result = value === undefined ? null : JSON.parse(JSON.stringify(value) ?? "null");
    } catch (e) {
      answer.error = String((e && e.message) || e);
    }
    request("webmcp.result", answer).catch(() => {});
  }

  /* WebMCP's registerTool steps, short of the promise: the definition as the bridge takes it,
   * or the DOMException (or the serializer's error) to reject with. */
  function toolDefinition(tool, options) {
    const t = tool || {};
    if (typeof t.execute !== "function") throw new TypeError("a tool needs an execute function");
    const name = String(t.name ?? "");
    const description = String(t.description ?? "");
    if (pageTools.has(name)) throw new DOMException(`a tool named ${name} is already registered`, "InvalidStateError");
    if (!name || !description) throw new DOMException("a tool needs a name and a description", "InvalidStateError");
    if (!TOOL_NAME.test(name)) {
      throw new DOMException("a tool's name is 1 to 128 of A-Z, a-z, 0-9, '_', '-' or '.'", "InvalidStateError");
    }
    const definition = { name, description, annotations: {
      readOnlyHint: Boolean(t.annotations && t.annotations.readOnlyHint),
      untrustedContentHint: Boolean(t.annotations && t.annotations.untrustedContentHint),
    } };
    if (t.title !== undefined) definition.title = String(t.title);
    if (t.inputSchema !== undefined) {
      const text = JSON.stringify(t.inputSchema);
      if (text === undefined) throw new TypeError("the inputSchema cannot be serialized to JSON");
      definition.inputSchema = JSON.parse(text);
    }
    for (const origin of (options && options.exposedTo) || []) {
      let url;
      try {
        url = new URL(String(origin));
      } catch {
        throw new DOMException(`exposedTo holds ${origin}, which is not a URL`, "SecurityError");
      }
      const trustworthy = url.protocol === "https:" || url.protocol === "wss:" ||
        ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname) || url.hostname.endsWith(".localhost");
      if (!trustworthy) throw new DOMException(`exposedTo holds ${origin}, which is not a secure origin`, "SecurityError");
    }
    return definition;
  }

  /* Checks and keeps one tool, without telling the bridge yet; returns its name. */
  function holdTool(tool, options, source) {
    const definition = toolDefinition(tool, options);
    pageTools.set(definition.name, { definition, execute: tool.execute.bind(tool), source });
    return definition.name;
  }

  function addTool(tool, options, source) {
    const name = holdTool(tool, options, source);
    offerTools();
    return name;
  }

  function removeTool(name) {
    if (pageTools.delete(name)) offerTools();
  }

  class ModelContext extends EventTarget {
    #ontoolchange = null;

    constructor(key) {
      if (key !== CONSTRUCT) throw new TypeError("Illegal constructor");
      super();
      toolListeners.add(this);
    }

    registerTool(tool, options) {
      const o = options || {};
      const signal = o.signal;
      if (signal && signal.aborted) return Promise.reject(signal.reason);
      let name;
      try {
        name = addTool(tool, o, "registerTool");
      } catch (e) {
        return Promise.reject(e);
      }
      return new Promise((resolve, reject) => {
        if (signal) {
          signal.addEventListener("abort", () => {
            // Only this registration: a tool registered again under the name stays.
            if (pageTools.get(name) && pageTools.get(name).signal === signal) removeTool(name);
            reject(signal.reason);
          }, { once: true });
          pageTools.get(name).signal = signal;
        }
        queueMicrotask(() => resolve(undefined));
      });
    }

    get ontoolchange() { return this.#ontoolchange; }
    set ontoolchange(handler) {
      if (this.#ontoolchange) this.removeEventListener("toolchange", this.#ontoolchange);
      this.#ontoolchange = typeof handler === "function" ? handler : null;
      if (this.#ontoolchange) this.addEventListener("toolchange", this.#ontoolchange);
    }
  }

  /* The older shape (the reference implementation, Chrome's origin trial): provideContext
   * replaces the tools it provided before, clearContext removes every tool, registerTool gives
   * back an object with unregister() that can also be awaited. */
  function legacyModelContext(context) {
    const guard = (work) => {
      try {
        return Promise.resolve(work());
      } catch (e) {
        return Promise.reject(e);
      }
    };
    return Object.freeze({
      registerTool(tool) {
        const registered = guard(() => { addTool(tool, {}, "legacy"); });
        const name = tool && tool.name;
        return Object.assign(registered, { unregister: () => removeTool(name) });
      },
      unregisterTool: (name) => removeTool(name),
      addTool: (tool) => guard(() => { addTool(tool, {}, "legacy"); }),
      removeTool: (name) => guard(() => removeTool(name)),
      provideContext: (provided) => guard(() => {
        for (const [name, tool] of [...pageTools]) if (tool.source === "provideContext") pageTools.delete(name);
        for (const tool of (provided && provided.tools) || []) holdTool(tool, {}, "provideContext");
        offerTools();
      }),
      clearContext: () => guard(() => {
        pageTools.clear();
        offerTools();
      }),
      addEventListener: (...args) => context.addEventListener(...args),
      removeEventListener: (...args) => context.removeEventListener(...args),
    });
  }

  const ai = Object.freeze({
    canCreateTextSession: () => request("ai.canCreateTextSession"),
    createTextSession,
    // The Prompt API's older home: the same LanguageModel under another name.
    languageModel: Object.freeze({
      capabilities: () => request("ai.languageModel.capabilities"),
      availability: (options) => LanguageModel.availability(options),
      params: () => LanguageModel.params(),
      create: (options) => LanguageModel.create(options),
    }),
    providers: Object.freeze({
      list: () => request("ai.providers.list"),
      getActive: () => request("ai.providers.getActive"),
    }),
  });

  /* The explainer's words for each grant, beside Harbor's own (`scopes` keeps those). */
  const EXPLAINER = { ALLOW_ONCE: "granted-once", ALLOW_ALWAYS: "granted-always", DENY: "denied", NOT_GRANTED: "not-granted" };
  const withGrants = (result) => {
    const grants = {};
    for (const [scope, grant] of Object.entries((result && result.scopes) || {})) grants[scope] = EXPLAINER[grant] || grant;
    return Object.assign(result, { grants });
  };

  /* An agent session (agent.sessions.*): its state as the bridge described it when it was
   * made or fetched, and the calls that go through it. */
  function agentSession(described) {
    const sessionId = described.sessionId;
    return Object.freeze({
      ...described,
      async prompt(input, options) {
        return (await request("agent.sessions.prompt", { sessionId, input }, { signal: options && options.signal })).text;
      },
      promptStreaming(input, options) {
        return tokenChunks(stream("agent.sessions.promptStreaming", { sessionId, input }, { signal: options && options.signal }));
      },
      // callTool(name, args) or callTool({tool, args}), as pages written for either call it.
      callTool(tool, args, options) {
        const call = tool && typeof tool === "object" ? tool : { tool, args };
        return request("agent.sessions.callTool", { sessionId, tool: call.tool, args: call.args || {} },
          { signal: (options || call).signal });
      },
      listAllowedTools: () => request("agent.sessions.listAllowedTools", { sessionId }),
      terminate: () => request("agent.sessions.terminate", { sessionId }),
    });
  }

  const sessions = Object.freeze({
    create: async (options) => agentSession(await request("agent.sessions.create", options || {})),
    get: async (sessionId) => agentSession(await request("agent.sessions.get", { sessionId })),
    list: () => request("agent.sessions.list"),
    terminate: (sessionId) => request("agent.sessions.terminate", { sessionId }),
  });

  /* An element as getElements listed it, or its ref. */
  const refOf = (element) => (element && typeof element === "object" ? element.ref : element);
  const urlOf = (target) => String(target && typeof target === "object" && !(target instanceof URL) ? target.url : target);

  /* fetch's RequestInit, as far as Harbor carries it: a method, headers, a text body. */
  function fetchOptions(init) {
    const options = {};
    if (!init) return options;
    if (init.method !== undefined) options.method = String(init.method);
    if (init.headers !== undefined) options.headers = Object.fromEntries(new Headers(init.headers));
    if (init.body !== undefined && init.body !== null) {
      if (typeof init.body !== "string") throw new TypeError("agent.browser.fetch takes a text body; JSON.stringify it first");
      options.body = init.body;
    }
    return options;
  }

  const browser = Object.freeze({
    activeTab: Object.freeze({
      readability: () => request("agent.browser.activeTab.readability"),
      getElements: () => request("agent.browser.activeTab.getElements"),
      click: (element) => request("agent.browser.activeTab.click", { ref: refOf(element) }),
      fill: (element, value) => request("agent.browser.activeTab.fill", { ref: refOf(element), value: String(value ?? "") }),
      select: (element, value) => request("agent.browser.activeTab.select", { ref: refOf(element), value: String(value ?? "") }),
      scroll: (direction, amount) =>
        request("agent.browser.activeTab.scroll", amount === undefined ? { direction } : { direction, amount }),
      screenshot: () => request("agent.browser.activeTab.screenshot"),
    }),
    tabs: Object.freeze({
      list: () => request("agent.browser.tabs.list"),
      create: (target) => request("agent.browser.tabs.create", { url: urlOf(target) }),
      close: (tab) => request("agent.browser.tabs.close", { tabId: tab && typeof tab === "object" ? tab.id : tab }),
    }),
    navigate: (target) => request("agent.browser.navigate", { url: urlOf(target) }),
    fetch: async (target, init) => request("agent.browser.fetch", { url: urlOf(target), options: fetchOptions(init) }),
  });

  /*
   * Bring your own chatbot. discover() reads the page's own <link rel="mcp-server"> elements.
   * register() holds one agent.mcp.register request open per server, which the bridge ends the
   * server with; it answers as the reference implementation does, {success, serverId} or
   * {success: false, error: {code, message}} with its codes, never by throwing.
   */
  const registrations = new Map(); // serverId -> AbortController of its held request
  const BYOC_CODES = {
    ERR_PERMISSION_DENIED: "USER_DENIED",
    ERR_SCOPE_REQUIRED: "USER_DENIED",
    ERR_INVALID_REQUEST: "INVALID_URL",
    ERR_NOT_SUPPORTED: "NOT_SUPPORTED",
  };
  const mcp = Object.freeze({
    discover: async () => [...document.querySelectorAll('link[rel~="mcp-server" i][href]')].map((link) => {
      const server = { url: link.href, title: link.title || link.getAttribute("href") };
      if (link.dataset.description) server.description = link.dataset.description;
      if (link.dataset.tools) server.tools = link.dataset.tools.split(",").map((t) => t.trim()).filter(Boolean);
      if (link.dataset.transport) server.transport = link.dataset.transport;
      return server;
    }),
    register: (options) => new Promise((resolve) => {
      const o = options || {};
      const params = { url: String(o.url ?? ""), name: String(o.name ?? o.title ?? "") };
      if (o.description !== undefined) params.description = String(o.description);
      if (Array.isArray(o.tools)) params.tools = o.tools.map(String);
      if (o.transport !== undefined) params.transport = String(o.transport);
      const held = new AbortController();
      let serverId = null;
      request("agent.mcp.register", params, {
        signal: held.signal,
        onEvent: (event) => {
          if (!event || event.type !== "registered") return;
          serverId = event.serverId;
          registrations.set(serverId, held);
          resolve({ success: true, serverId, tools: event.tools });
        },
      }).then(() => {}, (e) => {
        if (serverId !== null) {
          registrations.delete(serverId);
          return;
        }
        const code = BYOC_CODES[e.code] || (e.code === "ERR_ABORTED" ? "USER_DENIED" : "CONNECTION_FAILED");
        resolve({ success: false, error: { code, message: e.message, harborCode: e.code } });
      });
    }),
    unregister: async (serverId) => {
      const held = registrations.get(serverId);
      if (!held) return { success: false };
      registrations.delete(serverId);
      held.abort();
      return { success: true };
    },
  });

  /* Harbor's chat for this tab, answered as the reference implementation answers. */
  const chat = Object.freeze({
    canOpen: () => request("agent.chat.canOpen"),
    open: async (options) => {
      const o = options || {};
      const params = {};
      for (const key of ["initialMessage", "systemPrompt"]) if (o[key] !== undefined) params[key] = String(o[key]);
      if (Array.isArray(o.tools)) params.tools = o.tools.map(String);
      try {
        return { success: true, chatId: (await request("agent.chat.open", params)).chatId };
      } catch (e) {
        const code = e.code === "ERR_PERMISSION_DENIED" || e.code === "ERR_SCOPE_REQUIRED" ? "USER_DENIED" : "NOT_AVAILABLE";
        return { success: false, error: { code, message: e.message, harborCode: e.code } };
      }
    },
    close: (chatId) => request("agent.chat.close", chatId === undefined ? {} : { chatId: String(chatId) }),
  });

  const agent = Object.freeze({
    capabilities: async () => ({ version: VERSION, features: { ...(await features()) } }),
    requestPermissions: async (options) => withGrants(await request("agent.requestPermissions", options || {})),
    permissions: Object.freeze({ list: async () => withGrants(await request("agent.permissions.list")) }),
    sessions,
    mcp,
    chat,
    tools: Object.freeze({
      list: () => request("agent.tools.list"),
      call: (options) => request("agent.tools.call", options || {}),
    }),
    run: (options) => {
      const { signal, ...params } = options || {};
      return stream("agent.run", params, { signal });
    },
    browser,
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
  // An interface object, as WebIDL defines one: writable, configurable, not enumerable; only in
  // secure contexts ([SecureContext] in the spec), as Chrome exposes it.
  if (window.isSecureContext && !("LanguageModel" in window)) {
    Object.defineProperty(window, "LanguageModel", { value: LanguageModel, writable: true, configurable: true });
  }
  // WebMCP's [SecureContext, SameObject] document.modelContext, and the older navigator one.
  if (window.isSecureContext && !("modelContext" in document)) {
    const context = new ModelContext(CONSTRUCT);
    Object.defineProperty(window, "ModelContext", { value: ModelContext, writable: true, configurable: true });
    Object.defineProperty(document, "modelContext", { get: () => context, enumerable: true, configurable: true });
    if (!("modelContext" in navigator)) {
      const legacy = legacyModelContext(context);
      Object.defineProperty(navigator, "modelContext", { get: () => legacy, enumerable: true, configurable: true });
    }
  }
  window.postMessage({ [TAG]: "hello" }, "*");
})();
