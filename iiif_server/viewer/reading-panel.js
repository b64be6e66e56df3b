// The reading panel beside Mirador (see iiif_server/viewer.py and docs/iiif-server.md).
// It follows the window's visible canvases through the Mirador store and shows each one's
// ALTO text in reading order (vertical right to left for vertical books), the entities of
// its annotation page marked (identifying ones link to their browse page), a citation (a
// IIIF Content State 1.0 permalink) and a PDF download of the leaves from the current one.
(function () {
  "use strict";
  var LABELS = {
    "zh-TW": { title: "文字", open: "文字", close: "收起", cite: "引用", copied: "已複製連結",
               copyHint: "本頁連結（IIIF Content State）", pdf: "下載 PDF", from: "自本葉起", leaves: "葉",
               empty: "本頁無文字", failed: "無法載入本頁文字" },
    "zh-CN": { title: "文字", open: "文字", close: "收起", cite: "引用", copied: "已复制链接",
               copyHint: "本页链接（IIIF Content State）", pdf: "下载 PDF", from: "自本叶起", leaves: "叶",
               empty: "本页无文字", failed: "无法加载本页文字" },
    en: { title: "Text", open: "Text", close: "Hide", cite: "Cite", copied: "Link copied",
          copyHint: "Link to this view (IIIF Content State)", pdf: "Download PDF", from: "from this leaf,",
          leaves: "leaves", empty: "No text on this page", failed: "The page's text could not be loaded" },
  };
  var MAX_LEAVES = 50; // iiif_server/pdf.py MAX_LEAVES
  var DEFAULT_LEAVES = 10;
  // Below this window width a spread and the panel do not both fit: the panel starts closed.
  var WIDE_ENOUGH = 1400;
  var REMEMBER = "shuying-reading-panel";
  var MOTIVATIONS = ["oa:commenting", "oa:tagging", "sc:painting", "commenting", "tagging", "identifying"];
  var XYWH = /xywh=(?:pixel:)?(\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)/;

  var config = JSON.parse(document.getElementById("shuying-config").textContent);
  var labels = LABELS[config.language] || LABELS.en;
  var store = window.shuyingViewer.store;
  var pages = {}; // canvas id -> Promise of {blocks, entities}
  var ui = buildPanel();
  var windowId = null;
  var manifest = null;
  var shown = "";

  store.subscribe(follow);
  follow();

  // Start once the manifest is in the store; then redraw whenever the visible canvases change.
  function follow() {
    var state = store.getState();
    var id = Object.keys(state.windows)[0];
    var entry = state.manifests[config.manifest];
    if (!id || !entry || !entry.json) return;
    if (!manifest) {
      windowId = id;
      manifest = entry.json;
      setTimeout(begin, 0); // never dispatch from inside a store listener
      return;
    }
    var visible = (state.windows[windowId].visibleCanvases || []).join(" ");
    if (visible && visible !== shown) {
      shown = visible;
      show(state.windows[windowId].visibleCanvases);
    }
  }

  function begin() {
    // Mirador lists commenting and tagging annotations only; entity annotations also identify.
    store.dispatch(Mirador.updateConfig({ annotations: { filteredMotivations: MOTIVATIONS } }));
    var start = config.start;
    if (start && start.canvas) {
      store.dispatch(Mirador.setCanvas(windowId, start.canvas));
      if (start.region) showRegionWhenDrawn(start.canvas, start.region, Date.now() + 20000);
    }
    follow();
  }

  // ---- the panel -------------------------------------------------------------------------

  function buildPanel() {
    var panel = element("aside", { id: "shuying-reading", lang: document.documentElement.lang });
    var header = element("header");
    header.appendChild(element("h2", {}, labels.title));
    var cite = element("button", { id: "shuying-cite", type: "button" }, labels.cite);
    var count = element("input", { id: "shuying-pdf-count", type: "number", min: "1", max: String(MAX_LEAVES),
                                   value: String(DEFAULT_LEAVES), "aria-label": labels.leaves });
    var pdf = element("a", { id: "shuying-pdf", "class": "shuying-button", download: "" }, labels.pdf);
    var close = element("button", { id: "shuying-reading-close", type: "button" }, labels.close);
    var citeBox = element("label", { id: "shuying-cite-box" }, labels.copyHint);
    var citeLink = element("input", { id: "shuying-cite-link", type: "text", readonly: "" });
    citeBox.appendChild(citeLink);
    [cite, document.createTextNode(labels.from), count, document.createTextNode(labels.leaves), pdf, close,
     citeBox].forEach(function (node) { header.appendChild(node); });
    var text = element("div", { id: "shuying-reading-text", "class": "horizontal" });
    panel.appendChild(header);
    panel.appendChild(text);
    var open = element("button", { id: "shuying-reading-open", type: "button" }, labels.open);
    document.body.appendChild(panel);
    document.body.appendChild(open);
    setOpen(remembered() !== null ? remembered() === "open" : window.innerWidth >= WIDE_ENOUGH, false);
    close.addEventListener("click", function () { setOpen(false, true); });
    open.addEventListener("click", function () { setOpen(true, true); });
    cite.addEventListener("click", copyCitation);
    count.addEventListener("input", updatePdfLink);
    return { text: text, count: count, pdf: pdf, citeBox: citeBox, citeLink: citeLink, cite: cite };
  }

  // Open or close the panel; a reader's own choice is remembered for the next book.
  function setOpen(open, chosen) {
    document.body.classList.toggle("shuying-reading", open);
    try {
      if (chosen) localStorage.setItem(REMEMBER, open ? "open" : "closed");
    } catch (e) { /* storage disabled: the choice lasts for this page */ }
  }

  function remembered() {
    try {
      return localStorage.getItem(REMEMBER);
    } catch (e) {
      return null;
    }
  }

  function show(canvasIds) {
    var canvases = manifest.items.filter(function (c) { return canvasIds.indexOf(c.id) >= 0; });
    var vertical = manifest.viewingDirection === "right-to-left";
    var wanted = shown;
    updatePdfLink();
    ui.citeBox.classList.remove("shown");
    Promise.all(canvases.map(load)).then(function (loaded) {
      if (wanted !== shown) return; // the reader has turned the page meanwhile
      var anyVertical = vertical || loaded.some(function (p) { return p.vertical; });
      ui.text.className = anyVertical ? "vertical" : "horizontal";
      ui.text.textContent = "";
      canvases.forEach(function (canvas, i) { ui.text.appendChild(renderPage(canvas, loaded[i])); });
      ui.text.scrollTop = 0;
      ui.text.scrollLeft = anyVertical ? ui.text.scrollWidth : 0; // vertical text starts at the right
    });
  }

  function renderPage(canvas, page) {
    var section = element("section", { "class": "shuying-page", "data-canvas": canvas.id });
    section.appendChild(element("h3", {}, firstValue(canvas.label)));
    if (page.failed || !page.blocks.length) {
      section.appendChild(element("p", { "class": "shuying-empty" }, page.failed ? labels.failed : labels.empty));
    }
    page.blocks.forEach(function (block) {
      var div = element("div", { "class": block.aside ? "shuying-block aside" : "shuying-block" });
      block.lines.forEach(function (line) { div.appendChild(renderLine(line, page.entities)); });
      section.appendChild(div);
    });
    return section;
  }

  // A line is one column (or row); consecutive characters of one entity become one mark or link.
  function renderLine(line, entities) {
    var div = element("div", { "class": "shuying-line" });
    var runs = [];
    line.forEach(function (ch) {
      var last = runs[runs.length - 1];
      if (last && last.entity === ch.entity) last.text += ch.ch;
      else runs.push({ entity: ch.entity, text: ch.ch });
    });
    runs.forEach(function (run) {
      var node = run.entity === undefined ? document.createTextNode("") : entityNode(entities[run.entity]);
      node.textContent = run.text;
      div.appendChild(node);
    });
    return div;
  }

  function entityNode(entity) {
    var attributes = { "class": "shuying-entity", "data-kind": entity.kind, "data-annotation": entity.id,
                       title: [entity.kind, entity.label].filter(Boolean).join(" · ") };
    if (entity.href) attributes.href = entity.href;
    var node = element(entity.href ? "a" : "mark", attributes);
    node.addEventListener("mouseenter", function () {
      store.dispatch(Mirador.hoverAnnotation(windowId, [entity.id]));
    });
    node.addEventListener("mouseleave", function () { store.dispatch(Mirador.hoverAnnotation(windowId, [])); });
    return node;
  }

  // ---- a canvas's text and entities --------------------------------------------------------

  function load(canvas) {
    if (!pages[canvas.id]) {
      var alto = [].concat(canvas.seeAlso || [], canvas.rendering || []).filter(function (r) {
        return /xml/.test(r.format || "") || /alto/i.test(r.profile || "");
      })[0];
      var text = alto ? fetchText(alto.id).then(readAlto) : Promise.resolve([]);
      var annotations = Promise.all([].concat(canvas.annotations || []).map(annotationPage)).then(flatten);
      pages[canvas.id] = Promise.all([text, annotations]).then(function (both) {
        var blocks = both[0];
        return { blocks: blocks, entities: placeEntities(blocks, both[1]),
                 vertical: blocks.some(function (b) { return b.vertical; }) };
      }).catch(function () {
        delete pages[canvas.id]; // try again when the reader comes back to this page
        return { blocks: [], entities: [], failed: true };
      });
    }
    return pages[canvas.id];
  }

  function fetchText(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(url + ": " + response.status);
      return response.text();
    });
  }

  function annotationPage(page) {
    var items = page.items ? Promise.resolve(page) : fetchText(page.id).then(JSON.parse);
    return items.then(function (json) { return (json.items || []).map(readAnnotation).filter(Boolean); })
      .catch(function () { return []; }); // the text is still worth showing without its entities
  }

  // Read the ALTO flow like pipeline.search.read_alto_page: ReadingOrder's OrderedGroup first, the rest after.
  function readAlto(xml) {
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) throw new Error("not ALTO");
    var blocks = children(doc, "TextBlock");
    var order = children(doc, "ReadingOrder")[0];
    if (!order) return blocks.map(function (b) { return readBlock(b, false); });
    var group = children(order, "OrderedGroup")[0];
    var flow = group ? children(group, "ElementRef").map(function (r) { return r.getAttribute("REF"); }) : [];
    var byId = {};
    blocks.forEach(function (b) { byId[b.getAttribute("ID")] = b; });
    var inFlow = flow.filter(function (id) { return byId[id]; }).map(function (id) { return readBlock(byId[id], false); });
    var rest = blocks.filter(function (b) { return flow.indexOf(b.getAttribute("ID")) < 0; });
    return inFlow.concat(rest.map(function (b) { return readBlock(b, true); }));
  }

  function readBlock(block, aside) {
    var vertical = block.getAttribute("BASEDIRECTION") === "ttb";
    return { aside: aside, vertical: vertical, lines: children(block, "TextLine").map(readLine) };
  }

  function readLine(line) {
    var chars = [];
    children(line, "String").forEach(function (string) {
      var content = (string.getAttribute("CONTENT") || "").normalize("NFC");
      var last = chars.length ? chars[chars.length - 1].ch : "";
      if (last && !(isCjk(last) && content && isCjk(content))) chars.push({ ch: " ", box: null });
      var box = ["HPOS", "VPOS", "WIDTH", "HEIGHT"].map(function (k) { return Number(string.getAttribute(k)) || 0; });
      Array.from(content).forEach(function (ch) { chars.push({ ch: ch, box: box }); });
    });
    return chars;
  }

  function readAnnotation(annotation) {
    var bodies = [].concat(annotation.body || []);
    var found = function (purpose) { return bodies.filter(function (b) { return b && b.purpose === purpose; })[0]; };
    var tagging = found("tagging"), kind = found("classifying"), identifying = found("identifying");
    if (!tagging || !tagging.value) return null;
    var motivations = [].concat(annotation.motivation || []);
    var href = identifying && motivations.indexOf("identifying") >= 0 ? safeLink(identifying.id) : "";
    return { id: annotation.id, text: String(tagging.value), kind: kind ? String(kind.value) : "", href: href,
             label: identifying ? firstValue(identifying.label) : "",
             regions: [].concat(annotation.target || []).map(regionOf).filter(Boolean) };
  }

  // Mark each entity on the characters its text spells nearest its target region (by ALTO box).
  function placeEntities(blocks, entities) {
    var chars = [];
    blocks.forEach(function (block) {
      block.lines.forEach(function (line) { chars.push.apply(chars, line); });
      chars.push({ ch: "\n", box: null }); // no entity crosses a block
    });
    entities.forEach(function (entity, index) {
      var span = bestSpan(chars, entity); // none: the entity is not marked
      for (var i = span ? span[0] : 0; span && i < span[1]; i += 1) chars[i].entity = index;
    });
    return entities;
  }

  function bestSpan(chars, entity) {
    var text = Array.from(entity.text), best = null;
    for (var start = 0; start + text.length <= chars.length; start += 1) {
      var ok = true, score = 0;
      for (var k = 0; k < text.length && ok; k += 1) {
        var c = chars[start + k];
        ok = c.ch === text[k] && c.entity === undefined;
        if (ok && c.box) score += overlap(c.box, entity.regions);
      }
      if (ok && (!best || score > best[2])) best = [start, start + text.length, score];
    }
    return best;
  }

  function overlap(box, regions) {
    return regions.reduce(function (sum, r) {
      var w = Math.min(box[0] + box[2], r[0] + r[2]) - Math.max(box[0], r[0]);
      var h = Math.min(box[1] + box[3], r[1] + r[3]) - Math.max(box[1], r[1]);
      return sum + (w > 0 && h > 0 ? w * h : 0);
    }, 0);
  }

  function regionOf(target) {
    var value = typeof target === "string" ? target : "";
    if (target && typeof target === "object") {
      var selector = [].concat(target.selector || []).filter(function (s) { return s.type === "FragmentSelector"; })[0];
      value = selector ? selector.value : String(target.id || "");
    }
    var match = XYWH.exec(value);
    return match ? match.slice(1).map(Number) : null;
  }

  // ---- citation: a IIIF Content State of the current canvas (and region) --------------------

  function copyCitation() {
    var view = currentView(store.getState());
    var target = view.canvas + (view.region ? "#xywh=" + view.region.join(",") : "");
    var state = { "@context": "http://iiif.io/api/presentation/3/context.json", type: "Annotation",
                  motivation: ["contentState"],
                  target: { id: target, type: "Canvas", partOf: [{ id: config.manifest, type: "Manifest" }] } };
    var link = location.origin + location.pathname + "?iiif-content=" + encodeContentState(JSON.stringify(state));
    ui.citeLink.value = link;
    ui.citeBox.classList.add("shown");
    ui.citeLink.select();
    var copied = function () { ui.cite.textContent = labels.copied; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(copied, function () { if (document.execCommand("copy")) copied(); });
    } else if (document.execCommand("copy")) {
      copied();
    }
    setTimeout(function () { ui.cite.textContent = labels.cite; }, 3000);
  }

  // Content State 1.0 §6: encodeURIComponent, then base64url without padding.
  function encodeContentState(json) {
    return btoa(encodeURIComponent(json)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The visible canvas with most of the view, and the part of it shown unless it is shown whole.
  function currentView(state) {
    var win = state.windows[windowId];
    var osd = (Mirador.OSDReferences.get(windowId) || {}).current;
    if (!osd || !osd.viewport) return { canvas: win.canvasId, region: null };
    var bounds = osd.viewport.getBounds(true);
    var view = [bounds.x, bounds.y, bounds.width, bounds.height];
    var world = Mirador.getCurrentCanvasWorld(state, { windowId: windowId });
    var best = null, whole = true;
    (win.visibleCanvases || []).forEach(function (id) {
      var placed = world.canvasToWorldCoordinates(id);
      var part = intersect(view, placed);
      whole = whole && part && part[2] >= placed[2] - 1 && part[3] >= placed[3] - 1;
      if (part && (!best || part[2] * part[3] > best.part[2] * best.part[3])) best = { id: id, placed: placed, part: part };
    });
    if (!best || whole) return { canvas: win.canvasId, region: null };
    var scale = canvasById(best.id).width / best.placed[2];
    var region = [best.part[0] - best.placed[0], best.part[1] - best.placed[1], best.part[2], best.part[3]]
      .map(function (v) { return Math.max(0, Math.round(v * scale)); });
    return { canvas: best.id, region: region };
  }

  function intersect(a, b) {
    var x = Math.max(a[0], b[0]), y = Math.max(a[1], b[1]);
    var w = Math.min(a[0] + a[2], b[0] + b[2]) - x, h = Math.min(a[1] + a[3], b[1] + b[3]) - y;
    return w > 0 && h > 0 ? [x, y, w, h] : null;
  }

  // Zoom to a cited region once OpenSeadragon has drawn its canvas (after the page-turn fit).
  function showRegionWhenDrawn(canvasId, region, deadline) {
    var osd = (Mirador.OSDReferences.get(windowId) || {}).current;
    var sources = !osd ? [] : Array.from({ length: osd.world.getItemCount() }, function (_, i) {
      var source = osd.world.getItemAt(i).source;
      return String(source["@id"] || source.id || "");
    });
    var visible = (store.getState().windows[windowId] || {}).visibleCanvases || [];
    var drawn = visible.indexOf(canvasId) >= 0 && visible.every(function (id) {
      var service = imageService(canvasById(id));
      return sources.some(function (source) { return service && source.indexOf(service) === 0; });
    });
    if (!drawn) {
      if (Date.now() < deadline) setTimeout(function () { showRegionWhenDrawn(canvasId, region, deadline); }, 250);
      return;
    }
    setTimeout(function () {
      var state = store.getState();
      var placed = Mirador.getCurrentCanvasWorld(state, { windowId: windowId }).canvasToWorldCoordinates(canvasId);
      var scale = placed[2] / canvasById(canvasId).width;
      var rect = osd.viewport.getBounds(); // a new OpenSeadragon.Rect (Mirador does not export the class)
      rect.x = placed[0] + region[0] * scale;
      rect.y = placed[1] + region[1] * scale;
      rect.width = region[2] * scale;
      rect.height = region[3] * scale;
      osd.viewport.fitBounds(rect, true);
      // Tell the store, so Mirador does not pan back to the view it last knew.
      var center = osd.viewport.getCenter(true);
      store.dispatch(Mirador.updateViewport(windowId, { x: center.x, y: center.y, zoom: osd.viewport.getZoom(true) }));
    }, 800);
  }

  // ---- PDF of the leaves from the current one ------------------------------------------------

  function updatePdfLink() {
    var state = store.getState();
    var visible = (state.windows[windowId] || {}).visibleCanvases || [];
    var ids = manifest.items.map(function (c) { return c.id; });
    var first = Math.min.apply(null, visible.map(function (id) { return ids.indexOf(id); }).filter(function (i) {
      return i >= 0;
    }).concat([ids.length - 1]));
    var count = Math.max(1, Math.min(MAX_LEAVES, parseInt(ui.count.value, 10) || DEFAULT_LEAVES));
    var last = Math.min(first + count - 1, ids.length - 1);
    ui.pdf.href = new URL("pdf", config.manifest).href + "?from=" + encodeURIComponent(pageId(ids[first])) +
      "&to=" + encodeURIComponent(pageId(ids[last]));
  }

  // ---- small helpers --------------------------------------------------------------------------

  function canvasById(id) {
    return manifest.items.filter(function (c) { return c.id === id; })[0] || {};
  }

  function imageService(canvas) {
    try {
      return [].concat(canvas.items[0].items[0].body.service)[0].id;
    } catch (e) {
      return "";
    }
  }

  function pageId(canvasId) {
    return canvasId.split("/").pop();
  }

  function safeLink(href) {
    try {
      var url = new URL(href, location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : "";
    } catch (e) {
      return "";
    }
  }

  function firstValue(label) {
    var values = label ? Object.keys(label).map(function (k) { return label[k]; })[0] : null;
    return values && values.length ? String(values[0]) : "";
  }

  function isCjk(ch) {
    var code = ch.codePointAt(0);
    return (code >= 0x2e80 && code <= 0x9fff) || (code >= 0xac00 && code <= 0xd7af) ||
      (code >= 0xf900 && code <= 0xfaff) || (code >= 0xff00 && code <= 0xffef) || (code >= 0x20000 && code <= 0x3134f);
  }

  function children(node, name) {
    return Array.from(node.getElementsByTagNameNS("*", name));
  }

  function flatten(lists) {
    return [].concat.apply([], lists);
  }

  function element(name, attributes, text) {
    var node = document.createElement(name);
    Object.keys(attributes || {}).forEach(function (k) { node.setAttribute(k, attributes[k]); });
    if (text) node.textContent = text;
    return node;
  }
})();
