// The supervisors' statistics: volumes per day and hour, per district and category, deadlines
// met per stage, time to site, first-visit resolution, duplicates, hot spots; every table can
// be downloaded as CSV.
import { api, baseMap, clear, csv, el, fail, outlines, start, t } from "./common.js";

const charts = [];

function name(thing) {
  return (document.documentElement.lang === "en" ? thing.name_en : thing.name_ko) || thing.code;
}

// A day in the city's calendar (Seoul), as YYYY-MM-DD, `offset` days from today.
function cityDay(offset = 0) {
  return new Date(Date.now() + offset * 86400000).toLocaleDateString("sv-SE", { timeZone: "Asia/Seoul" });
}

function nextDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

function table(id, title, headers, rows) {
  return el("section", { class: "card", id },
    el("header", {}, el("h2", {}, title),
      el("button", { type: "button", class: "quiet", onclick: () => csv([headers, ...rows], id) },
        t("export_csv"))),
    el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell)))))));
}

function chart(canvas, type, labels, values, label, horizontal = false) {
  charts.push(new Chart(canvas, {
    type, data: { labels, datasets: [{ label, data: values, backgroundColor: "#0b3d91" }] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, indexAxis: horizontal ? "y" : "x",
      plugins: { legend: { display: false } } },
  }));
}

function tile(title, value, detail = "") {
  return el("div", { class: "tile" }, el("span", { class: "label" }, title),
    el("strong", {}, value), el("small", {}, detail));
}

function percent(part, whole) {
  return whole ? `${Math.round((1000 * part) / whole) / 10}%` : "-";
}

async function load(filters, output, me) {
  // Whole days of the city, the last one included.
  const params = { from: `${filters.from}T00:00:00+09:00`, to: `${nextDay(filters.to)}T00:00:00+09:00`,
    district: filters.district || null };
  const [overview, sla] = await Promise.all([api("/api/v1/stats/overview", { params }),
    api("/api/v1/stats/sla", { params })]);
  charts.splice(0).forEach((c) => c.destroy());
  const site = overview.time_to_site;
  const first = overview.first_visit;
  const perDay = el("canvas", { id: "per-day-chart", role: "img", "aria-label": t("per_day") });
  const perHour = el("canvas", { id: "per-hour-chart", role: "img", "aria-label": t("per_hour") });
  const perCategory = el("canvas", { id: "per-category-chart", role: "img", "aria-label": t("per_category") });
  const slaChart = el("canvas", { id: "sla-chart", role: "img", "aria-label": t("sla_stages") });
  const hotMap = el("div", { id: "hotspots-map", class: "map small" });
  clear(output,
    el("div", { class: "tiles" },
      tile(t("total"), String(overview.total)),
      tile(t("time_to_site"), site.median_minutes === null ? "-" : `${site.median_minutes} ${t("minutes")}`,
        `p90 ${site.p90_minutes ?? "-"} · n=${site.visits}`),
      tile(t("first_visit"), percent(first.resolved_first_time, first.results), `n=${first.results}`),
      tile(t("duplicates"), percent(overview.duplicates, overview.total), String(overview.duplicates))),
    el("div", { class: "charts" },
      el("section", { class: "card" }, el("h2", {}, t("per_day")), el("div", { class: "chart" }, perDay)),
      el("section", { class: "card" }, el("h2", {}, t("per_hour")), el("div", { class: "chart" }, perHour)),
      el("section", { class: "card" }, el("h2", {}, t("per_category")), el("div", { class: "chart" }, perCategory)),
      el("section", { class: "card" }, el("h2", {}, t("sla_stages")), el("div", { class: "chart" }, slaChart))),
    el("section", { class: "card" }, el("h2", {}, t("hotspots")), hotMap),
    table("per-district", t("per_district"), [t("district"), t("count"), t("duplicates")],
      overview.per_district.map((d) => [name(d), d.count, d.duplicates])),
    table("per-category", t("per_category"), [t("category"), t("count"), t("duplicates")],
      overview.per_category.map((c) => [name(c), c.count, c.duplicates])),
    table("sla-stages", t("sla_stages"), [t("stage"), t("met"), t("missed"), t("compliance"),
      `${t("minutes")} (p50)`, `${t("minutes")} (p90)`],
    sla.stages.map((s) => [t(`${s.kind}_stage`), s.met, s.missed,
      s.compliance === null ? "-" : `${Math.round(s.compliance * 1000) / 10}%`,
      s.median_minutes === null ? "-" : Math.round(s.median_minutes), s.p90_minutes === null ? "-" : Math.round(s.p90_minutes)])),
    table("per-day", t("per_day"), [t("from"), t("count")], overview.per_day.map((d) => [d.day, d.count])),
    table("per-hour", t("per_hour"), ["h", t("count")], overview.per_hour.map((h) => [h.hour, h.count])));
  chart(perDay, "bar", overview.per_day.map((d) => d.day.slice(5)), overview.per_day.map((d) => d.count), t("count"));
  chart(perHour, "bar", overview.per_hour.map((h) => String(h.hour)), overview.per_hour.map((h) => h.count), t("count"));
  chart(perCategory, "bar", overview.per_category.map(name), overview.per_category.map((c) => c.count), t("count"), true);
  chart(slaChart, "bar", sla.stages.map((s) => t(`${s.kind}_stage`)),
    sla.stages.map((s) => (s.compliance === null ? 0 : Math.round(s.compliance * 100))), t("compliance"));
  const map = baseMap(hotMap);
  await outlines(map, filters.district ? [filters.district] : me.districts);
  const biggest = Math.max(1, ...overview.hotspots.map((h) => h.count));
  for (const spot of overview.hotspots) {
    L.circleMarker([spot.lat, spot.lon], { radius: 4 + 16 * Math.sqrt(spot.count / biggest), color: "#b00020",
      weight: 1, fillOpacity: 0.45 }).bindTooltip(`${spot.count}`).addTo(map);
  }
  window.dasanReady = { ms: performance.now() };
}

async function main() {
  const { me, app } = await start("stats");
  const filters = { from: cityDay(-6), to: cityDay(0), district: "" };
  const output = el("div", { id: "figures", class: "figures", "aria-live": "polite" });
  const districts = me.districts.length > 1 ? el("label", {}, t("district"),
    el("select", { name: "district" }, el("option", { value: "" }, t("all")),
      me.districts.map((code) => el("option", { value: code }, code)))) : null;
  const form = el("form", { class: "period", onsubmit: (event) => {
    event.preventDefault();
    filters.from = form.from.value;
    filters.to = form.to.value;
    filters.district = form.district ? form.district.value : "";
    load(filters, output, me).catch(fail);
  } },
  el("label", {}, t("from"), el("input", { type: "date", name: "from", value: filters.from })),
  el("label", {}, t("to"), el("input", { type: "date", name: "to", value: filters.to })),
  districts,
  el("button", { type: "submit", class: "primary" }, t("apply")));
  app.append(el("main", { class: "stats" }, form, output));
  await load(filters, output, me);
}

main().catch(fail);
