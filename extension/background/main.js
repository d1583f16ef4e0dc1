"use strict";
/*
 * The background event page's entry: one BridgeConnection, every caller port attached to it,
 * status and notifications fanned out to the open sidebars, permission prompts, and the toolbar
 * button toggling the sidebar.
 */

const bridge = new BridgeConnection();
const uiPorts = new Set();

bridge.wanted = () => uiPorts.size > 0;
bridge.statusListeners.add((status) => {
  for (const port of uiPorts) safePost(port, { status });
});
bridge.notifyListeners.add((message) => {
  for (const port of uiPorts) safePost(port, message);
});

attachPrompts(bridge);

browser.runtime.onConnect.addListener((port) => {
  if (port.name === PAGE_PORT || port.name === OPAQUE_PAGE_PORT) attachPage(bridge, port);
  else if (port.name === UI_PORT) attachUi(bridge, port, uiPorts);
  else port.disconnect();
});

browser.action.onClicked.addListener(() => browser.sidebarAction.toggle());
