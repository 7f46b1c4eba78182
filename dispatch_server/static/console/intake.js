// The agents' intake: category, what, the citizen's phone and language, where (an address
// from the geocoder, or a pin on the map); the open cases of the category nearby first, with
// the choice to link instead; then the ticket and the text the citizen will get.
// Keyboard first: Tab walks the form, arrows and Enter pick an address, Ctrl+Enter logs.
import { api, baseMap, clear, el, fail, outlines, start, t, uuid } from "./common.js";

const state = { point: null, linkTo: null, marker: null, map: null, suggestions: [], active: -1,
  categories: [], sent: null };

function name(thing) {
  return (document.documentElement.lang === "en" ? thing.name_en : thing.name_ko) || thing.code;
}

function field(id, label, control, hint) {
  return el("div", { class: "field" }, el("label", { for: id }, label), control,
    hint ? el("small", { id: `${id}-hint` }, hint) : null);
}

function setPoint(lat, lon, address) {
  state.point = { lat, lon };
  if (state.marker) state.marker.setLatLng([lat, lon]);
  else state.marker = L.marker([lat, lon], { keyboard: false }).addTo(state.map);
  state.map.setView([lat, lon], Math.max(state.map.getZoom(), 16));
  if (address !== undefined) document.getElementById("address").value = address;
  nearby();
}

async function suggest() {
  const input = document.getElementById("address");
  const list = document.getElementById("suggestions");
  const query = input.value.trim();
  state.active = -1;
  if (query.length < 2) { clear(list); input.setAttribute("aria-expanded", "false"); return; }
  let found = { candidates: [] };
  try { found = await api("/api/v1/geocode", { params: { q: query } }); } catch { /* typing on */ }
  if (input.value.trim() !== query) return;  // typed on meanwhile
  state.suggestions = (found.candidates || []).slice(0, 6);
  clear(list, state.suggestions.map((candidate, i) =>
    el("li", { id: `suggestion-${i}`, role: "option", "aria-selected": "false",
      onmousedown: (event) => { event.preventDefault(); pick(i); } },
    `${candidate.normalized} · ${candidate.district.name_ko}`)));
  input.setAttribute("aria-expanded", state.suggestions.length ? "true" : "false");
}

function highlight(i) {
  const list = document.getElementById("suggestions");
  state.active = i;
  [...list.children].forEach((item, n) => item.setAttribute("aria-selected", n === i ? "true" : "false"));
  document.getElementById("address").setAttribute("aria-activedescendant", i >= 0 ? `suggestion-${i}` : "");
}

function pick(i) {
  const candidate = state.suggestions[i];
  if (!candidate) return;
  clear(document.getElementById("suggestions"));
  document.getElementById("address").setAttribute("aria-expanded", "false");
  setPoint(candidate.location.lat, candidate.location.lon, candidate.normalized);
}

async function nearby() {
  const box = document.getElementById("nearby");
  const category = document.getElementById("category").value;
  if (!state.point || !category) { clear(box); return; }
  const found = await api("/api/v1/complaints/nearby",
    { params: { lat: state.point.lat, long: state.point.lon, category } });
  clear(box, el("h2", {}, t("nearby")),
    found.cases.length === 0 ? el("p", {}, t("none_nearby")) : el("ol", {}, found.cases.map((c) =>
      el("li", { class: c.would_link ? "would-link" : "" },
        el("span", {}, `${c.ticket} · ${Math.round(c.distance_m)} m · ${t(`s_${c.status}`)} · ${c.description}`),
        el("button", { type: "button", class: state.linkTo === c.ticket ? "primary" : "",
          "aria-pressed": state.linkTo === c.ticket ? "true" : "false",
          onclick: () => { state.linkTo = state.linkTo === c.ticket ? null : c.ticket; nearby(); } },
        state.linkTo === c.ticket ? t("linked", { t: c.ticket }) : t("link"))))));
}

