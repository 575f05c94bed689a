/* Drug-mention graph viewer: a seeded force layout drawn on a canvas, with search, filters
   and a details panel. Plain browser JavaScript, no library, no network. */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("graph-data").textContent);
  var META = DATA.meta;
  var nodes = DATA.nodes;
  var edges = DATA.edges;
  var N = nodes.length;
  var SEED = 20240501;

  var KIND_INFO = {
    drug: { label: "Drugs", one: "Drug", shape: "circle" },
    journal: { label: "Journals", one: "Journal", shape: "square" },
    pubmed: { label: "PubMed articles", plural: "PubMed articles", one: "PubMed article", shape: "circle" },
    clinical_trial: { label: "Clinical trials", one: "Clinical trial", shape: "diamond" }
  };
  var KINDS = ["drug", "journal", "pubmed", "clinical_trial"];
  Object.keys(META.total).sort().forEach(function (k) {
    if (KINDS.indexOf(k) < 0) {
      KINDS.push(k);
      KIND_INFO[k] = { label: k, one: k, shape: "circle" };
    }
  });
  var css = getComputedStyle(document.documentElement);
  var COLORS = {};
  KINDS.forEach(function (k) {
    COLORS[k] = (css.getPropertyValue("--" + k) || "").trim() || "#64748b";
  });
  var TOP_COLOR = css.getPropertyValue("--top").trim() || "#eab308";
  var ACCENT = css.getPropertyValue("--accent").trim() || "#4f46e5";

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  function fold(s) {
    return String(s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  /* ---------- graph indexes ---------- */
  var byId = {};
  var adj = [];
  var maxMentions = 1, maxDrugs = 1;
  nodes.forEach(function (n) {
    if (n.kind === "drug") maxMentions = Math.max(maxMentions, (n.pubmed || 0) + (n.trials || 0));
    if (n.kind === "journal") maxDrugs = Math.max(maxDrugs, n.drugs || 0);
  });
  for (var i = 0; i < N; i++) {
    var n = nodes[i];
    byId[n.id] = i;
    adj.push([]);
    n.x = 0; n.y = 0; n.vx = 0; n.vy = 0;
    if (n.kind === "drug") {
      n.r = 6 + 10 * Math.sqrt(((n.pubmed || 0) + (n.trials || 0)) / maxMentions);
    } else if (n.kind === "journal") {
      n.r = 4 + 7 * Math.sqrt((n.drugs || 0) / maxDrugs);
    } else {
      n.r = 3.2;
    }
  }
  edges.forEach(function (e, k) { adj[e[0]].push(k); adj[e[1]].push(k); });

  /* ---------- seeded layout ---------- */
  function mulberry32(a) {
    return function () {
      a |= 0; a = (a + 0x6d2b79f5) | 0;
      var t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function charge(n) {
    return n.kind === "drug" ? 200 : n.kind === "journal" ? 120 : 30;
  }

  function initialPositions() {
    var rnd = mulberry32(SEED);
    var golden = Math.PI * (3 - Math.sqrt(5));
    var d = 0;
    nodes.forEach(function (n) {
      if (n.kind === "drug") {
        var rad = 60 * Math.sqrt(d + 0.5);
        n.x = rad * Math.cos(d * golden);
        n.y = rad * Math.sin(d * golden);
        d++;
      }
    });
    nodes.forEach(function (n, idx) {
      if (n.kind === "drug") return;
      var sx = 0, sy = 0, c = 0;
      adj[idx].forEach(function (k) {
        var o = edges[k][0] === idx ? edges[k][1] : edges[k][0];
        if (nodes[o].kind === "drug") { sx += nodes[o].x; sy += nodes[o].y; c++; }
      });
      var a = rnd() * 2 * Math.PI, r = 20 + rnd() * 40;
      n.x = (c ? sx / c : 0) + r * Math.cos(a);
      n.y = (c ? sy / c : 0) + r * Math.sin(a);
    });
  }

  // Barnes-Hut quadtree in flat arrays, rebuilt every tick. A cell has bounds (x0, y0, size),
  // a total charge q at centre (mx, my), and either four children (kid = first child) or a
  // bucket of points (a linked list through nextPt).
  var Q = new Float64Array(N);
  for (var qi = 0; qi < N; qi++) Q[qi] = charge(nodes[qi]);
  var cX = [], cY = [], cS = [], cQ = [], cMx = [], cMy = [], cKid = [], cHead = [], cCount = [];
  var nextPt = new Int32Array(N);
  var nCells = 0;
  var walk = new Int32Array(1024);

  function newCell(x, y, size) {
    var c = nCells++;
    cX[c] = x; cY[c] = y; cS[c] = size; cKid[c] = -1; cHead[c] = -1; cCount[c] = 0;
    cQ[c] = 0; cMx[c] = 0; cMy[c] = 0;
    return c;
  }
  function quad(c, i) {
    var h = cS[c] / 2;
    return (nodes[i].x >= cX[c] + h ? 1 : 0) + (nodes[i].y >= cY[c] + h ? 2 : 0);
  }
  function insert(c, i, depth) {
    while (cKid[c] >= 0) { c = cKid[c] + quad(c, i); depth++; }
    nextPt[i] = cHead[c]; cHead[c] = i; cCount[c]++;
    if (cCount[c] < 2 || depth >= 30) return;
    var h = cS[c] / 2, first = nCells;
    newCell(cX[c], cY[c], h); newCell(cX[c] + h, cY[c], h);
    newCell(cX[c], cY[c] + h, h); newCell(cX[c] + h, cY[c] + h, h);
    cKid[c] = first;
    var p = cHead[c];
    cHead[c] = -1; cCount[c] = 0;
    while (p >= 0) {
      var nx = nextPt[p];
      insert(first + quad(c, p), p, depth + 1);
      p = nx;
    }
  }
  function buildTree() {
    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (var i = 0; i < N; i++) {
      var n = nodes[i];
      if (n.x < minX) minX = n.x; if (n.x > maxX) maxX = n.x;
      if (n.y < minY) minY = n.y; if (n.y > maxY) maxY = n.y;
    }
    nCells = 0;
    newCell(minX, minY, Math.max(maxX - minX, maxY - minY, 1) + 1);
    for (var j = 0; j < N; j++) insert(0, j, 0);
    // children are created after their parent: summing in reverse order is post-order
    for (var c = nCells - 1; c >= 0; c--) {
      var q = 0, x = 0, y = 0;
      if (cKid[c] >= 0) {
        for (var k = cKid[c]; k < cKid[c] + 4; k++) { q += cQ[k]; x += cMx[k] * cQ[k]; y += cMy[k] * cQ[k]; }
      } else {
        for (var p = cHead[c]; p >= 0; p = nextPt[p]) { q += Q[p]; x += nodes[p].x * Q[p]; y += nodes[p].y * Q[p]; }
      }
      cQ[c] = q; cMx[c] = q ? x / q : 0; cMy[c] = q ? y / q : 0;
    }
  }

  var THETA2 = 1.0;
  function repel(idx, alpha) {
    var n = nodes[idx], top = 0, fx = 0, fy = 0;
    walk[top++] = 0;
    while (top) {
      var c = walk[--top];
      if (!cQ[c]) continue;
      var dx = cMx[c] - n.x, dy = cMy[c] - n.y, d2 = dx * dx + dy * dy;
      if (cKid[c] >= 0) {
        if ((cS[c] * cS[c]) < THETA2 * d2) {
          fx -= (dx * cQ[c]) / d2; fy -= (dy * cQ[c]) / d2;
        } else {
          if (top + 4 > walk.length) { var grown = new Int32Array(walk.length * 2); grown.set(walk); walk = grown; }
          for (var k = 0; k < 4; k++) walk[top++] = cKid[c] + k;
        }
      } else {
        for (var j = cHead[c]; j >= 0; j = nextPt[j]) {
          if (j === idx) continue;
          var ex = nodes[j].x - n.x, ey = nodes[j].y - n.y, e2 = ex * ex + ey * ey;
          if (e2 < 1) e2 = 1;
          fx -= (ex * Q[j]) / e2; fy -= (ey * Q[j]) / e2;
        }
      }
    }
    n.vx += fx * alpha; n.vy += fy * alpha;
  }

  function tick(alpha) {
    buildTree();
    for (var i = 0; i < N; i++) repel(i, alpha);
    for (var k = 0; k < edges.length; k++) {
      var s = nodes[edges[k][0]], t = nodes[edges[k][1]];
      var ideal = t.kind === "journal" ? 110 : 42;
      var dx = t.x - s.x, dy = t.y - s.y;
      var l = Math.sqrt(dx * dx + dy * dy) || 1;
      var ds = adj[edges[k][0]].length, dt = adj[edges[k][1]].length;
      var f = ((l - ideal) / l) * alpha * (0.9 / Math.min(ds, dt));
      var bias = ds / (ds + dt);
      t.vx -= dx * f * bias; t.vy -= dy * f * bias;
      s.vx += dx * f * (1 - bias); s.vy += dy * f * (1 - bias);
    }
    for (var j = 0; j < N; j++) {
      var n = nodes[j];
      n.vx -= n.x * GRAVITY * alpha;
      n.vy -= n.y * GRAVITY * alpha;
      n.vx *= 0.6; n.vy *= 0.6;
      n.x += n.vx; n.y += n.vy;
    }
  }

  var GRAVITY = 0.03;
  var TICKS = N > 1500 ? 200 : 300;
  var timing = { layout: 0, draws: 0, drawMs: 0 };
  function runLayout(done) {
    var began = performance.now();
    initialPositions();
    var t = 0;
    var decay = 1 - Math.pow(0.001, 1 / TICKS);
    var alpha = 1, lastFrame = 0;
    function chunk() {
      var start = performance.now();
      while (t < TICKS && performance.now() - start < 40) {
        tick(alpha);
        alpha *= 1 - decay;
        t++;
      }
      if (t < TICKS) {
        $("status").textContent = "Laying out… " + Math.round((100 * t) / TICKS) + "%";
        if (performance.now() - lastFrame > 250) { fit(); draw(); lastFrame = performance.now(); }
        setTimeout(chunk, 0);
      } else {
        timing.layout = performance.now() - began;
        done();
      }
    }
    chunk();
  }

  /* ---------- view state ---------- */
  var canvas = $("canvas");
  var ctx = canvas.getContext("2d");
  var view = { k: 1, tx: 0, ty: 0 };
  var W = 0, H = 0, DPR = 1;
  var visible = new Uint8Array(N);
  var edgeVisible = new Uint8Array(edges.length);
  var kindOn = {};
  KINDS.forEach(function (k) { kindOn[k] = true; });
  var selected = -1, hovered = -1;
  var neighbours = null;
  var ready = false;

  function resize() {
    var box = canvas.getBoundingClientRect();
    DPR = window.devicePixelRatio || 1;
    W = Math.max(1, box.width); H = Math.max(1, box.height);
    canvas.width = Math.round(W * DPR);
    canvas.height = Math.round(H * DPR);
    draw();
  }

  function fit() {
    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity, any = false;
    for (var i = 0; i < N; i++) {
      if (!visible[i]) continue;
      var n = nodes[i];
      any = true;
      minX = Math.min(minX, n.x - n.r); maxX = Math.max(maxX, n.x + n.r);
      minY = Math.min(minY, n.y - n.r); maxY = Math.max(maxY, n.y + n.r);
    }
    if (!any) { view = { k: 1, tx: W / 2, ty: H / 2 }; return; }
    var pad = 48;
    var k = Math.min((W - 2 * pad) / Math.max(maxX - minX, 1), (H - 2 * pad) / Math.max(maxY - minY, 1));
    k = Math.max(0.02, Math.min(k, 3));
    view = { k: k, tx: W / 2 - k * (minX + maxX) / 2, ty: H / 2 - k * (minY + maxY) / 2 };
  }

  function toScreen(n) { return { x: n.x * view.k + view.tx, y: n.y * view.k + view.ty }; }

  /* ---------- filters ---------- */
  function inRange(date, from, to) {
    if (!date) return !from && !to;
    return (!from || date >= from) && (!to || date <= to);
  }

  function applyFilters() {
    var from = $("date-from").value || "", to = $("date-to").value || "";
    if (from && META.date_min && from <= META.date_min) from = "";
    if (to && META.date_max && to >= META.date_max) to = "";
    var ranged = !!(from || to);
    var i, k;
    for (i = 0; i < N; i++) {
      var n = nodes[i];
      if (!kindOn[n.kind]) visible[i] = 0;
      else if (n.kind === "drug" || n.kind === "journal") visible[i] = 1;
      else visible[i] = inRange(n.date, from, to) ? 1 : 0;
    }
    var dated = new Uint8Array(edges.length);
    for (k = 0; k < edges.length; k++) {
      var ds = edges[k][2];
      var ok = !ranged;
      for (var d = 0; !ok && d < ds.length; d++) ok = inRange(ds[d], from, to);
      dated[k] = ok ? 1 : 0;
    }
    if (ranged) {
      // a journal stays when one of its mentions falls in the range
      for (i = 0; i < N; i++) {
        if (nodes[i].kind !== "journal" || !visible[i]) continue;
        var keep = 0;
        for (var a = 0; a < adj[i].length && !keep; a++) keep = dated[adj[i][a]];
        visible[i] = keep;
      }
    }
    for (k = 0; k < edges.length; k++) {
      edgeVisible[k] = dated[k] && visible[edges[k][0]] && visible[edges[k][1]] ? 1 : 0;
    }
    updateCounts();
    draw();
  }

  function counts() {
    var c = {};
    KINDS.forEach(function (k) { c[k] = 0; });
    for (var i = 0; i < N; i++) if (visible[i]) c[nodes[i].kind]++;
    return c;
  }

  function updateCounts() {
    var c = counts(), total = 0, shown = 0;
    KINDS.forEach(function (k) {
      var span = document.querySelector('.count[data-kind="' + k + '"]');
      if (span) span.textContent = fmt(c[k]) + " / " + fmt(META.shown[k] || 0);
      total += META.shown[k] || 0; shown += c[k];
    });
    var links = 0;
    for (var e = 0; e < edges.length; e++) links += edgeVisible[e];
    $("status").textContent = "Showing " + fmt(shown) + " of " + fmt(total) + " nodes, " +
      fmt(links) + " links";
  }

  /* ---------- drawing ---------- */
  function shapePath(n, x, y, r) {
    var shape = KIND_INFO[n.kind].shape;
    ctx.beginPath();
    if (shape === "square") {
      var s = r * 0.9, c = r * 0.35;
      ctx.moveTo(x - s + c, y - s);
      ctx.arcTo(x + s, y - s, x + s, y + s, c);
      ctx.arcTo(x + s, y + s, x - s, y + s, c);
      ctx.arcTo(x - s, y + s, x - s, y - s, c);
      ctx.arcTo(x - s, y - s, x + s, y - s, c);
      ctx.closePath();
    } else if (shape === "diamond") {
      var q = r * 1.25;
      ctx.moveTo(x, y - q); ctx.lineTo(x + q, y); ctx.lineTo(x, y + q); ctx.lineTo(x - q, y);
      ctx.closePath();
    } else {
      ctx.arc(x, y, r, 0, 2 * Math.PI);
    }
  }

  function isLit(i) { return selected < 0 || i === selected || (neighbours && neighbours[i]); }

  function draw() {
    if (!W) return;
    var t0 = performance.now();
    drawNow();
    timing.draws++;
    timing.drawMs += performance.now() - t0;
  }

  function drawNow() {
    ctx.setTransform(DPR, 0, 0, DPR, 0, 0);
    ctx.clearRect(0, 0, W, H);
    var k = view.k;
    // links
    ctx.lineWidth = 1;
    ctx.strokeStyle = selected < 0 ? "rgba(100,116,139,0.22)" : "rgba(100,116,139,0.07)";
    ctx.beginPath();
    var lit = [];
    for (var e = 0; e < edges.length; e++) {
      if (!edgeVisible[e]) continue;
      var s = edges[e][0], t = edges[e][1];
      if (selected >= 0 && (s === selected || t === selected)) { lit.push(e); continue; }
      var a = nodes[s], b = nodes[t];
      ctx.moveTo(a.x * k + view.tx, a.y * k + view.ty);
      ctx.lineTo(b.x * k + view.tx, b.y * k + view.ty);
    }
    ctx.stroke();
    if (lit.length) {
      ctx.strokeStyle = ACCENT;
      ctx.globalAlpha = 0.75;
      ctx.lineWidth = 1.6;
      ctx.beginPath();
      lit.forEach(function (e2) {
        var a2 = nodes[edges[e2][0]], b2 = nodes[edges[e2][1]];
        ctx.moveTo(a2.x * k + view.tx, a2.y * k + view.ty);
        ctx.lineTo(b2.x * k + view.tx, b2.y * k + view.ty);
      });
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
    // nodes: publications under journals under drugs
    var scale = Math.max(0.45, Math.min(1.6, Math.sqrt(k)));
    ["pub", "journal", "drug"].forEach(function (layer) {
      for (var i = 0; i < N; i++) {
        if (!visible[i]) continue;
        var n = nodes[i];
        var L = n.kind === "drug" ? "drug" : n.kind === "journal" ? "journal" : "pub";
        if (L !== layer) continue;
        var x = n.x * k + view.tx, y = n.y * k + view.ty, r = n.r * scale;
        if (x < -40 || y < -40 || x > W + 40 || y > H + 40) continue;
        ctx.globalAlpha = isLit(i) ? 1 : 0.16;
        if (n.top) {
          shapePath(n, x, y, r + 4);
          ctx.fillStyle = TOP_COLOR;
          ctx.fill();
        }
        shapePath(n, x, y, r);
        ctx.fillStyle = COLORS[n.kind] || "#64748b";
        ctx.fill();
        ctx.lineWidth = L === "pub" ? 0.8 : 1.5;
        ctx.strokeStyle = "#ffffff";
        ctx.stroke();
        if (i === selected || i === hovered) {
          shapePath(n, x, y, r + 3);
          ctx.lineWidth = 2;
          ctx.strokeStyle = i === selected ? "#111827" : ACCENT;
          ctx.stroke();
        }
      }
    });
    ctx.globalAlpha = 1;
    drawLabels(scale);
  }

  function drawLabels(scale) {
    var k = view.k;
    var manyDrugs = (META.shown.drug || 0) > 150;
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    for (var i = 0; i < N; i++) {
      if (!visible[i]) continue;
      var n = nodes[i];
      var focus = i === selected || i === hovered || (neighbours && neighbours[i]);
      var show = n.kind === "drug" ? (!manyDrugs || k > 1.2 || focus) :
        n.kind === "journal" ? (n.top || k > 1.6 || focus || (META.shown.journal || 0) <= 12) : (i === selected || i === hovered);
      if (selected >= 0 && !isLit(i)) show = false;
      if (!show) continue;
      var x = n.x * k + view.tx, y = n.y * k + view.ty;
      if (x < -200 || y < -20 || x > W + 20 || y > H + 20) continue;
      var text = n.label || n.id;
      if (text.length > 48) text = text.slice(0, 46) + "…";
      ctx.font = (n.kind === "drug" ? "600 12px " : "11px ") + "system-ui, sans-serif";
      var lx = x + n.r * scale + 5;
      ctx.lineWidth = 3.5;
      ctx.strokeStyle = "rgba(255,255,255,0.92)";
      ctx.strokeText(text, lx, y);
      ctx.fillStyle = n.kind === "drug" ? "#1e1b4b" : n.kind === "journal" ? "#78350f" : "#374151";
      ctx.fillText(text, lx, y);
    }
  }

  /* ---------- picking ---------- */
  function pick(sx, sy) {
    var best = -1, bestD = Infinity;
    var scale = Math.max(0.45, Math.min(1.6, Math.sqrt(view.k)));
    for (var i = 0; i < N; i++) {
      if (!visible[i]) continue;
      var n = nodes[i];
      var p = toScreen(n);
      var dx = p.x - sx, dy = p.y - sy, d = Math.sqrt(dx * dx + dy * dy);
      var reach = n.r * scale + 4;
      // drugs and journals win over publications drawn under them
      var score = d - (n.kind === "drug" ? 2 : n.kind === "journal" ? 1 : 0);
      if (d <= reach && score < bestD) { best = i; bestD = score; }
    }
    return best;
  }

  /* ---------- selection and details ---------- */
  function select(i, centre) {
    selected = i;
    neighbours = null;
    if (i >= 0) {
      neighbours = new Uint8Array(N);
      adj[i].forEach(function (e) { neighbours[edges[e][0]] = 1; neighbours[edges[e][1]] = 1; });
      if (centre) {
        // bring the node into view: zoom in on large graphs, pan only when it is near an edge
        var n = nodes[i];
        var k = N > 300 ? Math.max(view.k, 1.1) : view.k;
        var p = { x: n.x * k + view.tx, y: n.y * k + view.ty };
        if (k !== view.k || p.x < W * 0.15 || p.x > W * 0.85 || p.y < H * 0.15 || p.y > H * 0.85) {
          view = { k: k, tx: W / 2 - n.x * k, ty: H / 2 - n.y * k };
        }
      }
    }
    showDetails(i);
    draw();
  }

  function linkItem(list, idx, sub) {
    var n = nodes[idx];
    var li = el("li");
    var sw = el("span", "swatch" + (n.kind === "journal" ? " square" : ""));
    sw.style.background = COLORS[n.kind] || "#64748b";
    li.appendChild(sw);
    var body = el("span", null, n.label || n.id);
    li.appendChild(body);
    if (n.top) li.appendChild(el("span", "star", "★"));
    if (sub) li.appendChild(el("span", "sub", sub));
    li.title = n.label || n.id;
    li.addEventListener("click", function () { select(idx, true); });
    list.appendChild(li);
  }

  function field(dl, name, key, value) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", null, name));
    var dd = el("dd", null, value);
    dd.setAttribute("data-field", key);
    dl.appendChild(dd);
  }

  function neighbourIdx(i, kinds) {
    var out = [];
    adj[i].forEach(function (e) {
      var o = edges[e][0] === i ? edges[e][1] : edges[e][0];
      if (kinds.indexOf(nodes[o].kind) >= 0) out.push({ i: o, e: e });
    });
    return out;
  }

  function section(body, title, items, render, limit) {
    if (!items.length) return;
    var wrap = el("div", "section");
    wrap.appendChild(el("h2", null, title));
    var ul = el("ul", "links");
    items.slice(0, limit).forEach(function (it) { render(ul, it); });
    wrap.appendChild(ul);
    if (items.length > limit) wrap.appendChild(el("div", "more", "… and " + fmt(items.length - limit) + " more"));
    body.appendChild(wrap);
  }

  function showDetails(i) {
    var body = $("details-body");
    body.textContent = "";
    if (i < 0) {
      body.appendChild(el("p", "hint", "Click a node, or search a drug, to see its details."));
      return;
    }
    var n = nodes[i];
    var badge = el("div", "kind-badge");
    var sw = el("span", "swatch" + (n.kind === "journal" ? " square" : ""));
    sw.style.background = COLORS[n.kind] || "#64748b";
    badge.appendChild(sw);
    badge.appendChild(el("span", null, KIND_INFO[n.kind].one));
    if (n.top) badge.appendChild(el("span", "tag", "★ Top journal"));
    body.appendChild(badge);
    var h = el("h3", null, n.label || n.id);
    h.id = "detail-title";
    body.appendChild(h);
    var dl = el("dl");
    body.appendChild(dl);
    var pubKinds = KINDS.filter(function (k) { return k !== "drug" && k !== "journal"; });
    if (n.kind === "drug") {
      field(dl, "ATC code", "atccode", n.atccode);
      field(dl, "PubMed", "pubmed", fmt(n.pubmed || 0));
      field(dl, "Trials", "trials", fmt(n.trials || 0));
      field(dl, "Journals", "journals", fmt(n.journals || 0));
      var js = neighbourIdx(i, ["journal"]).sort(function (a, b) {
        return (nodes[b.i].top ? 1 : 0) - (nodes[a.i].top ? 1 : 0) ||
          (nodes[a.i].label < nodes[b.i].label ? -1 : 1);
      });
      section(body, "Journals", js, function (ul, it) {
        linkItem(ul, it.i, edges[it.e][2].length + (edges[it.e][2].length > 1 ? " dates" : " date"));
      }, 40);
      var ps = neighbourIdx(i, pubKinds).sort(function (a, b) {
        return (nodes[b.i].date || "") < (nodes[a.i].date || "") ? -1 : 1;
      });
      var shownTitle = "Publications";
      if (META.reduced) shownTitle += " (" + fmt(ps.length) + " of " + fmt((n.pubmed || 0) + (n.trials || 0)) + " shown)";
      section(body, shownTitle, ps, function (ul, it) { linkItem(ul, it.i, nodes[it.i].date); }, 60);
    } else if (n.kind === "journal") {
      field(dl, "Drugs", "drugs", fmt(n.drugs || 0) + " distinct");
      field(dl, "Publications", "pubs", fmt(n.pubs || 0));
      var ds = neighbourIdx(i, ["drug"]).sort(function (a, b) {
        return nodes[a.i].label < nodes[b.i].label ? -1 : 1;
      });
      section(body, "Drugs mentioned", ds, function (ul, it) {
        var dates = edges[it.e][2];
        linkItem(ul, it.i, dates.length > 2 ? dates[0] + " … " + dates[dates.length - 1] : dates.join(", "));
      }, 80);
    } else {
      field(dl, "Title", "title", n.label);
      field(dl, "Date", "date", n.date);
      field(dl, "Journal", "journal", n.journal);
      field(dl, "Source id", "source_id", n.source_id);
      field(dl, "Node id", "id", n.id);
      var drugs = neighbourIdx(i, ["drug"]);
      section(body, "Drugs mentioned", drugs, function (ul, it) { linkItem(ul, it.i); }, 50);
      if (!drugs.length && n.drug_names && n.drug_names.length) {
        field(dl, "Drugs", "drug_names", n.drug_names.join(", "));
      }
      var jid = n.journal !== undefined ? byId["journal:" + n.journal] : undefined;
      if (jid !== undefined) {
        section(body, "Journal", [jid], function (ul, j) { linkItem(ul, j); }, 1);
      }
    }
  }

  /* ---------- search ---------- */
  var searchable = [];
  nodes.forEach(function (n, i) {
    if (n.kind === "drug" || n.kind === "journal") searchable.push({ i: i, key: fold(n.label) });
  });
  var results = [];
  function search(q) {
    var ul = $("results");
    ul.textContent = "";
    results = [];
    q = fold(q).trim();
    if (!q) return;
    var starts = [], contains = [];
    searchable.forEach(function (s) {
      var p = s.key.indexOf(q);
      if (p === 0) starts.push(s.i); else if (p > 0) contains.push(s.i);
    });
    function order(a, b) {
      var ka = nodes[a].kind === "drug" ? 0 : 1, kb = nodes[b].kind === "drug" ? 0 : 1;
      return ka - kb || (nodes[a].label < nodes[b].label ? -1 : 1);
    }
    results = starts.sort(order).concat(contains.sort(order)).slice(0, 12);
    results.forEach(function (idx, r) {
      var n = nodes[idx];
      var sub = n.kind === "drug" ? fmt((n.pubmed || 0) + (n.trials || 0)) + " mentions" :
        fmt(n.drugs || 0) + " drugs";
      linkItem(ul, idx, sub);
      if (r === 0) ul.lastChild.classList.add("active");
    });
    if (!results.length) ul.appendChild(el("li", "sub", "No drug or journal matches"));
  }

  /* ---------- controls ---------- */
  function buildControls() {
    var t = META.total;
    var parts = [];
    KINDS.forEach(function (k) {
      if (t[k] !== undefined) parts.push(fmt(t[k]) + " " + (KIND_INFO[k].plural || KIND_INFO[k].label.toLowerCase()));
    });
    $("summary").textContent = parts.join(" · ") +
      (META.date_min ? " · " + META.date_min + " → " + META.date_max : "");
    var box = $("kinds"), legend = $("legend");
    KINDS.forEach(function (k) {
      var label = el("label", "kind");
      var cb = el("input");
      cb.type = "checkbox"; cb.checked = true; cb.value = k;
      cb.setAttribute("data-kind", k);
      cb.addEventListener("change", function () { kindOn[k] = cb.checked; applyFilters(); });
      label.appendChild(cb);
      var sw = el("span", "swatch" + (k === "journal" ? " square" : ""));
      sw.style.background = COLORS[k];
      label.appendChild(sw);
      label.appendChild(el("span", "name", KIND_INFO[k].label));
      var c = el("span", "count");
      c.setAttribute("data-kind", k);
      label.appendChild(c);
      box.appendChild(label);
      var item = el("span");
      var sw2 = el("span", "swatch" + (k === "journal" ? " square" : ""));
      sw2.style.background = COLORS[k];
      item.appendChild(sw2);
      item.appendChild(document.createTextNode(KIND_INFO[k].one));
      legend.appendChild(item);
    });
    var topItem = el("span");
    var ring = el("span", "swatch square");
    ring.style.background = TOP_COLOR;
    topItem.appendChild(ring);
    topItem.appendChild(document.createTextNode("Top journal"));
    legend.appendChild(topItem);

    ["date-from", "date-to"].forEach(function (id) {
      var input = $(id);
      if (META.date_min) { input.min = META.date_min; input.max = META.date_max; }
      input.value = id === "date-from" ? (META.date_min || "") : (META.date_max || "");
      input.addEventListener("change", applyFilters);
      input.addEventListener("input", applyFilters);
    });
    $("reset").addEventListener("click", function () {
      KINDS.forEach(function (k) { kindOn[k] = true; });
      Array.prototype.forEach.call(box.querySelectorAll("input"), function (cb) { cb.checked = true; });
      $("date-from").value = META.date_min || "";
      $("date-to").value = META.date_max || "";
      applyFilters();
    });

    var top = META.top_journals, ul = $("top-journals");
    if (top.names.length) {
      $("top-hint").textContent = "Mentioning the most distinct drugs (" + fmt(top.count) + "):";
      top.names.forEach(function (name) {
        var idx = byId["journal:" + name];
        var li = el("li");
        li.appendChild(el("span", "star", "★"));
        li.appendChild(el("span", null, name));
        if (idx !== undefined) li.addEventListener("click", function () { select(idx, true); });
        ul.appendChild(li);
      });
    } else {
      $("top-hint").textContent = "No journal mentions a drug.";
    }

    var red = META.reduced;
    if (red) {
      var msg = "Large graph: " + fmt(red.total_nodes) + " nodes, more than this page draws (" +
        fmt(red.max_nodes) + "). Shown: ";
      var bits = [];
      bits.push(red.shown_drugs === red.total_drugs ? "all " + fmt(red.total_drugs) + " drugs" :
        fmt(red.shown_drugs) + " of " + fmt(red.total_drugs) + " drugs (most mentioned)");
      bits.push(red.shown_journals === red.total_journals ? "all " + fmt(red.total_journals) + " journals" :
        fmt(red.shown_journals) + " of " + fmt(red.total_journals) + " journals (most drugs)");
      bits.push("a sample of " + fmt(red.shown_publications) + " of " + fmt(red.total_publications) +
        " publications (each drug's most recent first)");
      msg += bits.join(", ") + ". Counts in the details cover the whole graph.";
      var notice = $("notice");
      notice.textContent = msg;
      notice.hidden = false;
    }

    var input = $("search");
    input.addEventListener("input", function () { search(input.value); });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && results.length) { select(results[0], true); }
      if (ev.key === "Escape") { input.value = ""; search(""); }
    });

    function zoomAt(f, sx, sy) {
      var k = Math.max(0.02, Math.min(24, view.k * f));
      f = k / view.k;
      view = { k: k, tx: sx - (sx - view.tx) * f, ty: sy - (sy - view.ty) * f };
      draw();
    }
    $("zoom-in").addEventListener("click", function () { zoomAt(1.4, W / 2, H / 2); });
    $("zoom-out").addEventListener("click", function () { zoomAt(1 / 1.4, W / 2, H / 2); });
    $("fit").addEventListener("click", function () { fit(); draw(); });
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var b = canvas.getBoundingClientRect();
      zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - b.left, ev.clientY - b.top);
    }, { passive: false });

    var down = null;
    canvas.addEventListener("pointerdown", function (ev) {
      down = { x: ev.clientX, y: ev.clientY, tx: view.tx, ty: view.ty, moved: false };
      canvas.setPointerCapture(ev.pointerId);
    });
    canvas.addEventListener("pointermove", function (ev) {
      var b = canvas.getBoundingClientRect();
      if (down) {
        var dx = ev.clientX - down.x, dy = ev.clientY - down.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) down.moved = true;
        if (down.moved) {
          canvas.classList.add("dragging");
          view.tx = down.tx + dx; view.ty = down.ty + dy;
          draw();
        }
        return;
      }
      var h = pick(ev.clientX - b.left, ev.clientY - b.top);
      var tip = $("tooltip");
      if (h !== hovered) { hovered = h; draw(); }
      if (h >= 0) {
        var n = nodes[h];
        tip.textContent = (n.label || n.id) + (n.date ? " · " + n.date : "");
        tip.style.left = Math.min(ev.clientX - b.left + 14, W - 330) + "px";
        tip.style.top = (ev.clientY - b.top + 14) + "px";
        tip.hidden = false;
      } else {
        tip.hidden = true;
      }
    });
    canvas.addEventListener("pointerup", function (ev) {
      var b = canvas.getBoundingClientRect();
      if (down && !down.moved) select(pick(ev.clientX - b.left, ev.clientY - b.top), false);
      down = null;
      canvas.classList.remove("dragging");
    });
    canvas.addEventListener("pointerleave", function () {
      $("tooltip").hidden = true;
      if (hovered >= 0) { hovered = -1; draw(); }
    });
  }

  /* ---------- start ---------- */
  buildControls();
  for (var v = 0; v < N; v++) visible[v] = 1;
  for (var w = 0; w < edges.length; w++) edgeVisible[w] = 1;
  if (window.ResizeObserver) new ResizeObserver(function () { resize(); }).observe(canvas);
  window.addEventListener("resize", resize);
  resize();
  applyFilters();
  runLayout(function () {
    ready = true;
    fit();
    updateCounts();
    draw();
    document.body.setAttribute("data-ready", "true");
  });

  // A small read-only handle for tests and for the console.
  window.graphView = {
    isReady: function () { return ready; },
    nodeIndex: function (id) { return byId[id] === undefined ? -1 : byId[id]; },
    screenPosition: function (id) {
      var i = byId[id];
      if (i === undefined) return null;
      var p = toScreen(nodes[i]), b = canvas.getBoundingClientRect();
      return { x: b.left + p.x, y: b.top + p.y, visible: !!visible[i] };
    },
    visibleCounts: counts,
    selected: function () { return selected < 0 ? null : nodes[selected].id; },
    timing: function () { return timing; },
    positions: function () { return nodes.map(function (n) { return [n.id, n.x, n.y]; }); }
  };
})();
