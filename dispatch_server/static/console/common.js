// What every console shares: the API (session cookie + CSRF token), words in Korean and
// English, a DOM builder (text only: data never becomes markup), the top bar.

const WORDS = {
  ko: {
    app: "다산 현장", dispatch: "상황판", intake: "민원 접수", stats: "통계", sign_out: "로그아웃",
    sign_in: "로그인", username: "아이디", password: "비밀번호", wrong: "아이디 또는 비밀번호가 맞지 않습니다",
    wait_s: "로그인 실패가 많습니다: {s}초 뒤에 다시 시도하세요", language: "English",
    cases: "민원", open_cases: "미결 민원 {n}건", in_view: "지도 안 {n}건", all: "전체",
    category: "분야", status: "상태", sla: "처리기한", team: "팀", district: "자치구",
    on_time: "정상", warning: "임박", breached: "초과", paused: "중지", none: "기한 없음",
    due_in: "{t} 남음", overdue: "{t} 초과", inspectors: "현장 요원", on_duty: "근무 중",
    off_duty: "근무 종료", assign: "배정", reassign: "재배정", priority: "우선순위",
    refer: "이관", cancel: "취소", show_phone: "연락처 보기", timeline: "처리 이력",
    photos: "사진", candidates: "배정 후보", clocks: "처리기한", close: "닫기",
    reason: "사유", agency: "이관 기관", load: "담당 {n}건", distance: "{d}",
    live: "실시간", reconnecting: "다시 연결 중", description: "민원 내용", address: "주소",
    phone: "연락처", language_of: "안내 언어", submit: "접수", pin_hint: "지도를 눌러 위치를 지정할 수 있습니다",
    nearby: "근처 같은 분야 미결 민원", none_nearby: "근처에 같은 민원이 없습니다",
    link: "이 민원에 연결", linked: "연결: {t}", unlink: "연결 취소", received: "접수되었습니다",
    ticket: "접수번호", citizen_text: "시민에게 가는 문자", new_case: "새 민원",
    from: "시작", to: "끝", apply: "적용", export_csv: "CSV 내려받기", per_day: "일별 접수",
    per_hour: "시간대별 접수", per_district: "자치구별", per_category: "분야별",
    sla_stages: "단계별 기한 준수", time_to_site: "현장 도착까지 (중앙값)", first_visit: "1회 방문 해결",
    duplicates: "중복 비율", hotspots: "다발 지역", count: "건수", compliance: "준수율",
    minutes: "분", stage: "단계", met: "준수", missed: "초과", total: "전체 접수",
    assign_stage: "배정", arrive_stage: "현장 도착", resolve_stage: "처리",
    not_allowed: "이 계정은 이 화면을 쓸 수 없습니다", required: "필수 항목입니다",
    choose: "선택", error: "오류", saved: "저장됨", p_low: "낮음", p_normal: "보통", p_high: "높음",
    p_urgent: "긴급", s_received: "접수", s_needs_triage: "분류 필요", s_assigned: "배정",
    s_accepted: "수락", s_en_route: "출동", s_on_site: "현장", s_resolved: "처리 완료",
    s_unresolved: "처리 불가", s_referred: "이관", s_reopened: "재개", s_closed: "종결",
    s_cancelled: "취소", s_duplicate: "중복", c_running: "진행 중", c_paused: "일시 중지",
    c_stopped: "멈춤", c_cancelled: "취소됨",
  },
  en: {
    app: "Dasan Field", dispatch: "Dispatch", intake: "Intake", stats: "Statistics",
    sign_out: "Sign out", sign_in: "Sign in", username: "Username", password: "Password",
    wrong: "Wrong username or password", wait_s: "Too many failed sign-ins: try again in {s} s",
    language: "한국어", cases: "Cases", open_cases: "{n} open cases", in_view: "{n} in view",
    all: "All", category: "Category", status: "Status", sla: "Deadline", team: "Team",
    district: "District", on_time: "On time", warning: "Due soon", breached: "Overdue",
    paused: "Paused", none: "No deadline", due_in: "{t} left", overdue: "{t} over",
    inspectors: "Inspectors", on_duty: "On duty", off_duty: "Off duty", assign: "Assign",
    reassign: "Reassign", priority: "Priority", refer: "Refer", cancel: "Cancel",
    show_phone: "Show phone", timeline: "Timeline", photos: "Photos", candidates: "Candidates",
    clocks: "Deadlines", close: "Close", reason: "Reason", agency: "Agency",
    load: "{n} open", distance: "{d}", live: "Live", reconnecting: "Reconnecting",
    description: "Complaint", address: "Address", phone: "Phone", language_of: "Text language",
    submit: "Log complaint", pin_hint: "Click the map to place the complaint",
    nearby: "Open cases of the category nearby", none_nearby: "No open case like it nearby",
    link: "Link to this case", linked: "Linked to {t}", unlink: "Unlink", received: "Logged",
    ticket: "Ticket", citizen_text: "Text the citizen gets", new_case: "New complaint",
    from: "From", to: "To", apply: "Apply", export_csv: "Download CSV", per_day: "Per day",
    per_hour: "Per hour of day", per_district: "Per district", per_category: "Per category",
    sla_stages: "Deadlines met per stage", time_to_site: "Time to site (median)",
    first_visit: "Resolved at the first visit", duplicates: "Duplicates", hotspots: "Hot spots",
    count: "Count", compliance: "Compliance", minutes: "min", stage: "Stage", met: "Met",
    missed: "Missed", total: "Complaints", assign_stage: "Assign", arrive_stage: "Arrive",
    resolve_stage: "Resolve", not_allowed: "This account cannot use this console",
    required: "Required", choose: "Choose", error: "Error", saved: "Saved", p_low: "Low",
    p_normal: "Normal", p_high: "High", p_urgent: "Urgent", s_received: "Received",
    s_needs_triage: "Needs triage", s_assigned: "Assigned", s_accepted: "Accepted",
    s_en_route: "On the way", s_on_site: "On site", s_resolved: "Resolved",
    s_unresolved: "Unresolved", s_referred: "Referred", s_reopened: "Reopened",
    s_closed: "Closed", s_cancelled: "Cancelled", s_duplicate: "Duplicate", c_running: "running",
    c_paused: "paused", c_stopped: "stopped", c_cancelled: "cancelled",
  },
};

