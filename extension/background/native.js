"use strict";
/*
 * The native port: the background is its only owner.
 *
 * BridgeConnection starts harbor-bridge through runtime.connectNative, numbers every request,
 * joins chunk frames back into messages, routes stream events and final replies to their
 * callers, and times calls out. When the bridge goes away every pending call is rejected at once
 * with an error code (ERR_NOT_INSTALLED when Firefox could not start it at all), and it
 * reconnects with backoff. It makes no permission decisions: the bridge does.
 */

const HOST_NAME = "harbor_rs_bridge";
const DEFAULT_TIMEOUT_MS = 120000;
// Methods that wait on a model: loading one can take minutes before its first token. The bridge
// gives up on a silent model after 300 s and answers, so this is only the last resort.
const MODEL_TIMEOUT_MS = 330000;
const MODEL_METHODS = /^(chat\.send|llm\.prompt|agent\.run|ai\.)/;
// Requests held open on purpose — a page's WebMCP tools, served while the page lives — have no
// idle timeout: they end with the page's port.
const HELD_METHODS = /^(webmcp\.serve|agent\.mcp\.register)$/;
const HANDSHAKE_TIMEOUT_MS = 10000;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10000;
const NOT_INSTALLED_MESSAGE =
  "Harbor's bridge is not installed or could not start: install it with `harbor-bridge install` " +
  "(or run scripts/run from the Harbor repository), then try again";

function bridgeError(code, message, data) {
  const error = { code, message };
  if (data !== undefined) error.data = data;
  return error;
}

class BridgeConnection {
  constructor() {
    /** The native port, or null while not connected. */
    this.port = null;
    /** "connecting" | "connected" | "disconnected" | "not_installed" */
    this.state = "disconnected";
    this.info = null;
    this.message = null;
    this.nextId = 1;
    /** bridge request id -> { resolve, reject, onEvent, timer } */
    this.pending = new Map();
    /** chunk seq -> array of data slices */
    this.chunks = new Map();
    this.statusListeners = new Set();
    this.notifyListeners = new Set();
    this.heardFromPort = false;
    this.backoffMs = RECONNECT_MIN_MS;
    this.reconnectTimer = null;
    /** Whether to keep retrying when the bridge is missing (true while a sidebar is open). */
    this.wanted = () => false;
  }

  status() {
    const status = { state: this.state };
    if (this.info) status.info = this.info;
    if (this.message) status.message = this.message;
    return status;
  }

  setState(state, message) {
    this.state = state;
    this.message = message || null;
    const status = this.status();
    for (const listener of this.statusListeners) listener(status);
  }

  connect() {
    if (this.port) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.heardFromPort = false;
    let port;
    try {
      port = browser.runtime.connectNative(HOST_NAME);
    } catch (e) {
      this.onGone(null, String(e && e.message));
      return;
    }
    this.port = port;
    this.setState("connecting");
    port.onMessage.addListener((frame) => this.onFrame(port, frame));
    port.onDisconnect.addListener((p) => this.onGone(p, p.error && p.error.message));
    const handshake = this.start("system.info", {}, null, { timeoutMs: HANDSHAKE_TIMEOUT_MS });
    handshake.done.then(
      (info) => {
        this.info = info;
        this.backoffMs = RECONNECT_MIN_MS;
        this.setState("connected");
      },
      () => {}
    );
  }

  /**
   * Sends a request. Returns { id, done } where done settles with the final reply.
   * caller: the caller context from port.sender (null for the background itself).
   */
  start(method, params, caller, options = {}) {
    this.connect();
    const id = this.nextId++;
    const done = new Promise((resolve, reject) => {
      const timeoutMs = options.timeoutMs || (MODEL_METHODS.test(method) ? MODEL_TIMEOUT_MS : DEFAULT_TIMEOUT_MS);
      // An idle timeout: every stream event shows the request is alive and starts it again.
      const held = HELD_METHODS.test(method);
      const arm = () => held ? null : setTimeout(() => {
        if (!this.pending.delete(id)) return;
        this.post({ cancel: id });
        reject(bridgeError("ERR_INTERNAL", `the bridge said nothing about ${method} for ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, onEvent: options.onEvent, timer: arm(), arm });
    });
    const request = { id, method, params: params === undefined ? {} : params };
    if (caller) request.caller = caller;
    const failure = this.post(request);
    if (failure) {
      // Firefox refused the message (too large for the pipe, or the port just closed): the caller
      // hears so now, not after the timeout.
      const entry = this.pending.get(id);
      if (entry) {
        this.pending.delete(id);
        clearTimeout(entry.timer);
        entry.reject(this.port
          ? bridgeError("ERR_INVALID_REQUEST", `Harbor could not send ${method} to the bridge: ${failure}`)
          : bridgeError("ERR_NOT_INSTALLED", NOT_INSTALLED_MESSAGE, { reason: failure }));
      }
    }
    return { id, done };
  }

  cancel(id) {
    if (this.pending.has(id)) this.post({ cancel: id });
  }

  /** Posts to the bridge; returns why it could not, or null. */
  post(message) {
    if (!this.port) return "the bridge is not running (Firefox could not start it)";
    try {
      this.port.postMessage(message);
      return null;
    } catch (e) {
      return String((e && e.message) || e);
    }
  }

  onFrame(port, frame) {
    if (port !== this.port) return;
    this.heardFromPort = true;
    if (frame && frame.chunk) {
      const { seq, part, parts, data } = frame.chunk;
      let slices = this.chunks.get(seq);
      if (!slices) {
        slices = [];
        this.chunks.set(seq, slices);
      }
      slices[part] = data;
      if (slices.filter((s) => s !== undefined).length < parts) return;
      this.chunks.delete(seq);
      let whole;
      try {
        whole = JSON.parse(slices.join(""));
      } catch (e) {
        console.error("harbor: chunked message did not reassemble", e);
        return;
      }
      this.onMessage(whole);
      return;
    }
    this.onMessage(frame);
  }

  onMessage(message) {
    if (message.notify !== undefined) {
      for (const listener of this.notifyListeners) listener(message);
      return;
    }
    const entry = this.pending.get(message.id);
    if (!entry) {
      if (message.error) console.warn("harbor: bridge error without a caller:", message.error.code, message.error.message);
      return;
    }
    if (message.event !== undefined) {
      clearTimeout(entry.timer);
      entry.timer = entry.arm();
      if (entry.onEvent) entry.onEvent(message.event);
      return;
    }
    this.pending.delete(message.id);
    clearTimeout(entry.timer);
    if (message.error) entry.reject(message.error);
    else entry.resolve(message.result);
  }

  onGone(port, reason) {
    if (port && port !== this.port) return;
    this.port = null;
    const neverAnswered = !this.heardFromPort;
    const message = neverAnswered
      ? NOT_INSTALLED_MESSAGE
      : `the Harbor bridge stopped (${reason || "it exited"}); Harbor is restarting it, try again`;
    const error = bridgeError(neverAnswered ? "ERR_NOT_INSTALLED" : "ERR_INTERNAL", message,
      neverAnswered ? { reason } : { reason: "bridge_disconnected" });
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    this.pending.clear();
    this.chunks.clear();
    this.info = null;
    this.setState(neverAnswered ? "not_installed" : "disconnected", message);
    if (neverAnswered && !this.wanted()) return;
    const delay = neverAnswered ? RECONNECT_MAX_MS : this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
