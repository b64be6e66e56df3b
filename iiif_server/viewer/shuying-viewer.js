// Start Mirador 4 on the item named in the page's JSON config (see iiif_server/viewer.py).
// Right-to-left paging comes from the manifest's viewingDirection; "book" view pairs the
// half-leaves of a spread as the manifest's behavior "paged" asks.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("shuying-config").textContent);
  window.shuyingViewer = Mirador.viewer({
    id: "viewer",
    language: config.language,
    windows: [{ manifestId: config.manifest, view: "book", thumbnailNavigationPosition: "far-bottom" }],
    window: { allowClose: false, allowMaximize: false, defaultSideBarPanel: "info" },
    workspaceControlPanel: { enabled: false },
  });
})();
