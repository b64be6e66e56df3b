// Start Mirador 4 on the item named in the page's JSON config (see iiif_server/viewer.py).
// Right-to-left paging comes from the manifest's viewingDirection; "book" view pairs the
// half-leaves of a spread as the manifest's behavior "paged" asks.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("shuying-config").textContent);
  var viewer = Mirador.viewer({
    id: "viewer",
    language: config.language,
    windows: [{ manifestId: config.manifest, view: "book", thumbnailNavigationPosition: "far-bottom" }],
    window: { allowClose: false, allowMaximize: false, defaultSideBarPanel: "info" },
    workspaceControlPanel: { enabled: false },
    osdConfig: { preserveViewport: false },
  });
  window.shuyingViewer = viewer;
  fitEachPageTurn(viewer.store);

  // Mirador 4 keeps the previous page's zoom and position after a page turn (its
  // OpenSeadragonComponent fits the new world only when the viewport already equals it),
  // which cuts off the page read first in a right-to-left book. Fit the newly shown canvas
  // (or spread) to the window as each of its images joins OpenSeadragon's world.
  function fitEachPageTurn(store) {
    var shown = {};
    store.subscribe(function () {
      var windows = store.getState().windows;
      Object.keys(windows).forEach(function (windowId) {
        var win = windows[windowId];
        if (shown[windowId] !== undefined && shown[windowId] !== win.canvasId) {
          fitWhenDrawn(windowId, (win.visibleCanvases || []).length || 1);
        }
        shown[windowId] = win.canvasId;
      });
    });
  }

  function fitWhenDrawn(windowId, images) {
    var reference = Mirador.OSDReferences.get(windowId);
    var osd = reference && reference.current;
    if (!osd) return;
    osd.shuyingPending = images;
    if (!osd.shuyingFits) {
      osd.shuyingFits = true;
      osd.world.addHandler("add-item", function () {
        if (!osd.shuyingPending) return;
        osd.viewport.goHome(true);
        if (osd.world.getItemCount() >= osd.shuyingPending) osd.shuyingPending = 0;
      });
    }
  }
})();
