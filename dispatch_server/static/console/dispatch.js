// The dispatchers' live map: the district's open cases coloured by their deadline, clustered
// when zoomed out; the inspectors where they are; a list of the cases in view beside the map;
// a case's panel with its timeline, photos, clocks, candidates and the moves. Live by SSE.
import {
  api, baseMap, clear, duration, el, fail, localTime, outlines, slaState, start, t, uuid,
} from "./common.js";

const FINAL = new Set(["closed", "cancelled", "duplicate"]);
const RANK = { breached: 0, warning: 1, on_time: 2, paused: 3, none: 4 };
const LIST_MAX = 300;

const state = {
  me: null, district: null, map: null, cluster: null, inspectorLayer: null,
  rows: new Map(), markers: new Map(), inspectors: new Map(), selected: null,
  filters: { category: "", status: "", sla: "", team: "" },
  categories: new Map(), teams: new Map(), refresh: new Set(), refreshTimer: null,
  panelLoads: 0,  // the latest panel load wins (live events can ask for several at once)
};

function name(thing) {
  if (!thing) return "";
  return (document.documentElement.lang === "en" ? thing.name_en : thing.name_ko) || thing.name_ko || thing.code;
}

function eventName(type) {
  const word = t(`s_${type}`);
  return word === `s_${type}` ? type : word;
}

function categoryName(code) {
  return name(state.categories.get(code)) || code;
}

function rowOf(columns, values) {
  const row = {};
  columns.forEach((column, i) => { row[column] = values[i]; });
  row.sla = slaState(row.clock_state, row.warn_at, row.due_at);
  return row;
}

function deadlineText(row) {
  if (row.sla === "none") return t("none");
  if (row.sla === "paused") return `${t(`${row.clock_kind}_stage`)} · ${t("paused")}`;
  const seconds = (Date.parse(row.due_at) - Date.now()) / 1000;
  const left = duration(seconds);
  return `${t(`${row.clock_kind}_stage`)} · ${seconds < 0 ? t("overdue", { t: left }) : t("due_in", { t: left })}`;
}

function matches(row) {
  const f = state.filters;
  return (!f.category || row.category === f.category) && (!f.status || row.status === f.status)
    && (!f.sla || row.sla === f.sla) && (!f.team || String(row.team_id) === f.team);
}

function icon(row) {
  const chosen = state.selected === row.id ? " selected" : "";
  return L.divIcon({ className: `dot sla-${row.sla}${chosen}`, iconSize: [16, 16] });
}

function clusterIcon(cluster) {
  const children = cluster.getAllChildMarkers();
  let worst = "none";
  for (const marker of children) {
    const row = state.rows.get(marker.options.caseId);
    if (row && RANK[row.sla] < RANK[worst]) worst = row.sla;
  }
  return L.divIcon({ html: `<span>${children.length}</span>`, className: `cluster sla-${worst}`,
    iconSize: [38, 38] });
}

function markerOf(row) {
  const marker = L.marker([row.lat, row.lon], { icon: icon(row), caseId: row.id, title: row.ticket,
    keyboard: false });
  marker.on("click", () => select(row.id));
  return marker;
}

function renderMarkers() {
  state.cluster.clearLayers();
  state.markers.clear();
  const wanted = [];
  for (const row of state.rows.values()) {
    if (!matches(row)) continue;
    const marker = markerOf(row);
    state.markers.set(row.id, marker);
    wanted.push(marker);
  }
  state.cluster.addLayers(wanted);
}

function placeMarker(row) {
  const old = state.markers.get(row.id);
  if (old) state.cluster.removeLayer(old);
  state.markers.delete(row.id);
  if (matches(row) && !FINAL.has(row.status)) {
    const marker = markerOf(row);
    state.markers.set(row.id, marker);
    state.cluster.addLayer(marker);
  }
}

