// The memflow console: a page per URL, drawn from /api/v1 with no
// framework and no build step. Text from the server is always set as text;
// only the flow pictures (SVG the server draws with escaped labels) are
// inserted as markup.
"use strict";

const API = "/api/v1/";
const app = document.getElementById("app");
let cleanup = []; // what the current page must stop when the next one draws

// ---------- helpers ----------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function token() { return sessionStorage.getItem("memflow-token") || ""; }

class APIError extends Error {
  constructor(status, code, message, body) { super(message); this.status = status; this.code = code; this.body = body; }
}

async function api(method, path, body, type) {
  const headers = {};
  if (token()) headers.Authorization = "Bearer " + token();
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = type || "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const resp = await fetch(API + path, { method, headers, body: payload });
  const text = await resp.text();
  let data = text;
  if ((resp.headers.get("Content-Type") || "").includes("json")) {
    try { data = JSON.parse(text); } catch (e) { /* keep the text */ }
  }
  if (resp.status === 401) askToken();
  if (!resp.ok) {
    const err = data && data.error ? data.error : { code: "http_" + resp.status, message: text };
    throw new APIError(resp.status, err.code, err.message, data);
  }
  return { status: resp.status, data };
}

function askToken() {
  const box = document.getElementById("token");
  box.hidden = false;
  document.getElementById("token-input").focus();
}

document.getElementById("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("memflow-token", document.getElementById("token-input").value.trim());
  document.getElementById("token").hidden = true;
  route();
});

function flash(msg, ok) {
  const el = document.getElementById("flash");
  el.textContent = msg;
  el.className = ok ? "flash ok" : "flash";
  el.hidden = false;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => { el.hidden = true; }, ok ? 2500 : 8000);
}

function badge(status) { return h("span", { class: "badge s-" + status }, status); }

function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function ago(t) {
  const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
  if (s < 60) return Math.floor(s) + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}

function ms(a, b) {
  const d = new Date(b) - new Date(a);
  if (!(d >= 0)) return "";
  if (d < 1000) return d + " ms";
  if (d < 60000) return (d / 1000).toFixed(1) + " s";
  return Math.round(d / 60000) + " min";
}

// JSON, pretty and coloured, as text nodes.
function jsonView(v) {
  const pre = h("pre", { class: "json" });
  const walk = (v, ind) => {
    if (v === null || typeof v === "boolean") return pre.append(h("span", { class: "lit" }, String(v)));
    if (typeof v === "number") return pre.append(h("span", { class: "num" }, String(v)));
    if (typeof v === "string") return pre.append(h("span", { class: "str" }, JSON.stringify(v)));
    const arr = Array.isArray(v);
    const keys = arr ? v.map((_, i) => i) : Object.keys(v);
    if (keys.length === 0) return pre.append(arr ? "[]" : "{}");
    pre.append(arr ? "[\n" : "{\n");
    keys.forEach((k, i) => {
      pre.append(" ".repeat(ind + 2));
      if (!arr) pre.append(h("span", { class: "k" }, JSON.stringify(k)), ": ");
      walk(v[k], ind + 2);
      pre.append(i < keys.length - 1 ? ",\n" : "\n");
    });
    pre.append(" ".repeat(ind) + (arr ? "]" : "}"));
  };
  walk(v === undefined ? null : v, 0);
  return pre;
}

// What changed between two documents, as paths.
function diff(a, b, path, out) {
  out = out || [];
  path = path || "";
  const obj = (x) => x !== null && typeof x === "object";
  if (obj(a) && obj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const p = path ? path + "." + k : k;
      if (!(k in a)) out.push(["add", p, b[k]]);
      else if (!(k in b)) out.push(["del", p, a[k]]);
      else diff(a[k], b[k], p, out);
    }
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push(["chg", path || "(the whole entity)", b]);
  }
  return out;
}

function short(v, n) {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s === undefined ? "" : s.length > (n || 90) ? s.slice(0, (n || 90) - 1) + "…" : s;
}

function link(href, ...kids) { return h("a", { href, "data-link": true }, ...kids); }

function enc(s) { return encodeURIComponent(s); }

function every(ms, fn) {
  const t = setInterval(fn, ms);
  cleanup.push(() => clearInterval(t));
}

function errorBox(e) {
  return h("div", { class: "panel empty" }, e instanceof APIError ? `${e.message} (${e.status})` : String(e));
}

