"use strict";
/*
 * The permission prompt: one window per origin, opened by the background when the bridge asks.
 * It reads the request from the bridge (permissions.prompt.get), shows the origin, the page that
 * embeds it, the page's reason, each scope in plain words and each tool with a checkbox (tools
 * that write or destroy start unchecked), and sends the user's answer (permissions.answer).
 * Closing the window answers "not now" (the background does that). Tool names arrive with
 * invisible and look-alike characters made visible by the bridge (`label`), and a tool whose name
 * imitates another server's is marked so.
 *
 * Against keyjacking (a page timing a prompt under the user's typing so one Enter grants), the
 * decision buttons start disabled and are enabled only after the window has been visible and
 * focused for ARM_DELAY_MS without interruption, as Firefox's own permission prompts do; a blur
 * starts the wait again. Nothing that grants ever has the focus at first: "Not now" does.
 */
(() => {
  const promptId = new URLSearchParams(location.search).get("id");
  const port = browser.runtime.connect({ name: "harbor-ui" });
  const waiting = new Map();
  let nextId = 1;
  const ARM_DELAY_MS = 1000;

  port.onMessage.addListener((message) => {
    if (!message || message.id === undefined) return;
    const entry = waiting.get(message.id);
    if (!entry || message.event !== undefined) return;
    waiting.delete(message.id);
    if (message.error) entry.reject(message.error);
    else entry.resolve(message.result);
  });

  function request(method, params) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      port.postMessage({ id, method, params });
    });
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    const { dataset, ...rest } = props;
    Object.assign(node, rest);
    Object.assign(node.dataset, dataset || {});
    for (const child of children) node.append(child);
    return node;
  }

  function render(ask) {
    const box = document.getElementById("request");
    box.replaceChildren();
    box.append(el("p", { className: "origin", id: "origin" }, ask.origin));
    if (ask.embeddedIn) {
      box.append(el("p", { className: "embedded", id: "embedded" }, `inside the page ${ask.embeddedIn}`));
    }
    box.append(el("p", { className: "help" }, "wants to:"));
    box.append(el("ul", { className: "scopes" }, ...ask.scopes.map((s) => el("li", { dataset: { scope: s.scope } }, s.description))));
    if (ask.reason) box.append(el("p", { className: "reason" }, `“${ask.reason}”`));
    const boxes = [];
    if (ask.tools.length) {
      const fieldset = el("fieldset", { className: "tool-choices" }, el("legend", {}, "Tools it may use"));
      ask.tools.forEach((tool, i) => {
        const input = el("input", { type: "checkbox", id: `tool-${i}`, checked: tool.checked, value: tool.name });
        boxes.push(input);
        fieldset.append(
          el("div", { className: "tool-choice", dataset: { tool: tool.name } },
            input,
            el("label", { htmlFor: `tool-${i}` }, tool.label || tool.name),
            el("small", {}, tool.description),
            ...(tool.imitates
              ? [el("strong", { className: "warning imitates", role: "note" }, `Looks like ${tool.imitates} of another server: check which one you mean`)]
              : []))
        );
      });
      box.append(fieldset);
    } else if (ask.scopes.some((s) => s.scope === "mcp:tools.call" || s.scope === "model:tools")) {
      box.append(el("p", { className: "help" }, "No tools are running, so none can be allowed now."));
    }
    const answer = (decision) => async () => {
      const tools = boxes.filter((b) => b.checked).map((b) => b.value);
      for (const button of box.querySelectorAll("button")) button.disabled = true;
      try {
        await request("permissions.answer", { promptId, decision, tools });
      } catch (e) {
        box.append(el("p", { className: "error", role: "alert" }, e.message || String(e)));
        return;
      }
      window.close();
    };
    box.append(
      el("div", { className: "decisions" },
        el("button", { type: "button", className: "allow", id: "allow-once", onclick: answer("allow-once") }, "Allow once"),
        el("button", { type: "button", id: "allow-always", onclick: answer("allow-always") }, "Always allow"),
        el("button", { type: "button", id: "deny", onclick: answer("deny") }, "Deny"),
        el("button", { type: "button", id: "not-now", onclick: answer("dismiss") }, "Not now"))
    );
    box.append(el("p", { className: "help" }, "“Allow once” lasts for this tab only, for a few minutes. You can change any site's permissions in Harbor's sidebar."));
    guard(box.querySelectorAll(".decisions button"));
    document.getElementById("not-now").focus();
  }

  /** Keeps `buttons` disabled until the window has been shown and focused for ARM_DELAY_MS. */
  function guard(buttons) {
    let timer = null;
    const disarm = () => {
      clearTimeout(timer);
      timer = null;
      for (const button of buttons) button.disabled = true;
      document.body.dataset.armed = "false";
    };
    const arm = () => {
      if (timer !== null || document.visibilityState !== "visible" || !document.hasFocus()) return;
      timer = setTimeout(() => {
        for (const button of buttons) button.disabled = false;
        document.body.dataset.armed = "true";
      }, ARM_DELAY_MS);
    };
    disarm();
    addEventListener("blur", disarm);
    addEventListener("focus", arm);
    document.addEventListener("visibilitychange", () => (document.visibilityState === "visible" ? arm() : disarm()));
    arm();
  }

  // Escape is "Not now", like closing the window.
  addEventListener("keydown", (e) => {
    if (e.key === "Escape") window.close();
  });

  request("permissions.prompt.get", { promptId }).then(render, (error) => {
    const box = document.getElementById("request");
    box.replaceChildren(el("p", { className: "error", role: "alert" }, `${error.message || error} — you can close this window.`));
  });
})();
