// Loads the sidebar's WebAssembly (built by scripts/build into ./pkg). Extension pages may not run
// inline scripts, so this small module is the page's entry point.
import init from "./pkg/harbor_sidebar.js";

// "harbor-ready" (a User Timing mark) is when the panels first show, connected: scripts/bench
// reads it as the sidebar's time to first useful paint.
new MutationObserver((_, observer) => {
  if (document.querySelector("nav.tabs")) {
    performance.mark("harbor-ready");
    observer.disconnect();
  }
}).observe(document.documentElement, { childList: true, subtree: true });

init().catch((error) => {
  document.body.textContent = "Harbor's sidebar could not start: " + error.message + ". Rebuild it with scripts/build.";
});