// ---------- router ----------

const routes = [
  [/^\/$/, () => instancesPage()],
  [/^\/flows$/, () => flowsPage()],
  [/^\/flows\/([^/]+)$/, (m) => flowPage(decodeURIComponent(m[1]))],
  [/^\/instances$/, () => instancesPage()],
  [/^\/instances\/([^/]+)$/, (m) => instancePage(decodeURIComponent(m[1]))],
  [/^\/start$/, () => startPage("")],
  [/^\/start\/([^/]+)$/, (m) => startPage(decodeURIComponent(m[1]))],
  [/^\/editor$/, () => editorPage("")],
  [/^\/editor\/(.+)$/, (m) => editorPage(decodeURIComponent(m[1]))],
];

async function route() {
  cleanup.forEach((f) => f());
  cleanup = [];
  const path = location.pathname;
  const section = path.split("/")[1] || "instances";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === section));
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (m) {
      app.replaceChildren(h("div", { class: "empty" }, "Loading…"));
      try { await page(m); } catch (e) { app.replaceChildren(errorBox(e)); }
      return;
    }
  }
  app.replaceChildren(h("div", { class: "panel empty" }, "No page here."));
}

function go(path) {
  history.pushState(null, "", path);
  route();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

// ---------- flows ----------

async function flowsPage() {
  const { data } = await api("GET", "flows");
  const view = [h("h1", {}, "Flows"), h("div", { class: "sub" }, "The workflows serving new starts, and how the last load of the flow files went.")];
  if (data.lastError) {
    view.push(h("div", { class: "errors" },
      h("b", {}, `The flow files do not load (${when(data.lastError.at)}); the versions below keep serving:`),
      h("ul", {}, (data.lastError.errors || []).map((e) => h("li", {}, e)))));
  }
  if (!data.flows.length) {
    view.push(h("div", { class: "panel empty" }, "No flows loaded yet. Run memflow serve --flows DIR --watch."));
    app.replaceChildren(...view);
    return;
  }
  view.push(h("div", { class: "panel" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Workflow", "Version", "Loaded", "File", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, data.flows.map((f) => h("tr", {},
      h("td", {}, link("/flows/" + enc(f.name), h("b", {}, f.name)), f.removed ? h("span", { class: "badge s-cancelled" }, " removed") : ""),
      h("td", { class: "mono" }, f.version.slice(0, 8)),
      h("td", { title: f.loadedAt }, ago(f.loadedAt)),
      h("td", { class: "mono muted" }, f.file),
      h("td", {}, f.removed ? "" : link("/start/" + enc(f.name), "Start →"))))))));
  app.replaceChildren(...view);
}

async function flowPage(name) {
  const { data: f } = await api("GET", "flows/" + enc(name));
  const graph = h("div", { class: "graph" });
  graph.innerHTML = f.graph.svg;
  app.replaceChildren(
    h("h1", {}, name),
    h("div", { class: "sub" }, `version ${f.version.slice(0, 8)} · loaded ${ago(f.loadedAt)} · ${f.file}`),
    h("div", { class: "row", style: "margin-bottom:16px" },
      link("/start/" + enc(name), h("button", {}, "Start an instance")),
      link("/instances?workflow=" + enc(name), h("button", { class: "secondary" }, "Its instances")),
      link("/editor/" + enc(f.file), h("button", { class: "secondary" }, "Edit the file"))),
    h("div", { class: "panel" }, h("h2", {}, "The flow"), graph),
    h("div", { class: "grid" },
      h("div", { class: "panel" }, h("h2", {}, "Input schema"), f.input ? jsonView(f.input) : h("div", { class: "muted" }, "any input")),
      h("div", { class: "panel" }, h("h2", {}, "Versions"), h("table", {}, h("tbody", {},
        f.versions.map((v) => h("tr", {}, h("td", { class: "mono" }, v.version.slice(0, 8)), h("td", {}, when(v.createdAt)), h("td", { class: "muted mono" }, v.file))))),
      h("h2", { style: "margin-top:14px" }, "Hooks"), f.hooks.length ? f.hooks.join(", ") : h("span", { class: "muted" }, "none"))));
}

// ---------- instances ----------