function renderList() {
  const bounds = state.map.getBounds();
  const inView = [...state.rows.values()].filter((row) => matches(row) && bounds.contains([row.lat, row.lon]));
  inView.sort((a, b) => (RANK[a.sla] - RANK[b.sla]) || ((a.due_at || "~").localeCompare(b.due_at || "~"))
    || a.id - b.id);
  const total = [...state.rows.values()].filter(matches).length;
  document.getElementById("count").textContent =
    `${t("open_cases", { n: total })} · ${t("in_view", { n: inView.length })}`;
  clear(document.getElementById("cases"), inView.slice(0, LIST_MAX).map((row) =>
    el("li", { class: `case sla-${row.sla}${state.selected === row.id ? " selected" : ""}`,
      dataset: { id: row.id, ticket: row.ticket } },
    el("button", { type: "button", onclick: () => select(row.id, true),
      "aria-label": `${row.ticket} ${categoryName(row.category)} ${t(`s_${row.status}`)}` },
    el("span", { class: "ticket" }, row.ticket),
    el("span", { class: `priority p-${row.priority}` }, t(`p_${row.priority}`)),
    el("span", { class: "what" }, categoryName(row.category)),
    el("span", { class: "status" }, t(`s_${row.status}`)),
    el("span", { class: "where" }, row.address || ""),
    el("span", { class: "deadline" }, deadlineText(row))))));
}

function renderInspector(inspector) {
  const old = state.inspectors.get(inspector.id);
  if (old && old.marker) state.inspectorLayer.removeLayer(old.marker);
  const entry = { ...((old && old.data) || {}), ...inspector };
  let marker = null;
  if (entry.location) {
    // Inspectors: blue squares (cases are round dots coloured by their deadline).
    marker = L.marker([entry.location.lat, entry.location.lon], {
      icon: L.divIcon({ className: `inspector${entry.on_duty ? " on" : ""}`, iconSize: [14, 14] }),
      keyboard: false, zIndexOffset: 1000,
    }).bindTooltip(`${entry.name} · ${entry.on_duty ? t("on_duty") : t("off_duty")}`
      + (entry.open_cases !== undefined ? ` · ${t("load", { n: entry.open_cases })}` : ""));
    state.inspectorLayer.addLayer(marker);
  }
  state.inspectors.set(inspector.id, { data: entry, marker });
}

async function loadBoard(ids) {
  const board = await api("/api/v1/dispatch/board", {
    params: { district: state.district, ids: ids ? ids.join(",") : null } });
  const rows = board.rows.map((values) => rowOf(board.columns, values));
  if (!ids) state.rows.clear();
  const seen = new Set();
  for (const row of rows) {
    seen.add(row.id);
    state.rows.set(row.id, row);
    if (ids) placeMarker(row);
  }
  if (ids) {
    for (const id of ids) {
      if (!seen.has(id)) removeCase(id);
    }
  }
  return rows;
}

function removeCase(id) {
  const marker = state.markers.get(id);
  if (marker) state.cluster.removeLayer(marker);
  state.markers.delete(id);
  state.rows.delete(id);
}

function scheduleRefresh(id) {
  state.refresh.add(id);
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(async () => {
    const ids = [...state.refresh];
    state.refresh.clear();
    state.refreshTimer = null;
    try {
      await loadBoard(ids);
      renderList();
    } catch (error) { console.error(error); }
  }, 400);
}

// A live case event: the case as it stands after it, at once (the clock follows).
function onCase(data) {
  const c = data.complaint;
  if (!c) return;
  if (FINAL.has(c.status)) {
    removeCase(c.id);
  } else {
    const old = state.rows.get(c.id) || {};
    const row = {
      ...old, id: c.id, ticket: c.ticket, status: c.status, category: c.category, priority: c.priority,
      lat: c.location.lat, lon: c.location.lon, address: c.address, assignee_id: c.assignee_id,
      team_id: c.team_id, district: c.district.code, created_at: c.created_at,
    };
    row.sla = slaState(row.clock_state, row.warn_at, row.due_at);
    state.rows.set(row.id, row);
    placeMarker(row);
  }
  scheduleRefresh(c.id);
  renderList();
  if (state.selected === c.id) select(c.id);
}

