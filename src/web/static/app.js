// rafthub pages: a little plain JavaScript on top of the REST API (cookie + XSRF header).
(function () {
  "use strict";
  const meta = (n) => document.querySelector(`meta[name="${n}"]`).content;
  const hub = meta("hub-prefix");
  const api = hub + "api";
  const q = encodeURIComponent;
  const status = (msg) => { const el = document.getElementById("status"); if (el) el.textContent = msg; };

  async function call(method, path, body) {
    const opts = { method, headers: { "X-XSRFToken": meta("xsrf"), "Accept": "application/jupyterhub-pagination+json" }, credentials: "same-origin" };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch(api + path, opts);
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!r.ok) throw new Error((data && data.message) || r.status + " " + r.statusText);
    return data;
  }
  const fmt = (ts) => ts ? new Date(ts).toLocaleString() : "never";
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) { if (k === "on") { for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f); } else e.setAttribute(k, v); }
    for (const k of kids) e.append(k);
    return e;
  };

  function followProgress(url, next) {
    const bar = document.getElementById("progress"), msg = document.getElementById("message"), log = document.getElementById("log");
    const src = new EventSource(url + (url.includes("?") ? "&" : "?") + "_xsrf=" + q(meta("xsrf")));
    src.onmessage = (e) => {
      const ev = JSON.parse(e.data);
      if (ev.progress !== undefined) bar.value = ev.progress;
      if (ev.message) { msg.textContent = ev.message; log.append(el("li", {}, ev.message)); }
      if (ev.ready) { src.close(); window.location.href = next || ev.url; }
      if (ev.failed) { src.close(); const f = document.getElementById("failed"); f.textContent = ev.message; f.hidden = false; document.getElementById("retry").hidden = false; }
    };
    src.onerror = () => { msg.textContent = "Lost contact with the hub, retrying..."; };
  }

  function home(user) {
    const stop = async (name, remove) => {
      status(remove ? "Deleting..." : "Stopping...");
      try {
        const path = name ? `/users/${q(user)}/servers/${q(name)}` : `/users/${q(user)}/server`;
        await call("DELETE", path, remove ? { remove: true } : undefined);
        window.location.reload();
      } catch (e) { status(e.message); }
    };
    const s = document.getElementById("stop");
    if (s) s.addEventListener("click", () => stop(""));
    document.querySelectorAll("[data-stop]").forEach((b) => b.addEventListener("click", () => stop(b.dataset.stop)));
    document.querySelectorAll("[data-delete]").forEach((b) => b.addEventListener("click", () => stop(b.dataset.delete, true)));
    const form = document.getElementById("new-named");
    if (form) form.addEventListener("submit", (e) => {
      e.preventDefault();
      window.location.href = `${hub}spawn/${q(user)}/${q(document.getElementById("server-name").value)}`;
    });
  }

  function tokens(user) {
    const body = document.querySelector("#tokens tbody");
    const load = async () => {
      const data = await call("GET", `/users/${q(user)}/tokens`);
      body.replaceChildren(...data.api_tokens.map((t) => el("tr", {},
        el("td", {}, t.note || ""), el("td", {}, t.oauth_client || ""), el("td", {}, fmt(t.created)),
        el("td", {}, fmt(t.last_activity)), el("td", {}, t.expires_at ? fmt(t.expires_at) : "never"),
        el("td", {}, el("button", { class: "btn small danger", on: { click: async () => { await call("DELETE", `/users/${q(user)}/tokens/${t.id}`); load(); } } }, "Revoke")))));
    };
    document.getElementById("request-token").addEventListener("submit", async (e) => {
      e.preventDefault();
      const req = { note: document.getElementById("note").value };
      const exp = document.getElementById("expires").value;
      if (exp) req.expires_in = parseInt(exp, 10);
      const sc = document.getElementById("scopes").value.trim();
      if (sc) req.scopes = sc.split(/\s+/);
      try {
        const t = await call("POST", `/users/${q(user)}/tokens`, req);
        document.getElementById("token-value").textContent = t.token;
        document.getElementById("new-token").hidden = false;
        load();
      } catch (err) { alert(err.message); }
    });
    load();
  }

  function admin() {
    const body = document.querySelector("#users tbody"), limit = 50;
    let offset = 0, total = 0;
    const load = async () => {
      const params = new URLSearchParams({ offset, limit, include_stopped_servers: "1", sort: document.getElementById("sort").value });
      const f = document.getElementById("filter").value, st = document.getElementById("state").value;
      if (f) params.set("name_filter", f);
      if (st) params.set("state", st);
      const data = await call("GET", "/users?" + params);
      total = data._pagination.total;
      document.getElementById("page-info").textContent = `${total ? offset + 1 : 0}-${Math.min(offset + limit, total)} of ${total}`;
      body.replaceChildren(...data.items.map((u) => {
        const srv = (u.servers || {})[""] || {};
        const running = srv.ready, pending = srv.pending;
        const act = async (method, path, b) => { try { await call(method, path, b); load(); } catch (e) { status(e.message); } };
        return el("tr", {},
          el("td", {}, u.name), el("td", {}, u.admin ? "yes" : ""),
          el("td", {}, running ? "running" : (pending || "stopped")),
          el("td", {}, fmt(u.last_activity)),
          el("td", {},
            running || pending
              ? el("button", { class: "btn small", on: { click: () => act("DELETE", `/users/${q(u.name)}/server`) } }, "Stop server")
              : el("button", { class: "btn small", on: { click: () => act("POST", `/users/${q(u.name)}/server`) } }, "Start server"),
            el("button", { class: "btn small danger", on: { click: () => { if (confirm(`Delete user ${u.name}?`)) act("DELETE", `/users/${q(u.name)}`); } } }, "Delete user")));
      }));
      const groups = await call("GET", "/groups");
      document.getElementById("groups").replaceChildren(...groups.items.map((g) => el("li", {}, `${g.name} (${(g.users || []).length} users)`)));
    };
    for (const id of ["filter", "state", "sort"]) document.getElementById(id).addEventListener("change", () => { offset = 0; load(); });
    document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); load(); });
    document.getElementById("next").addEventListener("click", () => { if (offset + limit < total) { offset += limit; load(); } });
    document.getElementById("add-users").addEventListener("submit", async (e) => {
      e.preventDefault();
      const names = document.getElementById("new-users").value.split(/\s+/).filter(Boolean);
      try { await call("POST", "/users", { usernames: names, admin: document.getElementById("new-admin").checked }); status(`Added ${names.length} users`); load(); } catch (err) { status(err.message); }
    });
    document.getElementById("add-group").addEventListener("submit", async (e) => {
      e.preventDefault();
      try { await call("POST", "/groups/" + q(document.getElementById("group-name").value)); load(); } catch (err) { status(err.message); }
    });
    load().catch((e) => status(e.message));
  }

  // The spawn options form: using a profile's options selects that profile.
  function spawnForm() {
    document.querySelectorAll("#spawn_form fieldset.profile").forEach((fs) => {
      const radio = fs.querySelector('input[type="radio"]');
      fs.querySelectorAll("select").forEach((s) => {
        for (const ev of ["focus", "change"]) s.addEventListener(ev, () => { radio.checked = true; });
      });
      // Typing a free-text value picks the "Other..." choice it belongs to.
      fs.querySelectorAll("input.unlisted-choice").forEach((t) => {
        t.addEventListener("input", () => {
          const s = document.getElementById(t.dataset.select);
          if (s) s.value = "unlisted-choice";
          radio.checked = true;
        });
      });
    });
  }

  window.rafthub = { call, followProgress, home, tokens, admin, spawnForm };
})();