async function instancesPage() {
  const q = new URLSearchParams(location.search);
  const filter = { workflow: q.get("workflow") || "", status: q.get("status") || "", id: q.get("id") || "" };
  const { data: flows } = await api("GET", "flows");
  const counts = h("div", { class: "counts" });
  const body = h("tbody");
  const pager = h("div", { class: "pager" });
  let cursors = [""]; // the cursor of each page shown so far
  let page = 0;
  let shown = ""; // what the table shows, to redraw only on change

  const setFilter = (k, v) => {
    filter[k] = v;
    const p = new URLSearchParams(Object.entries(filter).filter(([, v]) => v));
    history.replaceState(null, "", "/instances" + (p.toString() ? "?" + p : ""));
    cursors = [""];
    page = 0;
    load();
  };
  const wf = h("select", { onchange: (e) => setFilter("workflow", e.target.value) },
    h("option", { value: "" }, "every workflow"), flows.flows.map((f) => h("option", { value: f.name, selected: f.name === filter.workflow }, f.name)));
  const st = h("select", { onchange: (e) => setFilter("status", e.target.value) },
    ["", "running", "completed", "failed", "cancelled"].map((s) => h("option", { value: s, selected: s === filter.status }, s || "any status")));
  let idTimer;
  const id = h("input", { placeholder: "id starts with…", value: filter.id, oninput: (e) => { clearTimeout(idTimer); idTimer = setTimeout(() => setFilter("id", e.target.value.trim()), 250); } });

  async function load() {
    const p = new URLSearchParams({ limit: "25" });
    for (const [k, v] of Object.entries(filter)) if (v) p.set(k, v);
    if (cursors[page]) p.set("cursor", cursors[page]);
    try {
      const [{ data }, { data: c }] = await Promise.all([api("GET", "instances?" + p), api("GET", "counts" + (filter.workflow ? "?workflow=" + enc(filter.workflow) : ""))]);
      const key = JSON.stringify([data, c, filter, page]);
      if (key === shown) return; // nothing changed: keep the rows (and what the pointer is on)
      shown = key;
      counts.replaceChildren(...["running", "completed", "failed", "cancelled"].map((s) =>
        h("div", { class: "count" + (filter.status === s ? " on" : ""), onclick: () => setFilter("status", filter.status === s ? "" : s) },
          h("b", {}, c[s]), badge(s))));
      body.replaceChildren(...(data.instances.length ? data.instances.map((i) => h("tr", {},
        h("td", {}, link("/instances/" + enc(i.id), h("span", { class: "mono" }, i.id))),
        h("td", {}, i.workflow), h("td", {}, badge(i.status)),
        h("td", { title: i.createdAt }, ago(i.createdAt)), h("td", { title: i.updatedAt }, ago(i.updatedAt)),
        h("td", { class: "muted" }, short(i.error || "", 60)))) : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No instances match."))]));
      cursors[page + 1] = data.next;
      pager.replaceChildren(
        h("button", { class: "secondary", disabled: page === 0, onclick: () => { page--; load(); } }, "← Newer"),
        h("button", { class: "secondary", disabled: !data.next, onclick: () => { page++; load(); } }, "Older →"));
    } catch (e) { flash(e.message); }
  }
  app.replaceChildren(
    h("h1", {}, "Instances"), h("div", { class: "sub" }, h("span", { class: "live" }), "Newest first, refreshed every two seconds."),
    counts,
    h("div", { class: "toolbar" }, h("label", {}, "Workflow", wf), h("label", {}, "Status", st), h("label", {}, "Id", id)),
    h("div", { class: "panel" }, h("table", {}, h("thead", {}, h("tr", {}, ["Id", "Workflow", "Status", "Started", "Updated", "Error"].map((t) => h("th", {}, t)))), body), pager));
  await load();
  every(2000, () => { if (page === 0) load(); });
}

// ---------- one instance ----------

// streamEvents follows the instance's event stream with fetch (so the
// token travels in a header), reconnecting from the last row seen.
function streamEvents(id, onRow, onEnd) {
  const ctl = new AbortController();
  let last = 0;
  let stopped = false;
  cleanup.push(() => { stopped = true; ctl.abort(); });
  (async function loop() {
    while (!stopped) {
      try {
        const headers = { Accept: "text/event-stream" };
        if (token()) headers.Authorization = "Bearer " + token();
        if (last) headers["Last-Event-ID"] = String(last);
        const resp = await fetch(API + "instances/" + enc(id) + "/events", { headers, signal: ctl.signal });
        if (!resp.ok) throw new Error("events " + resp.status);
        document.getElementById("conn").replaceChildren(h("span", { class: "live" }), "live");
        const reader = resp.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let ev = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) ev = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (ev === "history") { const row = JSON.parse(data); last = row.seq; onRow(row); }
            if (ev === "end") { onEnd(JSON.parse(data)); stopped = true; }
          }
        }
      } catch (e) {
        if (stopped) break;
      }
      document.getElementById("conn").textContent = stopped ? "" : "reconnecting…";
      if (!stopped) await new Promise((r) => setTimeout(r, 1500));
    }
    document.getElementById("conn").textContent = "";
  })();
}