function openStream() {
  const live = document.getElementById("live");
  const query = state.district ? `?district=${encodeURIComponent(state.district)}` : "";
  const stream = new EventSource(`/api/v1/dispatch/stream${query}`);
  stream.addEventListener("open", () => { live.textContent = t("live"); live.className = "live on"; });
  stream.addEventListener("error", () => { live.textContent = t("reconnecting"); live.className = "live off"; });
  stream.addEventListener("complaint", (event) => onCase(JSON.parse(event.data)));
  stream.addEventListener("inspector", (event) => renderInspector(JSON.parse(event.data).inspector));
  stream.addEventListener("sla", (event) => {
    for (const step of JSON.parse(event.data).steps || []) scheduleRefresh(step.complaint_id);
  });
  stream.addEventListener("reset", async () => { await loadBoard(); renderMarkers(); renderList(); });
}

function recomputeDeadlines() {
  for (const row of state.rows.values()) {
    const now = slaState(row.clock_state, row.warn_at, row.due_at);
    if (now !== row.sla) {
      row.sla = now;
      const marker = state.markers.get(row.id);
      if (marker) marker.setIcon(icon(row));
    }
  }
  state.cluster.refreshClusters();
  renderList();
}

// --- the case panel --------------------------------------------------------------------

async function move(id, body) {
  const panel = document.getElementById("panel");
  try {
    await api(`/api/v1/dispatch/complaints/${id}/transitions`, { method: "POST", body, key: uuid() });
    scheduleRefresh(id);
    await select(id);
  } catch (error) {
    panel.prepend(el("p", { class: "error", role: "alert" }, error.message));
  }
}

