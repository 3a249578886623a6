/* app.js — the cairn trace browser: a list of the ask traces (filters,
 * sorting, paging, JSONL export) and one trace's view (answer with
 * citations, the cited span in its chunk, retrieval lanes, the subgraph as
 * SVG, latency, checks, settings, chain verification).
 *
 * Rules this file keeps: every piece of text from the server (documents,
 * questions, answers, entity labels, ...) goes into the page through
 * textContent, text nodes or attribute values set with setAttribute on
 * non-event attributes; never innerHTML. No inline handlers; the page's CSP
 * allows only this file. The API key, when given, is kept in sessionStorage
 * and sent as "Authorization: Bearer <key>". */
'use strict';

(function () {
  const SVGNS = 'http://www.w3.org/2000/svg';
  const KEY = 'cairn.apikey';
  const $ = (id) => document.getElementById(id);

  /* ------------------------------------------------------------ DOM helpers */

  /* el('div', {class: 'x', title: '...'}, child, 'text', ...): children that
   * are strings become text nodes; null/undefined children are skipped. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, ...children);
    return e;
  }
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, ...children);
    return e;
  }
  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (/^on/i.test(k)) throw new Error('event attributes are not allowed: ' + k);
      e.setAttribute(k, String(v));
    }
  }
  function append(e, ...cs) {
    for (const c of cs) {
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c)) { append(e, ...c); continue; }
      e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function fmt(n, d) {
    if (typeof n !== 'number') return n === undefined || n === null ? '—' : String(n);
    return d === undefined ? String(n) : n.toFixed(d);
  }
  /* a definition list from [[term, value], ...]; a value may be a node */
  function kv(pairs, cls) {
    const dl = el('dl', {class: 'kv ' + (cls || '')});
    for (const [k, v] of pairs) {
      append(dl, el('dt', null, k));
      append(dl, el('dd', null, v === undefined || v === null ? '—'
        : (typeof v === 'object' && !(v instanceof Node)) ? JSON.stringify(v) : v));
    }
    return dl;
  }
  function badge(text, kind) { return el('span', {class: 'badge ' + kind}, text); }

  /* ------------------------------------------------------------ API */

  function apiKey() { try { return sessionStorage.getItem(KEY) || ''; } catch (e) { return ''; } }

  async function api(path, raw) {
    const headers = {Accept: raw ? '*/*' : 'application/json'};
    const key = apiKey();
    if (key) headers.Authorization = 'Bearer ' + key;
    const r = await fetch(path, {headers, credentials: 'omit', cache: 'no-store'});
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try { const j = await r.json(); if (j && j.error) msg = j.error.message + ' (' + j.error.code + ')'; } catch (e) { /* not JSON */ }
      if (r.status === 401 || r.status === 403)
        msg += ' — enter an API key with the auditor role above';
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return raw ? r.blob() : r.json();
  }

  function showError(e) {
    const p = $('error');
    if (!e) { p.hidden = true; clear(p); return; }
    p.textContent = String(e.message || e);
    p.hidden = false;
  }

  async function download(path, name) {
    try {
      const blob = await api(path, true);
      const url = URL.createObjectURL(blob);
      const a = el('a', {href: url, download: name});
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { showError(e); }
  }

  /* ------------------------------------------------------------ chain */

  async function loadChain() {
    const b = $('chain');
    try {
      const v = await api('/v1/traces/verify');
      b.textContent = v.ok ? 'chain: intact (' + v.checked + ')' : 'chain: BROKEN';
      b.className = 'badge ' + (v.ok ? 'ok' : 'bad');
      b.title = v.message || '';
    } catch (e) {
      b.textContent = 'chain: ?';
      b.className = 'badge';
      b.title = String(e.message || e);
    }
  }

  /* ------------------------------------------------------------ list */

  const list = {sort: 'time', order: 'desc', offset: 0, limit: 50, filters: {}};

  function readFilters() {
    const f = {};
    const toUtc = (v) => {   /* datetime-local (the viewer's time) -> UTC minutes */
      if (!v) return '';
      const d = new Date(v);
      return isNaN(d) ? '' : d.toISOString().slice(0, 16);
    };
    f.from = toUtc($('f-from').value);
    f.to = toUtc($('f-to').value);
    f.caller = $('f-caller').value.trim();
    f.q = $('f-q').value.trim();
    f.status = $('f-status').value;
    list.limit = parseInt($('f-limit').value, 10) || 50;
    list.filters = f;
  }

  function filterQuery() {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(list.filters)) if (v) p.set(k, v);
    return p;
  }

  /* Each load is numbered; a response that comes back after a later load
   * started is dropped, so a slow answer never repaints over a newer one
   * (a sort clicked while a filter reset is still loading, say). */
  let listSeq = 0, traceSeq = 0;

  async function loadList() {
    const my = ++listSeq;
    const p = filterQuery();
    p.set('sort', list.sort);
    p.set('order', list.order);
    p.set('limit', String(list.limit));
    p.set('offset', String(list.offset));
    let res;
    try {
      res = await api('/v1/traces?' + p.toString());
      if (my !== listSeq) return;
      showError(null);
    } catch (e) { if (my === listSeq) showError(e); return; }
    const tbody = clear($('trace-list').tBodies[0]);
    for (const t of res.traces) {
      const link = el('a', {href: '#/trace/' + encodeURIComponent(t.id), class: 'trace-link',
                            'data-trace': t.id}, t.question || '(empty)');
      const answer = t.abstained ? badge('abstained', 'warn')
        : el('span', {class: 'muted'}, t.citations + ' citation' + (t.citations === 1 ? '' : 's'));
      const checks = t.checks_ok === null ? badge('?', '') : t.checks_ok ? badge('ok', 'ok') : badge('failed', 'bad');
      const chain = badge(t.verification, t.verification === 'ok' ? 'ok' : 'bad');
      append(tbody, el('tr', {'data-trace': t.id},
        el('td', {class: 'nowrap'}, t.created_at), el('td', null, t.caller),
        el('td', null, link, el('div', {class: 'id muted'}, t.id)),
        el('td', {title: t.answer || ''}, answer), el('td', null, checks), el('td', null, chain)));
    }
    if (!res.traces.length)
      append(tbody, el('tr', null, el('td', {colspan: 6, class: 'muted'}, 'No traces match.')));
    const first = res.count ? res.offset + 1 : 0;
    $('pageinfo').textContent = first + '–' + (res.offset + res.count) + ' of ' + res.total;
    $('prev').disabled = list.offset === 0;
    $('next').disabled = res.next_offset === undefined;
    const dl = clear($('callers'));
    for (const c of res.callers || []) append(dl, el('option', {value: c}));
    for (const b of document.querySelectorAll('button.sort')) {
      const on = b.dataset.sort === list.sort;
      b.classList.toggle('active', on);
      b.setAttribute('aria-sort', on ? (list.order === 'asc' ? 'ascending' : 'descending') : 'none');
      b.dataset.arrow = on ? (list.order === 'asc' ? '▲' : '▼') : '';
    }
  }

  /* ------------------------------------------------------------ one trace */

  let current = null;   /* {id, trace, chunkDoc: Map chunk -> document uri} */

  async function loadTrace(id) {
    const my = ++traceSeq;
    let res;
    try {
      res = await api('/v1/traces/' + encodeURIComponent(id));
      if (my !== traceSeq) return;
      showError(null);
    } catch (e) { if (my === traceSeq) showError(e); return; }
    const t = res.trace;
    current = {id: res.id, res, trace: t};
    $('t-title').textContent = 'Trace ' + res.id;
    clear($('t-cite'));
    $('s-cite').hidden = true;
    $('t-edge').hidden = true;
    renderVerification(res);
    if (!t) {   /* stored JSON no longer parses */
      clear($('t-meta'));
      $('t-question').textContent = '(the stored trace is not valid JSON)';
      for (const id2 of ['t-answer', 't-lanes', 't-graph', 't-latency', 't-checks', 't-model']) clear($(id2));
      append($('t-answer'), el('pre', {class: 'raw'}, res.raw || ''));
      return;
    }
    const meta = clear($('t-meta'));
    for (const [k, v] of [['seq', res.seq], ['created (UTC)', t.created_at], ['caller', t.caller],
                          ['KB generation', t.kb_generation]]) {
      append(meta, el('dt', null, k));
      append(meta, el('dd', null, v === undefined ? '—' : String(v)));
    }
    $('t-question').textContent = t.question;
    renderAnswer(t);
    renderLanes(t);
    renderGraph(t);
    renderLatency(t);
    renderChecks(t);
    renderModel(t);
  }

  function renderVerification(res) {
    const v = res.verification || {};
    const box = clear($('t-verify'));
    append(box, el('p', null, badge(v.status || '?', v.status === 'ok' ? 'ok' : 'bad'), ' ', v.message || ''));
    append(box, kv([['prev_hash', el('code', null, v.prev_hash || '')],
                    ['previous row', el('code', null, v.previous_row_hash || '')],
                    ['stored hash', el('code', null, v.hash || '')],
                    ['computed', el('code', null, v.computed_hash || '')]], 'hashes'));
  }

  function renderAnswer(t) {
    const box = clear($('t-answer'));
    const a = t.answer || {};
    if (a.abstained) append(box, el('p', null, badge('abstained', 'warn')));
    const sents = a.sentences || [];
    if (!sents.length) { append(box, el('p', {class: 'answer'}, a.text || '')); return; }
    const p = el('p', {class: 'answer'});
    sents.forEach((s, i) => {
      append(p, el('span', {class: 'sentence'}, s.text));
      append(p, ' ');
      append(p, el('button', {type: 'button', class: 'cite', 'data-sentence': i,
                              title: s.document + ' · chunk ' + s.chunk + ' · chars ' + s.start_char + '–' + s.end_char},
                   '[' + s.citation + ']'));
      append(p, ' ');
    });
    append(box, p);
    const ul = el('ul', {class: 'sources'}), seen = new Set();
    for (const s of sents) {   /* one citation id per chunk */
      if (seen.has(s.citation)) continue;
      seen.add(s.citation);
      append(ul, el('li', null, '[' + s.citation + '] ', el('code', null, s.document), ' · chunk ' + s.chunk));
    }
    append(box, ul);
  }

  /* Shows chunk `chunkId` with the document-char span [start, end)
   * highlighted (start < 0: no highlight). Offsets are Unicode code points;
   * JS strings are UTF-16, so the text is split into code points first. */
  async function showChunk(chunkId, start, end, title, expect) {
    const sec = $('s-cite');
    const box = clear($('t-cite'));
    $('cite-title').textContent = title;
    sec.hidden = false;
    let c;
    try { c = await api('/v1/chunks/' + encodeURIComponent(chunkId)); }
    catch (e) {
      append(box, el('p', {class: 'error'}, String(e.message || e)));
      if (expect) append(box, el('p', null, 'Quoted in the trace: ', el('q', null, expect)));
      sec.scrollIntoView({block: 'nearest'});
      return;
    }
    const cps = Array.from(c.text || '');
    const pre = el('pre', {class: 'chunk'});
    let note = null;
    if (start >= 0) {
      const a = start - c.start_char, b = end - c.start_char;
      if (a < 0 || b > cps.length || a > b) {
        note = el('p', {class: 'error'}, 'The span ' + start + '–' + end + ' is outside this chunk (' +
                  c.start_char + '–' + c.end_char + ').');
        append(pre, c.text);
      } else {
        const span = cps.slice(a, b).join('');
        append(pre, cps.slice(0, a).join(''), el('mark', {id: 'cited-span'}, span), cps.slice(b).join(''));
        if (expect && span !== expect)
          note = el('p', {class: 'error'}, 'The text at these offsets differs from the sentence quoted in the trace.');
      }
    } else append(pre, c.text);
    const d = c.document || {};
    append(box, kv([
      ['document', el('code', null, d.uri)], ['title', d.title], ['version', d.version],
      ['document sha256', el('code', null, d.sha256)], ['format', d.format], ['ingested (UTC)', d.ingested_at],
      ['chunk', c.id + ' (#' + c.ordinal + (c.section ? ', ' + c.section : '') + ')'],
      ['chunk chars', c.start_char + '–' + c.end_char], ['chunk sha256', el('code', null, c.sha256)],
      ['span', start >= 0 ? start + '–' + end + ' (code points in the document)' : '—'],
    ]));
    if (d.meta && typeof d.meta === 'object' && Object.keys(d.meta).length)
      append(box, el('h4', null, 'Metadata'), kv(Object.entries(d.meta)));
    append(box, note, pre);
    const m = $('cited-span');
    (m || sec).scrollIntoView({block: 'center'});
  }

  function renderLanes(t) {
    const box = clear($('t-lanes'));
    const docOf = new Map();
    for (const f of t.fused || []) docOf.set(f.chunk, f.document);
    const k = (t.settings && t.settings.k) || 0;
    const cited = new Set(((t.answer || {}).sentences || []).map((s) => s.chunk));
    const chunkCell = (ch) => el('td', null,
      el('button', {type: 'button', class: 'chunk-link' + (cited.has(ch) ? ' cited' : ''), 'data-chunk': ch,
                    title: docOf.get(ch) || ''}, String(ch)));
    const lanes = t.lanes || {};
    for (const name of Object.keys(lanes)) {
      const tb = el('tbody');
      for (const h of lanes[name])
        append(tb, el('tr', null, el('td', null, h.rank), chunkCell(h.chunk), el('td', {class: 'num'}, fmt(h.score, 4))));
      append(box, el('div', {class: 'lane'}, el('h4', null, name + ' (' + lanes[name].length + ')'),
        el('table', null, el('thead', null, el('tr', null, el('th', null, 'rank'), el('th', null, 'chunk'), el('th', null, 'score'))), tb)));
    }
    const names = Object.keys(lanes);
    const tb = el('tbody');
    for (const f of t.fused || []) {
      const tr = el('tr', {class: f.rank <= k ? 'evidence' : ''},
        el('td', null, f.rank), chunkCell(f.chunk), el('td', {class: 'num'}, fmt(f.score, 5)),
        names.map((n) => el('td', {class: 'num'}, f.rrf && f.rrf[n] !== undefined ? fmt(f.rrf[n], 5) : '—')),
        el('td', {class: 'doc'}, f.document));
      append(tb, tr);
    }
    append(box, el('div', {class: 'lane fused'},
      el('h4', null, 'fused (RRF, k = ' + fmt(t.settings && t.settings.fusion_k) + '); first ' + k + ' are the evidence'),
      el('table', null, el('thead', null, el('tr', null, el('th', null, 'rank'), el('th', null, 'chunk'), el('th', null, 'score'),
        names.map((n) => el('th', null, 'RRF ' + n)), el('th', null, 'document'))), tb)));
    if (t.vector_lane_note) append(box, el('p', {class: 'muted'}, 'vector lane: ' + t.vector_lane_note));
  }

  /* ------------------------------------------------------------ subgraph */

  /* Fruchterman–Reingold from a circle (deterministic), then fitted to the
   * box. Fine for the few dozen entities a trace's subgraph keeps. */
  function layout(nodes, edges, W, H) {
    const n = nodes.length;
    nodes.forEach((v, i) => {
      const a = 2 * Math.PI * i / Math.max(n, 1);
      v.x = W / 2 + (W / 3) * Math.cos(a);
      v.y = H / 2 + (H / 3) * Math.sin(a);
    });
    if (n < 2) return;
    const kk = Math.sqrt(W * H / n) * 0.6;
    let temp = W / 8;
    for (let it = 0; it < 300; it++) {
      for (const v of nodes) { v.dx = 0; v.dy = 0; }
      for (let i = 0; i < n; i++)
        for (let j = i + 1; j < n; j++) {
          const a = nodes[i], b = nodes[j];
          let dx = a.x - b.x, dy = a.y - b.y;
          let d = Math.hypot(dx, dy);
          if (d < 0.01) { dx = 0.01 * (i - j); dy = 0.01; d = Math.hypot(dx, dy); }
          if (d > 3 * kk) continue;   /* far apart: no push, so islands stay near */
          const f = kk * kk / d;
          a.dx += dx / d * f; a.dy += dy / d * f;
          b.dx -= dx / d * f; b.dy -= dy / d * f;
        }
      for (const e of edges) {
        const a = e.s, b = e.o;
        if (a === b) continue;
        const dx = a.x - b.x, dy = a.y - b.y, d = Math.max(Math.hypot(dx, dy), 0.01);
        const f = d * d / kk;
        a.dx -= dx / d * f; a.dy -= dy / d * f;
        b.dx += dx / d * f; b.dy += dy / d * f;
      }
      for (const v of nodes) {   /* a weak pull to the centre keeps islands in view */
        v.dx += (W / 2 - v.x) * 0.06;
        v.dy += (H / 2 - v.y) * 0.06;
        const d = Math.max(Math.hypot(v.dx, v.dy), 0.01);
        v.x += v.dx / d * Math.min(d, temp);
        v.y += v.dy / d * Math.min(d, temp);
      }
      temp = Math.max(temp * 0.985, 0.5);
    }
    const pad = 70;
    const xs = nodes.map((v) => v.x), ys = nodes.map((v) => v.y);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const sx = (W - 2 * pad) / Math.max(x1 - x0, 1), sy = (H - 2 * pad) / Math.max(y1 - y0, 1);
    for (const v of nodes) { v.x = pad + (v.x - x0) * sx; v.y = pad + (v.y - y0) * sy; }
  }

  function renderGraph(t) {
    const box = clear($('t-graph'));
    const g = t.graph || {seeds: [], triples: []};
    const triples = g.triples || [];
    if (!triples.length) { append(box, el('p', {class: 'muted'}, 'No triples around this question.')); return; }
    const seeds = new Set((g.seeds || []).map((s) => s.entity));
    const byId = new Map();
    const node = (id, label) => {
      if (!byId.has(id)) byId.set(id, {id, label, seed: seeds.has(id)});
      return byId.get(id);
    };
    const edges = triples.map((tr, i) => ({i, tr, s: node(tr.subject_id, tr.subject), o: node(tr.object_id, tr.object)}));
    const nodes = Array.from(byId.values());
    const W = 1200, H = Math.max(420, Math.min(1000, 200 + nodes.length * 12));
    layout(nodes, edges, W, H);
    /* parallel edges between one pair bend apart */
    const pairCount = new Map();
    for (const e of edges) {
      const key = Math.min(e.s.id, e.o.id) + ':' + Math.max(e.s.id, e.o.id);
      const n = pairCount.get(key) || 0;
      pairCount.set(key, n + 1);
      e.bend = n === 0 ? 0 : (n % 2 ? 1 : -1) * Math.ceil(n / 2) * 28;
    }
    const root = svg('svg', {id: 'graph', viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img',
                             'aria-label': 'subgraph: ' + nodes.length + ' entities, ' + edges.length + ' triples'});
    append(root, svg('defs', null,
      svg('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
        svg('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead'}))));
    const gEdges = svg('g', {class: 'edges'}), gNodes = svg('g', {class: 'nodes'});
    for (const e of edges) {
      const r = 7;
      const dx = e.o.x - e.s.x, dy = e.o.y - e.s.y, d = Math.max(Math.hypot(dx, dy), 1);
      const x1 = e.s.x + dx / d * r, y1 = e.s.y + dy / d * r, x2 = e.o.x - dx / d * (r + 2), y2 = e.o.y - dy / d * (r + 2);
      const mx = (x1 + x2) / 2 - dy / d * e.bend, my = (y1 + y2) / 2 + dx / d * e.bend;
      const path = e.s === e.o
        ? 'M' + e.s.x + ',' + (e.s.y - r) + ' c-30,-40 30,-40 0,0'
        : 'M' + x1.toFixed(1) + ',' + y1.toFixed(1) + ' Q' + mx.toFixed(1) + ',' + my.toFixed(1) + ' ' + x2.toFixed(1) + ',' + y2.toFixed(1);
      const status = e.tr.status === 'confirmed' ? 'confirmed' : 'inferred';
      const grp = svg('g', {class: 'edge ' + status, 'data-edge': e.i, tabindex: 0});
      append(grp, svg('path', {d: path, class: 'line', 'marker-end': 'url(#arrow)'}));
      append(grp, svg('path', {d: path, class: 'hit'}));
      const lx = e.s === e.o ? e.s.x : (x1 + 2 * mx + x2) / 4, ly = e.s === e.o ? e.s.y - 36 : (y1 + 2 * my + y2) / 4;
      append(grp, svg('text', {x: lx.toFixed(1), y: (ly - 3).toFixed(1), class: 'elabel'}, e.tr.predicate));
      append(grp, svg('title', null, e.tr.subject + ' —' + e.tr.predicate + '→ ' + e.tr.object + ' (' + status + ')'));
      append(gEdges, grp);
    }
    for (const v of nodes) {
      append(gNodes, svg('g', {class: 'node' + (v.seed ? ' seed' : ''), transform: 'translate(' + v.x.toFixed(1) + ',' + v.y.toFixed(1) + ')'},
        svg('circle', {r: 7}), svg('text', {x: 10, y: 4}, v.label), svg('title', null, v.label + ' (entity ' + v.id + ')')));
    }
    append(root, gEdges, gNodes);
    append(box, root);
    append(box, el('p', {class: 'muted'}, nodes.length + ' entities, ' + edges.length + ' triples (' +
      edges.filter((e) => e.tr.status === 'confirmed').length + ' confirmed), ' + seeds.size + ' seeds'));
  }

  function showEdge(i) {
    const tr = current && current.trace && current.trace.graph.triples[i];
    if (!tr) return;
    for (const g of document.querySelectorAll('#graph g.edge')) g.classList.toggle('selected', g.dataset.edge === String(i));
    const box = clear($('t-edge'));
    box.hidden = false;
    append(box, el('h4', null, tr.subject + ' —' + tr.predicate + '→ ' + tr.object));
    append(box, kv([['status', badge(tr.status, tr.status === 'confirmed' ? 'ok' : 'warn')],
                    ['confidence', fmt(tr.confidence, 2)], ['support (chunks)', tr.support],
                    ['hops from the seeds', tr.hops], ['score', fmt(tr.score, 3)]]));
    const tb = el('tbody');
    (tr.provenance || []).forEach((p, j) => {
      append(tb, el('tr', null, el('td', null, el('code', null, p.document)), el('td', null, p.chunk),
        el('td', null, p.start_char + '–' + p.end_char), el('td', null, p.pattern), el('td', null, p.extractor),
        el('td', {class: 'num'}, fmt(p.confidence, 2)), el('td', null, p.status),
        el('td', null, el('button', {type: 'button', class: 'prov', 'data-edge': i, 'data-prov': j}, 'show span'))));
    });
    append(box, el('table', {class: 'prov'}, el('thead', null, el('tr', null,
      ['document', 'chunk', 'chars', 'pattern', 'extractor', 'confidence', 'status', ''].map((h) => el('th', null, h)))), tb));
  }

  /* ------------------------------------------------------------ the rest */

  function renderLatency(t) {
    const box = clear($('t-latency'));
    const lat = t.latency_ms || {};
    const entries = Object.entries(lat).filter(([, v]) => typeof v === 'number');
    const max = Math.max(...entries.map(([, v]) => v), 0.001);
    const total = entries.reduce((s, [, v]) => s + v, 0);
    for (const [k, v] of entries) {
      const bar = el('div', {class: 'bar'});
      bar.style.width = Math.max(0.5, 100 * v / max).toFixed(1) + '%';   /* CSSOM, allowed by the CSP */
      append(box, el('div', {class: 'latrow'}, el('span', {class: 'latname'}, k),
        el('span', {class: 'bartrack'}, bar), el('span', {class: 'num latval'}, fmt(v, 3) + ' ms')));
    }
    append(box, el('p', {class: 'muted'}, 'total ' + fmt(total, 3) + ' ms'));
  }

  function renderChecks(t) {
    const c = t.checks || {};
    const a = t.answer || {};
    const box = clear($('t-checks'));
    append(box, el('p', null, c.ok ? badge('all checks passed', 'ok') : badge('checks failed', 'bad')));
    append(box, kv([
      ['citations naming no evidence chunk', c.citations_invalid],
      ['sentences without a citation', c.sentences_uncited],
      ['numbers not in the cited chunk', (c.numbers_unsupported || []).length ? (c.numbers_unsupported || []).join(', ') : 'none'],
      ['abstained', a.abstained ? 'yes: the evidence was too thin' : 'no'],
    ]));
  }

  function renderModel(t) {
    const box = clear($('t-model'));
    const s = t.settings || {};
    const pairs = [['generator', s.generator === 'extractive'
      ? 'extractive (quotes evidence sentences; no language model)' : s.generator]];
    if (t.model && typeof t.model === 'object') for (const [k, v] of Object.entries(t.model)) pairs.push(['model ' + k, v]);
    else pairs.push(['model', s.generator === 'extractive' ? 'none' : '— (not recorded)']);
    for (const [k, v] of Object.entries(s)) if (k !== 'generator') pairs.push([k, v]);
    append(box, kv(pairs));
    if ((t.terms || []).length) {
      const tb = el('tbody');
      for (const x of t.terms)
        append(tb, el('tr', null, el('td', null, x.term), el('td', {class: 'num'}, x.sentences), el('td', {class: 'num'}, fmt(x.weight, 3))));
      append(box, el('h4', null, 'Question terms'), el('table', {class: 'terms'},
        el('thead', null, el('tr', null, el('th', null, 'term'), el('th', null, 'sentences with it'), el('th', null, 'weight'))), tb));
    }
  }

  /* ------------------------------------------------------------ routing */

  function route() {
    const h = location.hash || '#/';
    const m = /^#\/trace\/(.+)$/.exec(h);
    $('listview').hidden = !!m;
    $('traceview').hidden = !m;
    if (m) loadTrace(decodeURIComponent(m[1]));
    else loadList();
  }

  function init() {
    const keyIn = $('apikey');
    keyIn.value = apiKey();
    $('keyform').addEventListener('submit', (ev) => {
      ev.preventDefault();
      try { sessionStorage.setItem(KEY, keyIn.value.trim()); } catch (e) { /* storage off */ }
      loadChain(); route();
    });
    $('keyclear').addEventListener('click', () => {
      try { sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
      keyIn.value = '';
      loadChain(); route();
    });
    $('filters').addEventListener('submit', (ev) => {
      ev.preventDefault(); readFilters(); list.offset = 0; loadList();
    });
    $('f-reset').addEventListener('click', () => {
      $('filters').reset(); readFilters(); list.offset = 0; loadList();
    });
    $('export-jsonl').addEventListener('click', () => {
      readFilters();
      download('/v1/traces/export?' + filterQuery().toString(), 'traces.jsonl');
    });
    $('prev').addEventListener('click', () => { list.offset = Math.max(0, list.offset - list.limit); loadList(); });
    $('next').addEventListener('click', () => { list.offset += list.limit; loadList(); });
    for (const b of document.querySelectorAll('button.sort'))
      b.addEventListener('click', () => {
        if (list.sort === b.dataset.sort) list.order = list.order === 'asc' ? 'desc' : 'asc';
        else { list.sort = b.dataset.sort; list.order = b.dataset.sort === 'time' ? 'desc' : 'asc'; }
        list.offset = 0; loadList();
      });
    $('export-json').addEventListener('click', () => {
      if (current) download('/v1/traces/' + encodeURIComponent(current.id) + '/raw', current.id + '.json');
    });
    $('print').addEventListener('click', () => window.print());
    /* delegated clicks inside the trace view */
    $('traceview').addEventListener('click', (ev) => {
      const t = current && current.trace;
      if (!t) return;
      const cite = ev.target.closest('button.cite');
      if (cite) {
        const s = t.answer.sentences[parseInt(cite.dataset.sentence, 10)];
        for (const b of document.querySelectorAll('button.cite')) b.classList.toggle('active', b === cite);
        showChunk(s.chunk, s.start_char, s.end_char, 'Citation [' + s.citation + '] · ' + s.document, s.text);
        return;
      }
      const ch = ev.target.closest('button.chunk-link');
      if (ch) { showChunk(ch.dataset.chunk, -1, -1, 'Chunk ' + ch.dataset.chunk); return; }
      const prov = ev.target.closest('button.prov');
      if (prov) {
        const p = t.graph.triples[+prov.dataset.edge].provenance[+prov.dataset.prov];
        showChunk(p.chunk, p.start_char, p.end_char, 'Provenance · ' + p.document);
        return;
      }
      const edge = ev.target.closest('g.edge');
      if (edge) showEdge(parseInt(edge.dataset.edge, 10));
    });
    $('traceview').addEventListener('keydown', (ev) => {
      const edge = ev.target.closest && ev.target.closest('g.edge');
      if (edge && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); showEdge(parseInt(edge.dataset.edge, 10)); }
    });
    window.addEventListener('hashchange', route);
    readFilters();
    loadChain();
    route();
  }

  document.addEventListener('DOMContentLoaded', init);
})();