function rowText(r) {
  const d = r.detail || {};
  const what = d.desc || (r.kind === "signal" ? "signal " + (d.name || "") : r.kind);
  let out = "";
  if ("output" in d) out = short(d.output);
  else if (d.error) out = d.error;
  else if (d.input !== undefined) out = "input " + short(d.input);
  else if (d.data !== undefined) out = short(d.data);
  return { what, out };
}

async function instancePage(id) {
  const { data: inst } = await api("GET", "instances/" + enc(id));
  let flow = null;
  try { flow = (await api("GET", "flows/" + enc(inst.workflow) + "?version=" + enc(inst.version))).data; } catch (e) { /* removed flow: no picture */ }
  const rows = [];
  let selected = null;

  const head = h("div");
  const summary = h("div", { class: "kv" });
  const entityBox = h("div");
  const timeline = h("ul", { class: "timeline" });
  const travel = h("div", {}, h("div", { class: "muted" }, "Pick a row of the timeline to see the entity right after it, and what that step changed."));
  const graph = h("div", { class: "graph" });
  if (flow) graph.innerHTML = flow.graph.svg;

  function drawHead() {
    head.replaceChildren(h("h1", {}, id, " ", badge(inst.status)),
      h("div", { class: "sub" }, link("/flows/" + enc(inst.workflow), inst.workflow), ` · version ${inst.version.slice(0, 8)} · entity type ${inst.entityType} · started ${when(inst.createdAt)}`));
    summary.replaceChildren(...[
      h("div", {}, "Status"), h("div", {}, badge(inst.status)),
      h("div", {}, "Input"), h("div", {}, jsonView(inst.input === undefined ? null : inst.input)),
      inst.status === "completed" ? [h("div", {}, "Result"), h("div", {}, jsonView(inst.result))] : [],
      inst.error ? [h("div", {}, "Error"), h("div", { style: "color:var(--bad)" }, inst.error)] : [],
      h("div", {}, "Updated"), h("div", {}, when(inst.updatedAt)),
      inst.completedAt ? [h("div", {}, "Ended"), h("div", {}, when(inst.completedAt))] : []].flat());
    entityBox.replaceChildren(jsonView(inst.entity));
    actions.querySelectorAll("button").forEach((b) => { b.disabled = inst.status !== "running"; });
  }

  async function refresh() {
    try { Object.assign(inst, (await api("GET", "instances/" + enc(id))).data); drawHead(); } catch (e) { flash(e.message); }
    markGraph();
  }

  async function markGraph() {
    if (!flow) return;
    // A node is its graph and its step: hooks number their steps too.
    const where = (hook, step) => (hook ? "hook " + hook : "workflow " + inst.workflow) + "\n" + step;
    const taken = new Set(rows.filter((r) => r.step).map((r) => where((r.detail || {}).hook, r.step)));
    let current = new Set();
    if (inst.status === "running") {
      try {
        const { data: st } = await api("GET", "instances/" + enc(id) + "/status");
        current = new Set((st.threads || []).filter((t) => t.step).map((t) => where(t.hook, t.step)));
      } catch (e) { /* the picture stays as it was */ }
    }
    graph.querySelectorAll("g.node").forEach((g) => {
      const s = g.getAttribute("data-step");
      const k = g.getAttribute("data-graph") + "\n" + s;
      g.classList.toggle("visited", !!s && taken.has(k));
      g.classList.toggle("current", !!s && current.has(k));
    });
  }

  async function pick(r, li) {
    timeline.querySelectorAll("li").forEach((x) => x.classList.remove("sel"));
    li.classList.add("sel");
    selected = r.seq;
    try {
      const i = rows.indexOf(r);
      const [{ data: now }, before] = await Promise.all([
        api("GET", `instances/${enc(id)}/entity?at=${r.seq}`),
        i > 0 ? api("GET", `instances/${enc(id)}/entity?at=${rows[i - 1].seq}`).then((x) => x.data) : Promise.resolve(null)]);
      if (selected !== r.seq) return;
      const changes = diff(before === null ? {} : before, now);
      travel.replaceChildren(
        h("div", { class: "muted", style: "margin-bottom:8px" }, `Right after row ${r.seq} (${rowText(r).what}), ${when(r.at)}:`),
        h("ul", { class: "diff" }, changes.length ? changes.map(([k, p, v]) =>
          h("li", { class: k }, k === "add" ? "+ " : k === "del" ? "− " : "~ ", h("b", {}, p), k === "del" ? "" : " = " + short(v, 120)))
          : h("li", { class: "muted" }, "this row changed nothing in the entity")),
        jsonView(now));
    } catch (e) {
      travel.replaceChildren(h("div", { class: "muted" }, e.message));
    }
  }

  function addRow(r) {
    rows.push(r);
    const prev = rows[rows.length - 2];
    const { what, out } = rowText(r);
    const li = h("li", { "data-seq": r.seq },
      h("span", { class: "seq" }, "#" + r.seq),
      h("div", {}, h("div", { class: "what" }, h("span", { class: "kind" }, r.kind), r.step ? h("b", {}, r.step + " ") : "", what),
        out ? h("div", { class: "out", title: out }, out) : ""),
      h("span", { class: "dur", title: r.at }, prev ? "+" + ms(prev.at, r.at) : when(r.at)));
    li.addEventListener("click", () => pick(r, li));
    timeline.append(li);
  }

  // Actions: signal, hook, cancel.
  const sigName = h("input", { placeholder: "signal name", name: "signal" });
  const sigData = h("textarea", { name: "data", placeholder: '{"approved": true}' });
  const hookName = h("select", { name: "hook" }, (flow ? flow.hooks : []).map((n) => h("option", { value: n }, n)));
  const hookArgs = h("textarea", { name: "args", placeholder: "{}" });
  const parse = (t) => { const s = t.value.trim(); return s === "" ? null : JSON.parse(s); };
  const actions = h("div", { class: "actions row3" },
    h("form", { id: "signal-form", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const data = parse(sigData);
        await api("POST", `instances/${enc(id)}/signals/${enc(sigName.value.trim())}`, data);
        flash(`Signal ${sigName.value} sent.`, true);
        sigData.value = "";
      } catch (err) { flash(err instanceof SyntaxError ? "The data is not JSON: " + err.message : err.message); }
    } }, h("h2", {}, "Send a signal"), h("div", { class: "row" }, h("label", {}, "Name", sigName)), h("label", {}, "Data (JSON)", sigData), h("div", {}, h("button", { type: "submit" }, "Send signal"))),
    h("form", { onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("POST", `instances/${enc(id)}/hooks/${enc(hookName.value)}`, parse(hookArgs));
        flash(`Hook ${hookName.value} started.`, true);
      } catch (err) { flash(err instanceof SyntaxError ? "The arguments are not JSON: " + err.message : err.message); }
    } }, h("h2", {}, "Start a hook"), h("label", {}, "Hook", hookName), h("label", {}, "Arguments (JSON)", hookArgs), h("div", {}, h("button", { type: "submit", disabled: !(flow && flow.hooks.length) }, "Start hook"))),
    h("div", {}, h("button", { class: "danger", onclick: async () => {
      if (!confirm(`Cancel ${id}?`)) return;
      try { await api("POST", `instances/${enc(id)}/cancel`); flash("Cancelled.", true); refresh(); } catch (err) { flash(err.message); }
    } }, "Cancel instance")));

  app.replaceChildren(head,
    h("div", { class: "grid" },
      h("div", { class: "panel" }, h("h2", {}, "Instance"), summary),
      h("div", { class: "panel" }, h("h2", {}, "Entity ", h("span", { class: "muted", style: "text-transform:none" }, "(live)")), h("div", { id: "entity" }, entityBox))),
    h("div", { class: "grid", style: "margin-top:16px" },
      h("div", { class: "panel" }, h("h2", {}, "Timeline"), timeline),
      h("div", { class: "panel" }, h("h2", {}, "Time travel"), travel)),
    h("div", { class: "panel", style: "margin-top:16px" }, h("h2", {}, "Path taken ", h("span", { class: "muted", style: "text-transform:none" }, "(green: ran · blue: now)")), flow ? graph : h("div", { class: "muted" }, "The flow's version is not in the catalogue.")),
    h("div", { class: "panel" }, actions));
  drawHead();
  let pending = null;
  const soon = () => { clearTimeout(pending); pending = setTimeout(refresh, 120); };
  streamEvents(id, (r) => { addRow(r); inst.status = r.status; soon(); }, () => refresh());
}