async function select(id, fly = false) {
  const row = state.rows.get(id);
  if (!row) return;
  const previous = state.selected;
  state.selected = id;
  for (const changed of [previous, id]) {
    const marker = state.markers.get(changed);
    const changedRow = state.rows.get(changed);
    if (marker && changedRow) marker.setIcon(icon(changedRow));
  }
  if (fly) state.map.setView([row.lat, row.lon], Math.max(state.map.getZoom(), 16));
  const panel = document.getElementById("panel");
  panel.hidden = false;
  const load = ++state.panelLoads;
  const [caseNow, timeline, clocks, photos, candidates] = await Promise.all([
    api(`/api/v1/complaints/${row.ticket}`),
    api(`/api/v1/complaints/${row.ticket}/events`),
    api(`/api/v1/complaints/${row.ticket}/sla`),
    api(`/api/v1/dispatch/complaints/${id}/photos`),
    api(`/api/v1/dispatch/complaints/${id}/candidates`).catch(() => ({ candidates: [] })),
  ]);
  if (state.selected !== id || load !== state.panelLoads) return;  // a newer load is on its way
  // The countdown from the clocks just read (the board's row may lag behind a live event).
  const running = clocks.timers.filter((timer) => timer.state === "running" || timer.state === "paused")
    .sort((a, b) => a.due_at.localeCompare(b.due_at))[0];
  if (running) {
    Object.assign(row, { clock_kind: running.kind, clock_state: running.state, warn_at: running.warn_at,
      due_at: running.due_at });
  } else {
    Object.assign(row, { clock_kind: null, clock_state: null, warn_at: null, due_at: null });
  }
  row.sla = slaState(row.clock_state, row.warn_at, row.due_at);
  const mayMove = state.me.role === "dispatcher" || state.me.role === "admin";
  const phone = el("span", { class: "phone" }, (caseNow.reporter && caseNow.reporter.phone_masked) || "-");
  const showPhone = caseNow.reporter && caseNow.reporter.phone_masked && state.me.role === "dispatcher"
    ? el("button", { type: "button", class: "quiet", onclick: async () => {
      const contact = await api(`/api/v1/complaints/${row.ticket}/contact`, { params: { purpose: "dispatch console" } });
      phone.textContent = contact.phone_national || contact.phone || "-";
    } }, t("show_phone")) : null;
  const assigned = caseNow.assignee_id !== null;
  const reason = el("input", { id: "reason", "aria-label": t("reason"), placeholder: t("reason") });
  const agency = el("input", { id: "agency", "aria-label": t("agency"), placeholder: t("agency") });
  const priority = el("select", { id: "priority", "aria-label": t("priority") },
    ["low", "normal", "high", "urgent"].map((p) =>
      el("option", { value: p, selected: p === caseNow.priority }, t(`p_${p}`))));
  const actions = mayMove ? el("div", { class: "actions" },
    el("h3", {}, t("candidates")),
    el("ol", { class: "candidates" }, (candidates.candidates || []).slice(0, 5).map((c) =>
      el("li", {},
        el("span", {}, `${c.name} · ${Math.round(c.distance_m)} m · ${t("load", { n: c.open_cases })}`),
        el("button", { type: "button", class: "primary", dataset: { inspector: c.inspector_id },
          disabled: caseNow.assignee_id === c.inspector_id,
          onclick: () => move(id, { to: "assigned", version: caseNow.version, inspector_id: c.inspector_id,
            reason: assigned ? (reason.value || "dispatch console") : undefined }) },
        assigned ? t("reassign") : t("assign"))))),
    el("div", { class: "row" }, priority, el("button", { type: "button", onclick: async () => {
      await api(`/api/v1/dispatch/complaints/${id}/priority`, { method: "POST", key: uuid(),
        body: { priority: priority.value, version: caseNow.version, reason: reason.value || undefined } });
      scheduleRefresh(id);
      select(id);
    } }, t("priority"))),
    el("div", { class: "row" }, reason,
      el("button", { type: "button", class: "danger", onclick: () =>
        move(id, { to: "cancelled", version: caseNow.version, reason: reason.value || undefined }) }, t("cancel"))),
    el("div", { class: "row" }, agency,
      el("button", { type: "button", onclick: () =>
        move(id, { to: "referred", version: caseNow.version, referred_to: agency.value || undefined }) }, t("refer"))),
  ) : null;
  clear(panel,
    el("header", {},
      el("h2", {}, `${caseNow.ticket} · ${categoryName(caseNow.category)}`),
      el("button", { type: "button", class: "quiet", onclick: () => {
        state.selected = null; panel.hidden = true; renderList();
      } }, t("close"))),
    el("p", { class: `status s-${caseNow.status}` }, `${t(`s_${caseNow.status}`)} · ${t(`p_${caseNow.priority}`)}`),
    el("p", { class: `deadline sla-${row.sla}` }, deadlineText(row)),
    el("p", {}, caseNow.description),
    el("p", { class: "where" }, caseNow.address || ""),
    el("p", {}, `${t("phone")}: `, phone, showPhone),
    actions,
    el("h3", {}, t("clocks")),
    el("ul", { class: "clocks" }, clocks.timers.map((timer) =>
      el("li", {}, `${t(`${timer.kind}_stage`)}: ${localTime(timer.due_at)} · ${t(`c_${timer.state}`)}`
        + (timer.met === true ? ` · ${t("met")}` : timer.met === false ? ` · ${t("missed")}` : "")))),
    photos.photos.length ? el("h3", {}, t("photos")) : null,
    el("div", { class: "photos" }, photos.photos.map((photo) =>
      el("a", { href: photo.url, target: "_blank", rel: "noopener" },
        el("img", { src: photo.thumbnail_url, alt: t("photos"), loading: "lazy" })))),
    el("h3", {}, t("timeline")),
    el("ol", { class: "timeline" }, timeline.events.map((event) =>
      el("li", {}, `${localTime(event.at)} · ${eventName(event.type)} · ${event.actor}`
        + (event.payload && event.payload.note ? ` · ${event.payload.note}` : "")))));
  renderList();
}

