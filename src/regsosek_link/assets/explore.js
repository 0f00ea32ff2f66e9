/* regsosek_link explorer: search a person or a record, see its records side by side, its
   links with their per-comparison weights, and its cluster graph. Plain JavaScript, no
   network: the data is the JSON in #explorer-data (see regsosek_link.explore). Every value
   from the data goes into the page as text (textContent), never as markup. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var M = D.meta, F = D.fields;
  var REC_SOURCE = 0, REC_ID = 1, REC_PERSON = 2, REC_VALUES = 3;
  var L_LEFT = 0, L_RIGHT = 1, L_PROB = 2, L_WEIGHT = 3, L_STATUS = 4, L_REASON = 5, L_LEVELS = 6, L_WEIGHTS = 7;
  var STATUS_TEXT = {merged: "merged", held: "held back for review", apart: "kept apart",
                     review: "review band"};
  var PALETTE = ["#4e79a7", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
                 "#e15759", "#bab0ac"];
  var MAX_HITS = 100;
  // the SVG namespace, from an element the HTML parser made (no address written here)
  var probe = document.createElement("div");
  probe.innerHTML = "<svg></svg>";
  var SVG_NS = probe.firstChild.namespaceURI;

  // ---- indexes
  var personById = new Map(), recordByKey = new Map(), recordsById = new Map();
  var recordsOf = D.persons.map(function () { return []; });
  var linksOf = D.records.map(function () { return []; });
  D.persons.forEach(function (p, i) { personById.set(p[0], i); });
  D.records.forEach(function (r, i) {
    recordsOf[r[REC_PERSON]].push(i);
    recordByKey.set(label(i), i);
    if (!recordsById.has(r[REC_ID])) { recordsById.set(r[REC_ID], []); }
    recordsById.get(r[REC_ID]).push(i);
  });
  D.links.forEach(function (l, i) {
    linksOf[l[L_LEFT]].push(i);
    if (l[L_RIGHT] !== l[L_LEFT]) { linksOf[l[L_RIGHT]].push(i); }
  });
  var NAME = F.indexOf("nama");
  var weightAt = {};
  D.weights.forEach(function (w, i) { weightAt[w] = i; });

  function label(r) { var x = D.records[r]; return D.sources[x[REC_SOURCE]] + ":" + x[REC_ID]; }
  function nameOf(r) { return NAME >= 0 ? (D.records[r][REC_VALUES][NAME] || "") : ""; }
  function $(id) { return document.getElementById(id); }
  function fmt(x, digits) { return x === null || x === undefined ? "" : Number(x).toFixed(digits); }
  function prob(p) { return p >= 0.99995 && p < 1 ? p.toFixed(6) : p.toFixed(4); }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; } else if (k === "on") {
        Object.keys(attrs.on).forEach(function (ev) { e.addEventListener(ev, attrs.on[ev]); });
      } else { e.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function sv(tag, attrs) {
    var e = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function personButton(pi) {
    return el("button", {"class": "person", text: D.persons[pi][0], on: {click: function () { showPerson(pi); }}});
  }

  // ---- the page's header
  (function about() {
    var c = M.chosen;
    $("about").textContent = "Written " + M.written + " by regsosek_link " + M.version + "; threshold " +
      M.threshold + ", review band from " + M.review_low + ". This page holds " +
      M.persons_embedded.toLocaleString("en") + " of the run's " + M.persons_total.toLocaleString("en") +
      " persons (at most " + M.max_persons.toLocaleString("en") + ", config report_explorer_persons): " +
      c["review"] + " touched by a near-threshold or held-back link, " + c["conflict"] +
      " with conflicting values, " + c["several records"] + " of several records, " + c["single record"] +
      " of a single record; " + D.records.length.toLocaleString("en") + " of " +
      M.records_total.toLocaleString("en") + " records and " + D.links.length.toLocaleString("en") + " of " +
      M.links_total.toLocaleString("en") + " links (the records at the other end of a shown person's links " +
      "come along).";
  })();

  // ---- search
  function find(q) {
    q = q.trim();
    if (!q) { return {exact: null, hits: []}; }
    if (personById.has(q)) { return {exact: {person: personById.get(q), record: null}, hits: []}; }
    var key = q.replace(/\s+/, ":");
    if (recordByKey.has(q) || recordByKey.has(key)) {
      var r = recordByKey.has(q) ? recordByKey.get(q) : recordByKey.get(key);
      return {exact: {person: D.records[r][REC_PERSON], record: r}, hits: []};
    }
    if (recordsById.has(q) && recordsById.get(q).length === 1) {
      var only = recordsById.get(q)[0];
      return {exact: {person: D.records[only][REC_PERSON], record: only}, hits: []};
    }
    var up = q.toUpperCase(), hits = [];
    (recordsById.get(q) || []).forEach(function (r) { hits.push(r); });
    for (var i = 0; i < D.records.length && hits.length < MAX_HITS; i++) {
      var pid = D.persons[D.records[i][REC_PERSON]][0];
      if (hits.indexOf(i) < 0 && (nameOf(i).indexOf(up) >= 0 || pid.toUpperCase().indexOf(up) === 0)) {
        hits.push(i);
      }
    }
    return {exact: null, hits: hits};
  }

  function showHits(hits) {
    var ul = $("results");
    ul.textContent = "";
    hits.forEach(function (r) {
      var pi = D.records[r][REC_PERSON];
      ul.appendChild(el("li", {"class": "result", "data-record": String(r),
                               on: {click: function () { showPerson(pi, r); }}},
        [nameOf(r) || "(no name)", " \u2014 " + label(r) + " \u2014 person " + D.persons[pi][0]]));
    });
    $("count").textContent = hits.length ? hits.length + (hits.length >= MAX_HITS ? "+" : "") + " records" : "";
  }

  function onSearch(enter) {
    var q = $("search").value, res = find(q);
    if (res.exact) { showHits([]); showPerson(res.exact.person, res.exact.record); return; }
    showHits(res.hits);
    $("count").textContent = q.trim() && !res.hits.length ? "nothing found on this page" : $("count").textContent;
    if (enter && res.hits.length) { showPerson(D.records[res.hits[0]][REC_PERSON], res.hits[0]); }
  }
  $("search").addEventListener("input", function () { onSearch(false); });
  $("search").addEventListener("keydown", function (ev) { if (ev.key === "Enter") { onSearch(true); } });

  // ---- the start view: persons worth a look
  function showStart() {
    var view = $("view");
    view.textContent = "";
    [["review", "Persons touched by a near-threshold or held-back link"],
     ["conflict", "Persons with conflicting values"],
     ["several records", "Persons of several records"]].forEach(function (g) {
      var pis = [];
      for (var i = 0; i < D.persons.length && pis.length < 30; i++) {
        if (D.persons[i][2] && D.persons[i][3] === g[0]) { pis.push(i); }
      }
      if (!pis.length) { return; }
      view.appendChild(el("h2", {text: g[1]}));
      var p = el("p");
      pis.forEach(function (pi, k) { if (k) { p.appendChild(document.createTextNode(", ")); } p.appendChild(personButton(pi)); });
      view.appendChild(p);
    });
  }

  // ---- a person
  var current = {person: -1, links: []};

  function showPerson(pi, focus) {
    var P = D.persons[pi], recs = recordsOf[pi];
    var linkSet = {};
    recs.forEach(function (r) { linksOf[r].forEach(function (l) { linkSet[l] = true; }); });
    var links = Object.keys(linkSet).map(Number).sort(function (a, b) { return a - b; });
    current = {person: pi, links: links};
    try { history.replaceState(null, "", "#" + encodeURIComponent(P[0])); } catch (e) { /* (a sandboxed file) */ }
    var view = $("view");
    view.textContent = "";
    view.appendChild(el("h2", {id: "person", "data-person": P[0], text: "Person " + P[0]}));
    var sources = {};
    recs.forEach(function (r) { sources[D.sources[D.records[r][REC_SOURCE]]] = true; });
    var counts = {};
    links.forEach(function (l) { var s = D.links[l][L_STATUS]; counts[s] = (counts[s] || 0) + 1; });
    var parts = Object.keys(counts).map(function (s) { return counts[s] + " " + STATUS_TEXT[s]; });
    view.appendChild(el("p", {id: "summary", text: P[1] + " record" + (P[1] === 1 ? "" : "s") + " in the run (" +
      Object.keys(sources).sort().join(", ") + "); " + links.length + " link" + (links.length === 1 ? "" : "s") +
      (parts.length ? " (" + parts.join(", ") + ")" : "") + "." +
      (P[4].length ? " Conflicting: " + P[4].join(", ").replace(/_/g, " ") + "." : "")}));
    if (!P[2]) {
      view.appendChild(el("p", {"class": "warning", text: "This person is not one of the persons chosen for this " +
        "page: only its " + recs.length + " record(s) linked to a chosen person are here, of " + P[1] + "."}));
    }
    view.appendChild(el("h3", {text: "Records side by side"}));
    view.appendChild(el("div", {"class": "scroll"}, [recordsTable(pi, recs)]));
    view.appendChild(el("p", {"class": "note", text: "Standardised values (what the comparisons saw); a value " +
      "that differs from the most common one in its row is marked. The registry column is the person's golden " +
      "record."}));
    var graphBox = el("div"), detailBox = el("div", {id: "link-detail"});
    view.appendChild(el("div", {"class": "layout"}, [graphBox, detailBox]));
    graphBox.appendChild(el("h3", {text: "Cluster graph"}));
    graphBox.appendChild(graph(pi, recs, links));
    graphBox.appendChild(legend());
    graphBox.appendChild(el("div", {id: "record-detail"}));
    view.appendChild(el("h3", {text: "Links"}));
    view.appendChild(linksTable(pi, links));
    if (focus !== undefined && focus !== null) { focusRecord(focus); }
    if (links.length) { showLink(links[0]); }
  }

  function recordsTable(pi, recs) {
    var P = D.persons[pi], golden = P[2] && P[5].length;
    var head = el("tr", {}, [el("th", {text: "field"})]);
    recs.forEach(function (r) {
      head.appendChild(el("th", {"class": "record", "data-record": String(r), text: label(r)}));
    });
    if (golden) { head.appendChild(el("th", {"class": "golden", text: "registry"})); }
    var body = el("tbody");
    F.forEach(function (f, fi) {
      var vals = recs.map(function (r) { return D.records[r][REC_VALUES][fi]; });
      var freq = {}, mode = null, best = 0;
      vals.forEach(function (v) { if (v !== null && v !== "") { freq[v] = (freq[v] || 0) + 1; } });
      vals.forEach(function (v) { if (v !== null && v !== "" && freq[v] > best) { best = freq[v]; mode = v; } });
      var row = el("tr", {"data-field": f, "class": Object.keys(freq).length > 1 ? "varies" : ""}, [el("th", {text: f})]);
      vals.forEach(function (v, k) {
        var empty = v === null || v === "";
        row.appendChild(el("td", {"data-record": String(recs[k]),
          "class": empty ? "empty" : (v !== mode ? "diff" : ""), text: empty ? "\u2014" : v}));
      });
      if (golden) {
        var gi = D.golden_fields.indexOf(f), g = gi >= 0 ? P[5][gi] : null;
        row.appendChild(el("td", {"class": "golden", text: g === null ? "" : g}));
      }
      body.appendChild(row);
    });
    return el("table", {id: "records-table"}, [el("thead", {}, [head]), body]);
  }

  function linksTable(pi, links) {
    var head = el("tr", {}, ["left", "right", "probability", "weight", "status"].map(function (t) {
      return el("th", {text: t, "class": t === "probability" || t === "weight" ? "num" : ""});
    }));
    D.weights.forEach(function (w) { head.appendChild(el("th", {"class": "num", text: w})); });
    var body = el("tbody");
    links.forEach(function (li) {
      var L = D.links[li];
      var row = el("tr", {"class": "link", "data-link": String(li), on: {click: function () { showLink(li); }}}, [
        el("td", {text: label(L[L_LEFT]) + (D.records[L[L_LEFT]][REC_PERSON] !== pi ? " *" : "")}),
        el("td", {text: label(L[L_RIGHT]) + (D.records[L[L_RIGHT]][REC_PERSON] !== pi ? " *" : "")}),
        el("td", {"class": "num prob", text: prob(L[L_PROB])}),
        el("td", {"class": "num weight", text: fmt(L[L_WEIGHT], 2)}),
        el("td", {}, [el("span", {"class": "status " + L[L_STATUS], text: STATUS_TEXT[L[L_STATUS]]})])]);
      L[L_WEIGHTS].forEach(function (w) { row.appendChild(el("td", {"class": "num", text: fmt(w, 2)})); });
      body.appendChild(row);
    });
    var table = el("table", {id: "links-table"}, [el("thead", {}, [head]), body]);
    var box = el("div", {"class": "scroll"}, [table]);
    box.appendChild(el("p", {"class": "note", text: links.length ? "Weights in bits (log2 of m/u); * a record of " +
      "another person. Click a link for its comparisons." : "No link of this person reached the review band."}));
    return box;
  }

  function showLink(li) {
    var L = D.links[li], box = $("link-detail");
    Array.prototype.forEach.call(document.querySelectorAll(".selected"), function (e) { e.classList.remove("selected"); });
    Array.prototype.forEach.call(document.querySelectorAll("[data-link='" + li + "']"), function (e) {
      e.classList.add("selected");
    });
    box.textContent = "";
    box.setAttribute("data-link", String(li));
    box.appendChild(el("h3", {text: "Link " + label(L[L_LEFT]) + " \u2014 " + label(L[L_RIGHT])}));
    box.appendChild(el("p", {}, [el("span", {"class": "status " + L[L_STATUS], text: STATUS_TEXT[L[L_STATUS]]}),
      " match probability ", el("b", {id: "detail-probability", text: prob(L[L_PROB])}),
      ", match weight ", el("b", {id: "detail-weight", text: fmt(L[L_WEIGHT], 2)}), " bits" +
      (L[L_REASON] ? "; held back because: " + L[L_REASON] : "")]));
    var body = el("tbody");
    var vl = D.records[L[L_LEFT]][REC_VALUES], vr = D.records[L[L_RIGHT]][REC_VALUES];
    function values(v, fields) {
      return fields.map(function (f) { var x = v[F.indexOf(f)]; return x === null ? "\u2014" : x; }).join(" / ");
    }
    function row(key, name, level, left, right, w) {
      body.appendChild(el("tr", {"data-comparison": key}, [el("th", {text: name}), el("td", {text: level}),
        el("td", {text: left}), el("td", {text: right}),
        el("td", {"class": "num weight " + (w > 0 ? "pos" : w < 0 ? "neg" : ""), text: fmt(w, 2)})]));
    }
    D.comparisons.forEach(function (c, ci) {
      var lv = L[L_LEVELS][ci];
      var name = lv < 0 ? "missing" : (c.levels[lv] !== undefined ? c.levels[lv] : "level " + lv);
      var w = weightAt[c.name] !== undefined ? L[L_WEIGHTS][weightAt[c.name]] : null;
      row(c.name, c.name, lv + ": " + name, values(vl, c.fields), values(vr, c.fields), w);
      var tf = weightAt["tf_" + c.name];
      if (tf !== undefined) {
        row("tf_" + c.name, c.name + " (term frequency)", "how common the agreeing value is", "", "",
            L[L_WEIGHTS][tf]);
      }
    });
    var sum = L[L_WEIGHTS].reduce(function (a, w) { return a + (w || 0); }, 0);
    if (M.prior_weight !== null) {
      row("prior", "prior", "two records at random are one person", "", "", M.prior_weight);
    }
    body.appendChild(el("tr", {"class": "total"}, [el("th", {text: "match weight"}), el("td", {}),
      el("td", {}), el("td", {}), el("td", {"class": "num", text: fmt(L[L_WEIGHT], 2)})]));
    box.appendChild(el("table", {id: "comparisons-table"}, [el("thead", {}, [el("tr", {},
      ["comparison", "level", label(L[L_LEFT]), label(L[L_RIGHT]), "weight"].map(function (t) {
        return el("th", {text: t});
      }))]), body]));
    box.appendChild(el("p", {"class": "note", text: "The comparisons' weights" +
      (M.prior_weight !== null ? " and the prior" : "") + " add up to the match weight (" +
      fmt(sum + (M.prior_weight || 0), 2) + " bits); probability = 1 / (1 + 2^-weight)."}));
  }

  function focusRecord(r) {
    Array.prototype.forEach.call(document.querySelectorAll(".focus"), function (e) { e.classList.remove("focus"); });
    Array.prototype.forEach.call(document.querySelectorAll("[data-record='" + r + "']"), function (e) {
      if (e.tagName !== "LI") { e.classList.add("focus"); }
    });
    var box = $("record-detail");
    if (!box) { return; }
    box.textContent = "";
    var pi = D.records[r][REC_PERSON];
    var p = el("p", {}, [el("b", {text: label(r)}), " " + (nameOf(r) || "") + " \u2014 person "]);
    p.appendChild(pi === current.person ? document.createTextNode(D.persons[pi][0]) : personButton(pi));
    p.appendChild(document.createTextNode("; " + linksOf[r].length + " link(s) on this page."));
    box.appendChild(p);
  }

  // ---- the cluster graph: the person's records on a circle, the records of other persons
  // they are linked to on an outer ring, near the records they link to
  function graph(pi, recs, links) {
    var W = 640, H = 440, cx = W / 2, cy = H / 2, n = recs.length;
    var inner = {}, outer = [], pos = {}, angle = {};
    recs.forEach(function (r) { inner[r] = true; });
    links.forEach(function (li) {
      [D.links[li][L_LEFT], D.links[li][L_RIGHT]].forEach(function (r) {
        if (!inner[r] && outer.indexOf(r) < 0) { outer.push(r); }
      });
    });
    var r1 = n === 1 ? 0 : Math.min(outer.length ? 120 : 165, 30 + 22 * n);
    recs.forEach(function (r, i) {
      var a = -Math.PI / 2 + 2 * Math.PI * i / n;
      angle[r] = a;
      pos[r] = [cx + r1 * Math.cos(a), cy + r1 * Math.sin(a)];
    });
    var want = outer.map(function (r) {
      var sx = 0, sy = 0;
      linksOf[r].forEach(function (li) {
        var o = D.links[li][L_LEFT] === r ? D.links[li][L_RIGHT] : D.links[li][L_LEFT];
        if (inner[o]) { sx += Math.cos(angle[o]); sy += Math.sin(angle[o]); }
      });
      return {r: r, a: sx === 0 && sy === 0 ? 0 : Math.atan2(sy, sx)};
    }).sort(function (x, y) { return x.a - y.a || x.r - y.r; });
    var gap = 2 * Math.PI / Math.max(want.length, 10);
    want.forEach(function (w, i) { if (i && w.a < want[i - 1].a + gap) { w.a = want[i - 1].a + gap; } });
    if (want.length && want[want.length - 1].a - want[0].a > 2 * Math.PI - gap) {
      want.forEach(function (w, i) { w.a = want[0].a + gap * i; });
    }
    var r2 = Math.max(r1 + 80, 185);
    want.forEach(function (w) { pos[w.r] = [cx + r2 * Math.cos(w.a), cy + 0.92 * r2 * Math.sin(w.a)]; });
    var svg = sv("svg", {id: "graph", viewBox: "0 0 " + W + " " + H, role: "img",
                         "aria-label": "records and links of person " + D.persons[pi][0]});
    var edges = sv("g", {"class": "edges"}), nodes = sv("g", {"class": "nodes"});
    svg.appendChild(edges);
    svg.appendChild(nodes);
    links.forEach(function (li) {
      var L = D.links[li], a = pos[L[L_LEFT]], b = pos[L[L_RIGHT]];
      var width = 1.5 + 6 * Math.max(0, Math.min(1, (L[L_WEIGHT] + 5) / 40));
      var tip = label(L[L_LEFT]) + " \u2014 " + label(L[L_RIGHT]) + ": probability " + prob(L[L_PROB]) +
        ", weight " + fmt(L[L_WEIGHT], 2) + " bits (" + STATUS_TEXT[L[L_STATUS]] + ")";
      var line = sv("line", {"class": "edge " + L[L_STATUS], "data-link": String(li), x1: a[0], y1: a[1], x2: b[0],
                             y2: b[1], "stroke-width": width.toFixed(2)});
      var t = sv("title");
      t.textContent = tip;
      line.appendChild(t);
      var hit = sv("line", {"class": "hit", "data-link": String(li), x1: a[0], y1: a[1], x2: b[0], y2: b[1]});
      hit.appendChild(t.cloneNode(true));
      line.addEventListener("click", function () { showLink(li); });
      hit.addEventListener("click", function () { showLink(li); });
      edges.appendChild(line);
      edges.appendChild(hit);
    });
    recs.concat(want.map(function (w) { return w.r; })).forEach(function (r) {
      var mine = !!inner[r], p = pos[r];
      var g = sv("g", {"class": "node" + (mine ? "" : " neighbour"), "data-record": String(r),
                       transform: "translate(" + p[0].toFixed(1) + "," + p[1].toFixed(1) + ")"});
      g.appendChild(sv("circle", {r: mine ? 13 : 10, fill: PALETTE[D.records[r][REC_SOURCE] % PALETTE.length]}));
      var t1 = sv("text", {y: mine ? 27 : 23, "text-anchor": "middle"});
      t1.textContent = label(r).length > 26 ? label(r).slice(0, 25) + "\u2026" : label(r);
      var t2 = sv("text", {y: mine ? 39 : 35, "text-anchor": "middle", "class": "name"});
      t2.textContent = mine ? nameOf(r) : (nameOf(r) + " (" + D.persons[D.records[r][REC_PERSON]][0] + ")");
      var tip = sv("title");
      tip.textContent = label(r) + " " + nameOf(r);
      g.appendChild(tip);
      g.appendChild(t1);
      g.appendChild(t2);
      g.addEventListener("click", function () { focusRecord(r); });
      nodes.appendChild(g);
    });
    return svg;
  }

  function legend() {
    var box = el("div", {"class": "legend"});
    [["merged", "#1f4e79", "solid"], ["review band", "#e69500", "dashed"], ["held back / kept apart", "#c0392b", "dotted"]]
      .forEach(function (x) {
        var i = el("i");
        i.style.borderTopColor = x[1];
        i.style.borderTopStyle = x[2];
        box.appendChild(el("span", {}, [i, x[0]]));
      });
    D.sources.forEach(function (s, k) {
      var dot = el("i");
      dot.style.cssText = "width:10px;height:10px;border:none;border-radius:50%;background:" + PALETTE[k % PALETTE.length];
      box.appendChild(el("span", {}, [dot, s]));
    });
    box.appendChild(el("span", {text: "thicker: higher match weight; hollow: a record of another person"}));
    return box;
  }

  // ---- start: a person named in the address (#person_id), else the start view
  var wanted = decodeURIComponent((location.hash || "").slice(1));
  var start = wanted ? find(wanted).exact : null;
  if (start) { showPerson(start.person, start.record); } else { showStart(); }
  document.body.setAttribute("data-ready", "1");
})();