// ---------- start ----------

// fieldFor makes an input for one property of the input schema.
function fieldFor(name, schema, required) {
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== "null") : schema.type;
  const label = name + (required ? " *" : "") + (schema.description ? " — " + schema.description : "");
  let input;
  if (schema.enum) input = h("select", { name }, (required ? [] : [h("option", { value: "" }, "")]).concat(schema.enum.map((v) => h("option", { value: JSON.stringify(v) }, String(v)))));
  else if (t === "boolean") input = h("input", { type: "checkbox", name });
  else if (t === "integer" || t === "number") input = h("input", { type: "number", name, step: t === "integer" ? "1" : "any", value: schema.default });
  else if (t === "string") input = h("input", { name, value: schema.default, placeholder: schema.format || "" });
  else input = h("textarea", { name, placeholder: t === "array" ? "[ ]" : "{ }" });
  input.dataset.kind = schema.enum ? "enum" : t || "json";
  return h("label", {}, label, input);
}

function readField(el) {
  switch (el.dataset.kind) {
    case "boolean": return el.checked;
    case "integer": case "number": return el.value === "" ? undefined : Number(el.value);
    case "string": return el.value === "" ? undefined : el.value;
    case "enum": return el.value === "" ? undefined : JSON.parse(el.value);
    default: return el.value.trim() === "" ? undefined : JSON.parse(el.value);
  }
}