// --- start -------------------------------------------------------------------------------

async function main() {
  const started = performance.now();
  // Without ?district= the board, the inspectors and the stream are the caller's whole
  // scope, so the two big answers are asked for before the account itself is.
  state.district = new URLSearchParams(location.search).get("district");
  const phases = {};  // how long each part of the first render took (bench/console.py)
  const boardLoaded = loadBoard().then(() => { phases.board = performance.now(); });
  const districts = api("/api/v1/districts");
  const { me, app } = await start("dispatch");
  state.me = me;
  const filterBox = el("form", { class: "filters", onchange: (event) => {
    state.filters[event.target.name] = event.target.value;
    renderMarkers();
    renderList();
  }, onsubmit: (event) => event.preventDefault() });
  const side = el("aside", { class: "side" }, filterBox,
    el("p", { class: "count", id: "count", "aria-live": "polite" }),
    el("ol", { class: "cases", id: "cases", "aria-label": t("cases") }));
  const mapBox = el("div", { id: "map", class: "map" });
  const panel = el("section", { id: "panel", class: "panel", hidden: true, "aria-label": t("cases") });
  app.querySelector(".bar").append(el("span", { id: "live", class: "live off" }, t("reconnecting")));
  app.append(el("main", { class: "dispatch" }, side, mapBox, panel));
  state.map = baseMap(mapBox);
  state.cluster = L.markerClusterGroup({
    chunkedLoading: true, chunkInterval: 100, disableClusteringAtZoom: 17,
    showCoverageOnHover: false, iconCreateFunction: clusterIcon, maxClusterRadius: 50,
  });
  state.inspectorLayer = L.layerGroup();
  state.map.addLayer(state.cluster);
  state.map.addLayer(state.inspectorLayer);
  const [, , inspectors, categories, teams] = await Promise.all([
    outlines(state.map, state.district ? [state.district] : me.districts, districts)
      .then(() => { phases.outlines = performance.now(); }),
    boardLoaded,
    api("/api/v1/dispatch/inspectors", { params: { district: state.district } }),
    api("/api/v1/admin/categories"),
    api("/api/v1/admin/teams", { params: { district: state.district } }),
  ]);
  for (const category of categories.categories || categories) state.categories.set(category.code, category);
  for (const team of teams.teams || teams) state.teams.set(team.id, team);
  const select = (key, options) => el("label", {}, t(key),
    el("select", { name: key }, el("option", { value: "" }, t("all")),
      options.map(([value, text]) => el("option", { value }, text))));
  clear(filterBox,
    select("category", [...state.categories.values()].map((c) => [c.code, name(c)])),
    select("status", ["received", "needs_triage", "assigned", "accepted", "en_route", "on_site",
      "resolved", "unresolved", "referred", "reopened"].map((s) => [s, t(`s_${s}`)])),
    select("sla", ["breached", "warning", "on_time", "paused", "none"].map((s) => [s, t(s)])),
    select("team", [...state.teams.values()].map((team) => [String(team.id), team.name])));
  inspectors.forEach(renderInspector);
  const ready = (markers) => {
    window.dasanReady = { ms: performance.now(), markers, phases: { script_start: started, ...phases } };
  };
  state.cluster.options.chunkProgress = (done, total) => { if (done === total) ready(total); };
  phases.data = performance.now();
  renderMarkers();
  phases.markers = performance.now();
  if (state.markers.size === 0) ready(0);
  renderList();
  phases.list = performance.now();
  state.map.on("moveend", renderList);
  openStream();
  setInterval(recomputeDeadlines, 15000);
  setInterval(() => {  // the open panel's countdown, every second
    const row = state.rows.get(state.selected);
    const shown = document.querySelector("#panel .deadline");
    if (row && shown) shown.textContent = deadlineText(row);
  }, 1000);
}

main().catch(fail);
