// The dataset page's map: Leaflet (vendored) over a plain graticule, or the operator's tiles
// (data-tile-url, from MAP_TILE_URL). Points come from points.json for the visible area; when
// there are more than the server's cap it sends counts per grid cell instead, drawn as sized
// circles that zoom in when clicked. Popups are built as DOM text (never HTML from the data).
(function () {
  "use strict";
  var el = document.getElementById("map-view");
  if (!el || !window.L) { return; }
  var note = document.querySelector(".map-note");
  var map = L.map(el, { preferCanvas: true, worldCopyJump: false, minZoom: 0, maxZoom: 14,  // 0: a phone fits the world
                        maxBounds: [[-90, -200], [90, 200]] });
  map.attributionControl.setPrefix(false);
  el.kaifangMap = map;  // for the browser tests, which click a point through its projection
  var renderer = L.canvas({ padding: 0.2 });
  var grid = L.layerGroup().addTo(map);
  var marks = L.layerGroup().addTo(map);
  var columns = [];
  var pending = null;

  if (el.dataset.tileUrl) {
    L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || "", maxZoom: 19 }).addTo(map);
  }

  function graticule() {
    grid.clearLayers();
    var zoom = map.getZoom();
    var step = zoom >= 8 ? 1 : zoom >= 6 ? 2 : zoom >= 4 ? 5 : zoom >= 3 ? 10 : 30;
    var style = { color: "#b8c4cf", weight: 1, interactive: false, renderer: renderer };
    for (var lon = -180; lon <= 180; lon += step) { grid.addLayer(L.polyline([[-85, lon], [85, lon]], style)); }
    for (var lat = -80; lat <= 80; lat += step) { grid.addLayer(L.polyline([[lat, -180], [lat, 180]], style)); }
  }

  function popup(values) {
    var table = document.createElement("table");
    table.className = "map-popup";
    values.forEach(function (value, i) {
      if (value === null || value === "") { return; }
      var row = table.insertRow();
      var th = document.createElement("th");
      th.textContent = columns[i];
      row.appendChild(th);
      row.insertCell().textContent = String(value);
    });
    return table;
  }

  function draw(data) {
    marks.clearLayers();
    columns = data.columns;
    var radius = data.points.length > 1000 ? 3 : 4;
    data.points.forEach(function (p) {
      L.circleMarker([p[1], p[0]], { radius: radius, color: "#1f5a94", weight: 1, fillColor: "#2f6fb0",
                                     fillOpacity: 0.6, renderer: renderer })
        .bindPopup(function () { return popup(p[2]); }, { maxWidth: 320 }).addTo(marks);
    });
    var largest = data.cells.reduce(function (m, c) { return Math.max(m, c[2]); }, 1);
    data.cells.forEach(function (c) {
      var circle = L.circleMarker([c[1], c[0]], { radius: 5 + 16 * Math.sqrt(c[2] / largest), color: "#8a4b08",
                                                  weight: 1, fillColor: "#e08a1e", fillOpacity: 0.6, renderer: renderer });
      circle.bindTooltip(c[2].toLocaleString() + " · " + el.dataset.zoomIn);
      circle.on("click", function () { map.setView([c[1], c[0]], Math.min(map.getZoom() + 2, 14)); });
      circle.addTo(marks);
    });
    note.textContent = data.note;
  }

  function load(bbox) {
    var url = el.dataset.endpoint + (bbox ? "?bbox=" + bbox : "");
    return fetch(url, { headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .catch(function () { note.textContent = el.dataset.error; return null; });
  }

  function visible() {
    var b = map.getBounds();
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(4); }).join(",");
  }

  load(null).then(function (data) {
    if (!data) { return; }
    var b = data.bounds;
    if (b) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [12, 12] }); } else { map.setView([20, 0], 1); }
    graticule();
    draw(data);
    map.on("zoomend", graticule);
    // Every point is on the page already unless the server sent grid cells: only then does
    // moving the map ask again (for the visible area), so panning costs no requests.
    var complete = data.cells.length === 0;
    map.on("moveend", function () {
      if (complete) { return; }
      clearTimeout(pending);
      pending = setTimeout(function () { load(visible()).then(function (d) { if (d) { draw(d); } }); }, 250);
    });
  });
})();