async function startPage(name) {
  const { data } = await api("GET", "flows");
  const names = data.flows.filter((f) => !f.removed).map((f) => f.name);
  if (!name && names.length) name = names[0];
  const pick = h("select", { onchange: (e) => go("/start/" + enc(e.target.value)) }, names.map((n) => h("option", { value: n, selected: n === name }, n)));
  if (!name) { app.replaceChildren(h("h1", {}, "Start"), h("div", { class: "panel empty" }, "No workflow is loaded.")); return; }
  const { data: f } = await api("GET", "flows/" + enc(name));
  const schema = f.input || {};
  const props = schema.properties || {};
  const req = new Set(schema.required || []);
  const form = h("div", { class: "actions" }, Object.entries(props).map(([k, s]) => fieldFor(k, s, req.has(k))));
  const raw = h("textarea", { name: "raw", placeholder: "{ }", style: "min-height:160px" });
  const useRaw = h("input", { type: "checkbox" });
  const idIn = h("input", { name: "id", placeholder: "generated when empty" });
  const simple = schema.type === "object" && Object.keys(props).length > 0;
  if (!simple) useRaw.checked = true;
  const sync = () => { form.hidden = useRaw.checked; raw.parentElement.hidden = !useRaw.checked; };
  useRaw.addEventListener("change", () => {
    if (useRaw.checked) { try { raw.value = JSON.stringify(collect(), null, 2); } catch (e) { /* leave it */ } }
    sync();
  });
  const collect = () => {
    const args = {};
    form.querySelectorAll("[name]").forEach((el) => { const v = readField(el); if (v !== undefined) args[el.name] = v; });
    return args;
  };
  app.replaceChildren(h("h1", {}, "Start an instance"), h("div", { class: "sub" }, "A form from the workflow's input schema, or raw JSON."),
    h("div", { class: "grid" },
      h("div", { class: "panel" },
        h("form", { id: "start-form", class: "actions", onsubmit: async (e) => {
          e.preventDefault();
          let args;
          try { args = useRaw.checked ? (raw.value.trim() ? JSON.parse(raw.value) : undefined) : collect(); } catch (err) { flash("The input is not JSON: " + err.message); return; }
          try {
            const body = { args };
            if (idIn.value.trim()) body.id = idIn.value.trim();
            const { data } = await api("POST", "workflows/" + enc(name) + "/start", body);
            go("/instances/" + enc(data.id));
          } catch (err) { flash(err.message); }
        } },
        h("label", {}, "Workflow", pick), h("label", {}, "Instance id", idIn),
        simple ? h("label", { style: "flex-direction:row;align-items:center;gap:8px" }, useRaw, "raw JSON") : "",
        form, h("label", {}, "Input (JSON)", raw), h("div", {}, h("button", { type: "submit" }, "Start")))),
      h("div", { class: "panel" }, h("h2", {}, "Input schema"), f.input ? jsonView(f.input) : h("div", { class: "muted" }, "This workflow declares no input schema: any JSON."))));
  sync();
}