async function submit(event) {
  event.preventDefault();
  const form = event.target.closest("form");
  const error = document.getElementById("form-error");
  error.textContent = "";
  const category = form.category.value;
  const description = form.description.value.trim();
  const address = form.address.value.trim();
  if (!category || !description || (!address && !state.point)) {
    error.textContent = `${t("required")}: ${[!category && t("category"), !description && t("description"),
      !address && !state.point && t("address")].filter(Boolean).join(", ")}`;
    (!category ? form.category : !description ? form.description : form.address).focus();
    return;
  }
  const body = { category, description, channel: "phone",
    reporter: { phone: form.phone.value.trim() || null, language: form.language.value } };
  if (state.point) body.location = state.point;
  if (address) body.address = address;
  if (state.linkTo) body.link_to = state.linkTo;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    // The same report sent again (its answer lost: a network error, a server restart) keeps
    // its Idempotency-Key, so the server stores it once; a changed report is a new one.
    const json = JSON.stringify(body);
    if (!state.sent || state.sent.json !== json) state.sent = { json, key: uuid() };
    const created = await api("/api/v1/complaints", { method: "POST", body, key: state.sent.key });
    state.sent = null;
    const texts = await api(`/api/v1/complaints/${created.ticket}/texts`);
    const result = document.getElementById("result");
    clear(result,
      el("h2", {}, `${t("received")}: `, el("span", { id: "ticket", class: "ticket" }, created.ticket)),
      el("p", {}, `${created.district.name_ko} · ${t(`s_${created.status}`)}`
        + (created.duplicate_of ? ` · ${t("linked", { t: created.duplicate_of })}` : "")),
      created.warnings.map((w) => el("p", { class: "warning" }, w.message)),
      el("h3", {}, t("citizen_text")),
      texts.texts.map((text) => el("blockquote", { class: "sms" }, text.text)),
      el("button", { type: "button", class: "primary", id: "again", onclick: reset }, t("new_case")));
    result.hidden = false;
    result.querySelector("#again").focus();
  } catch (problem) {
    error.textContent = problem.message;
  } finally {
    button.disabled = false;
  }
}

function reset() {
  const form = document.getElementById("intake");
  form.reset();
  state.point = null;
  state.linkTo = null;
  state.sent = null;
  if (state.marker) { state.marker.remove(); state.marker = null; }
  clear(document.getElementById("nearby"));
  document.getElementById("result").hidden = true;
  form.category.focus();
}

async function main() {
  const { app } = await start("intake");
  const categories = (await api("/api/v1/admin/categories")).categories.filter((c) => c.active);
  state.categories = categories;
  const address = el("input", { id: "address", name: "address", autocomplete: "off", role: "combobox",
    "aria-autocomplete": "list", "aria-controls": "suggestions", "aria-expanded": "false",
    "aria-describedby": "address-hint" });
  let timer = null;
  address.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 200); });
  address.addEventListener("keydown", (event) => {
    const count = state.suggestions.length;
    if (event.key === "ArrowDown" && count) { event.preventDefault(); highlight((state.active + 1) % count); }
    else if (event.key === "ArrowUp" && count) { event.preventDefault(); highlight((state.active - 1 + count) % count); }
    else if (event.key === "Enter" && state.active >= 0) { event.preventDefault(); pick(state.active); }
    else if (event.key === "Escape") { clear(document.getElementById("suggestions")); }
  });
  const form = el("form", { id: "intake", class: "intake-form", onsubmit: submit,
    onkeydown: (event) => { if (event.key === "Enter" && event.ctrlKey) submit(event); } },
  field("category", t("category"), el("select", { id: "category", name: "category", required: true,
    onchange: () => { state.linkTo = null; nearby(); } },
  el("option", { value: "" }, t("choose")), categories.map((c) => el("option", { value: c.code }, name(c))))),
  field("description", t("description"), el("textarea", { id: "description", name: "description",
    rows: 4, maxlength: 4000, required: true })),
  el("div", { class: "pair" },
    field("phone", t("phone"), el("input", { id: "phone", name: "phone", type: "tel", autocomplete: "off",
      inputmode: "tel", placeholder: "010-0000-0000" })),
    field("language", t("language_of"), el("select", { id: "language", name: "language" },
      [["ko", "한국어"], ["en", "English"], ["zh", "中文"], ["ja", "日本語"], ["vi", "Tiếng Việt"],
        ["mn", "Монгол"]].map(([code, label]) => el("option", { value: code }, label))))),
  field("address", t("address"), address, t("pin_hint")),
  el("ul", { id: "suggestions", class: "suggestions", role: "listbox", "aria-label": t("address") }),
  el("p", { id: "form-error", class: "error", role: "alert" }),
  el("button", { type: "submit", class: "primary" }, `${t("submit")} (Ctrl+Enter)`));
  const mapBox = el("div", { id: "map", class: "map small", "aria-hidden": "true" });
  app.append(el("main", { class: "intake" },
    el("section", { class: "form-side" }, form, el("section", { id: "nearby", class: "nearby", "aria-live": "polite" }),
      el("section", { id: "result", class: "result", hidden: true, "aria-live": "polite" })),
    mapBox));
  state.map = baseMap(mapBox);
  await outlines(state.map);
  state.map.on("click", async (event) => {
    const { lat, lng } = event.latlng;
    let text;
    try {
      const found = await api("/api/v1/reverse-geocode", { params: { lat, lon: lng } });
      text = found.address || "";
    } catch { text = ""; }
    setPoint(lat, lng, text);
  });
  form.category.focus();
  window.dasanReady = { ms: performance.now() };
}

main().catch(fail);
