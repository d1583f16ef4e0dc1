// Loads the sidebar's WebAssembly (built by scripts/build into ./pkg). Extension pages may not run
// inline scripts, so this small module is the page's entry point.
import init from "./pkg/harbor_sidebar.js";

init().catch((error) => {
  document.body.textContent = "Harbor's sidebar could not start: " + error.message + ". Rebuild it with scripts/build.";
});