// ---------- editor ----------

async function editorPage(file) {
  const { data: src } = await api("GET", "sources");
  if (!src.files.length) {
    app.replaceChildren(h("h1", {}, "Editor"), h("div", { class: "panel empty" }, "This server loads no flow files: start it with --flows DIR to edit them here."));
    return;
  }
  if (!file || !src.files.includes(file)) { go("/editor/" + enc(src.files[0])); return; }
  const { data: text } = await api("GET", "sources/" + enc(file));
  const pick = h("select", { onchange: (e) => go("/editor/" + enc(e.target.value)) }, src.files.map((f) => h("option", { value: f, selected: f === file }, f)));
  const ta = h("textarea", { id: "source", spellcheck: "false", autocomplete: "off" });
  ta.value = text;
  const gutter = h("div", { class: "gutter" });
  const diags = h("ul", { class: "diags", id: "diagnostics" });
  const graph = h("div", { class: "graph" });
  const save = h("button", { disabled: !src.editable, title: src.editable ? "" : "start memflow serve with --allow-edit to save" }, "Save");
  let marks = {};

  function drawGutter() {
    const n = ta.value.split("\n").length;
    const lines = [];
    for (let i = 1; i <= n; i++) lines.push(h("div", { class: marks[i] || "", "data-line": i }, i));
    gutter.replaceChildren(...lines);
    gutter.scrollTop = ta.scrollTop;
  }
  function goLine(line) {
    const upto = ta.value.split("\n").slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    ta.focus();
    ta.setSelectionRange(upto, upto);
    ta.scrollTop = Math.max(0, (line - 5) * 19);
  }
  let timer, seq = 0;
  async function check() {
    const mine = ++seq;
    try {
      const { data } = await api("POST", "validate?file=" + enc(file), ta.value, "application/yaml");
      if (mine !== seq) return;
      marks = {};
      const own = data.diagnostics.filter((d) => d.file === file);
      for (const d of own) if (marks[d.line] !== "err") marks[d.line] = d.severity === "error" ? "err" : "warn";
      diags.replaceChildren(...(own.length ? own.map((d) => h("li", { class: d.severity, "data-line": d.line, onclick: () => goLine(d.line) }, `line ${d.line}:${d.col} ${d.severity}: ${d.message}`))
        : [h("li", { class: "okay" }, data.ok ? "No problems: the flow loads." : "Problems in other files stop this catalogue from loading.")]));
      if (data.svg) graph.innerHTML = data.svg;
      drawGutter();
    } catch (e) { flash(e.message); }
  }
  ta.addEventListener("input", () => { drawGutter(); clearTimeout(timer); timer = setTimeout(check, 300); });
  ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; });
  ta.addEventListener("keydown", (e) => {
    if (e.key === "Tab") { e.preventDefault(); ta.setRangeText("  ", ta.selectionStart, ta.selectionEnd, "end"); ta.dispatchEvent(new Event("input")); }
  });
  save.addEventListener("click", async () => {
    try {
      await api("PUT", "sources/" + enc(file), ta.value, "application/yaml");
      flash("Saved: the running flows reload it.", true);
    } catch (e) {
      flash(e.code === "invalid_flow" ? "Not saved: the flow has errors (see the list)." : e.message);
    }
  });
  app.replaceChildren(h("h1", {}, "Editor"), h("div", { class: "sub" }, "Diagnostics appear at their lines as you type; the picture redraws when the flow loads."),
    h("div", { class: "toolbar" }, h("label", {}, "File", pick), save),
    h("div", { class: "editor" },
      h("div", {}, h("div", { class: "code" }, gutter, ta), diags),
      h("div", { class: "panel" }, h("h2", {}, "The flow"), graph)));
  drawGutter();
  check();
}

route();
