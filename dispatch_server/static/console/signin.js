// Sign in (a console session: an HttpOnly cookie), then on to the role's console.
import { api, CONSOLES, el, fail, t, toggleLanguage } from "./common.js";

function main() {
  const app = document.getElementById("app");
  app.classList.remove("loading");
  const error = el("p", { class: "error", role: "alert", "aria-live": "assertive" });
  const username = el("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const password = el("input", { id: "password", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const form = el("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const session = await api("/api/v1/auth/session", { method: "POST",
        body: { username: username.value.trim(), password: password.value } });
      const next = new URLSearchParams(location.search).get("next");
      const allowed = CONSOLES[session.role] || [];
      const wanted = next && allowed.some((name) => next === `/console/${name}`) ? next : null;
      location.assign(wanted || `/console/${allowed[0] || "dispatch"}`);
    } catch (problem) {
      password.value = "";
      error.textContent = problem.code === "signin_throttled"
        ? t("wait_s", { s: (problem.details || {}).retry_after }) : t("wrong");
    }
  } },
  el("h1", {}, t("app")),
  el("label", { for: "username" }, t("username")), username,
  el("label", { for: "password" }, t("password")), password,
  error,
  el("button", { type: "submit", class: "primary" }, t("sign_in")),
  el("button", { type: "button", class: "quiet", onclick: toggleLanguage }, t("language")));
  app.append(form);
  username.focus();
}

try { main(); } catch (error) { fail(error); }