// Korean unless the user chose English (the city's staff work in Korean).
export const lang = localStorage.getItem("dasan.lang") === "en" ? "en" : "ko";
document.documentElement.lang = lang;

export function t(key, values = {}) {
  const text = (WORDS[lang] && WORDS[lang][key]) || WORDS.en[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

export function toggleLanguage() {
  localStorage.setItem("dasan.lang", lang === "ko" ? "en" : "ko");
  location.reload();
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function csrfToken() {
  const found = document.cookie.split("; ").find((part) => part.startsWith("dasan_csrf="));
  return found ? decodeURIComponent(found.slice("dasan_csrf=".length)) : "";
}

export async function api(path, { method = "GET", body, params, key } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { "X-CSRF-Token": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  const answer = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (answer.status === 401 && !path.startsWith("/api/v1/auth/session")) {
    location.assign(`/console?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError(401, "unauthenticated", "sign in");
  }
  const text = await answer.text();
  const data = text ? JSON.parse(text) : null;
  if (!answer.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(answer.status, error.code || "error", error.message || answer.statusText,
      error.details);
  }
  return data;
}

// el("div", {class: "x", onclick: f}, "text", child, ...): text children stay text.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
}

export function uuid() {
  return crypto.randomUUID ? crypto.randomUUID()
    : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
}

export function duration(seconds) {
  const s = Math.abs(Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(rest).padStart(2, "0")}`
    : `${String(m).padStart(2, "0")}:${String(rest).padStart(2, "0")}`;
}

export function localTime(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return moment.toLocaleString(lang === "ko" ? "ko-KR" : "en-GB",
    { timeZone: "Asia/Seoul", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

// The deadline's state now, from the next clock (on_time / warning / breached / paused / none).
export function slaState(clockState, warnAt, dueAt, now = Date.now()) {
  if (!clockState || !dueAt) return "none";
  if (clockState === "paused") return "paused";
  if (now >= Date.parse(dueAt)) return "breached";
  if (warnAt && now >= Date.parse(warnAt)) return "warning";
  return "on_time";
}

export const CONSOLES = {
  agent: ["intake"],
  dispatcher: ["dispatch", "stats"],
  supervisor: ["stats", "dispatch"],
  admin: ["dispatch", "stats"],
};

// The top bar: the consoles the account may use, the language, signing out.
export async function start(page) {
  const me = await api("/api/v1/auth/me");
  const allowed = CONSOLES[me.role] || [];
  if (!allowed.includes(page)) {
    throw new ApiError(403, "forbidden", t("not_allowed"));
  }
  const bar = el("header", { class: "bar" },
    el("strong", { class: "brand" }, t("app")),
    el("nav", { "aria-label": t("app") }, allowed.map((name) =>
      el("a", { href: `/console/${name}`, "aria-current": name === page ? "page" : null }, t(name)))),
    el("span", { class: "who" }, `${me.username} · ${me.districts.join(", ") || t("all")}`),
    el("button", { type: "button", class: "quiet", onclick: toggleLanguage }, t("language")),
    el("button", {
      type: "button", class: "quiet", onclick: async () => {
        await api("/api/v1/auth/sign-out", { method: "POST" }).catch(() => null);
        location.assign("/console");
      },
    }, t("sign_out")));
  const app = document.getElementById("app");
  app.classList.remove("loading");
  clear(app, bar);
  return { me, app };
}

export function fail(error) {
  const app = document.getElementById("app");
  app.classList.remove("loading");
  const bar = app.querySelector(".bar");
  const message = el("p", { class: "error banner", role: "alert" }, `${t("error")}: ${error.message || error}`);
  if (bar) bar.after(message); else app.prepend(message);
  console.error(error);
}

export function csv(rows, name) {
  // UTF-8 with a byte-order mark, so spreadsheet programs read the Korean right.
  const text = rows.map((row) => row.map((cell) => {
    const value = cell === null || cell === undefined ? "" : String(cell);
    return /[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
  }).join(",")).join("\r\n");
  const link = el("a", { href: URL.createObjectURL(new Blob(["\ufeff" + text], { type: "text/csv" })),
    download: `${name}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
}

export function baseMap(container) {
  // maxZoom: with no tile layer to say it, the cluster layer needs it from the map.
  const map = L.map(container, { preferCanvas: true, zoomControl: true, minZoom: 9, maxZoom: 19 })
    .setView([37.5665, 126.978], 12);
  const tiles = document.body.dataset.tiles;
  if (tiles) {
    L.tileLayer(tiles, { attribution: document.body.dataset.tilesAttribution || "", maxZoom: 19 }).addTo(map);
  }
  return map;
}

export async function outlines(map, highlight = [], fetched = null) {
  const districts = await (fetched || api("/api/v1/districts"));
  const layer = L.geoJSON(districts, {
    style: (feature) => {
      const mine = highlight.length === 0 || highlight.includes(feature.properties.code);
      return { color: mine ? "#0b3d91" : "#8a8a8a", weight: mine ? 2 : 1, fillColor: mine ? "#dfe8f7" : "#eeeeee",
        fillOpacity: mine ? 0.35 : 0.15 };
    },
    onEachFeature: (feature, shape) =>
      shape.bindTooltip(lang === "ko" ? feature.properties.name_ko : feature.properties.name_en,
        { sticky: true }),
  }).addTo(map);
  const mine = highlight.length
    ? L.featureGroup(layer.getLayers().filter((shape) => highlight.includes(shape.feature.properties.code)))
    : layer;
  if (mine.getLayers().length) map.fitBounds(mine.getBounds(), { padding: [10, 10] });
  return districts;
}
