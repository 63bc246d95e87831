import { api, el, fmt, toast } from "/assets/api.js";

function section(title, ...content) {
  return el("section", { "aria-labelledby": `h-${title.replace(/\W+/g, "-")}` },
    el("h2", { id: `h-${title.replace(/\W+/g, "-")}`, text: title }), ...content);
}

function field(id, label, attrs = {}) {
  return [el("label", { for: id, text: label }), el("input", { id, ...attrs })];
}

export async function renderAccount(main, session) {
  const me = session.me;
  main.append(el("h1", { text: "Account" }),
    el("p", { class: "muted", text: `${me.email} · ${me.plan} plan · ${fmt.bytes(me.used_bytes)} of ${fmt.bytes(me.quota_bytes)} used` }));

  // Sessions: where this account is signed in, with hashed clients.
  const sessionsTable = el("table", { id: "sessions" });
  async function loadSessions() {
    const sessions = await api("GET", "/api/sessions");
    sessionsTable.replaceChildren(
      el("thead", {}, el("tr", {}, ["Signed in", "Last seen", "Client", ""].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, sessions.map((s) => el("tr", { "data-session": s.id },
        el("td", { text: fmt.date(s.created_at) }),
        el("td", { text: fmt.date(s.last_seen_at) }),
        el("td", { class: "muted", text: s.current ? "this browser" : `client ${s.client?.slice(0, 8) ?? "?"}…` }),
        el("td", {}, s.current ? null : el("button", {
          type: "button", "aria-label": `Revoke the session from ${fmt.date(s.created_at)}`, text: "Revoke",
          onclick: async () => { await api("DELETE", `/api/sessions/${s.id}`); toast("Session revoked."); loadSessions(); },
        }))))));
  }
  main.append(section("Sessions", sessionsTable));

  // Password.
  const pwError = el("p", { class: "error", role: "alert" });
  const pwForm = el("form", { class: "card", id: "password-form" },
    ...field("current-password", "Current password", { type: "password", autocomplete: "current-password", required: true }),
    ...field("new-password", "New password (at least 10 characters)", { type: "password", autocomplete: "new-password", required: true, minlength: 10 }),
    el("button", { type: "submit", class: "primary", text: "Change password" }), pwError);
  pwForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    pwError.textContent = "";
    try {
      await api("POST", "/api/account/password", { current_password: pwForm.querySelector("#current-password").value, new_password: pwForm.querySelector("#new-password").value });
      pwForm.reset();
      toast("Password changed; every other session was signed out.");
      loadSessions();
    } catch (err) { pwError.textContent = err.message; }
  });
  main.append(section("Password", pwForm));

  // Two-factor sign-in.
  const totpBox = el("div", { class: "card", id: "totp" });
  function renderTotp() {
    const error = el("p", { class: "error", role: "alert" });
    if (session.me.totp_enabled) {
      const form = el("form", {}, el("p", { text: "Two-factor sign-in is on." }),
        ...field("totp-off-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
        ...field("totp-off-code", "Current code", { inputmode: "numeric", autocomplete: "one-time-code", required: true }),
        el("button", { type: "submit", class: "danger", text: "Turn off" }), error);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        try {
          await api("POST", "/api/account/totp/disable", { password: form.querySelector("#totp-off-password").value, totp: form.querySelector("#totp-off-code").value });
          session.me = await api("GET", "/api/session");
          toast("Two-factor sign-in is off.");
          renderTotp();
        } catch (err) { error.textContent = err.message; }
      });
      totpBox.replaceChildren(form);
      return;
    }
    const start = el("form", {}, el("p", { text: "Protect sign-in with a code from an authenticator app." }),
      ...field("totp-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
      el("button", { type: "submit", class: "primary", text: "Set up two-factor sign-in" }), error);
    start.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const setup = await api("POST", "/api/account/totp/setup", { password: start.querySelector("#totp-password").value });
        const qr = el("img", { class: "qr", alt: "QR code to scan with an authenticator app", width: 220, height: 220, src: `data:image/svg+xml;utf8,${encodeURIComponent(setup.qr_svg)}` });
        const confirm = el("form", {}, qr,
          el("p", { class: "muted" }, "Or type this key: ", el("code", { id: "totp-secret", text: setup.secret })),
          ...field("totp-code", "The code your app shows", { inputmode: "numeric", autocomplete: "one-time-code", required: true }),
          el("button", { type: "submit", class: "primary", text: "Turn on" }), error);
        confirm.addEventListener("submit", async (ev) => {
          ev.preventDefault();
          try {
            const { recovery_codes: codes } = await api("POST", "/api/account/totp/enable", { code: confirm.querySelector("#totp-code").value });
            session.me = await api("GET", "/api/session");
            totpBox.replaceChildren(el("p", { text: "Two-factor sign-in is on. Keep these recovery codes somewhere safe; each works once, and they are shown only now:" }),
              el("ul", { class: "codes", id: "recovery-codes" }, codes.map((c) => el("li", { text: c }))),
              el("button", { type: "button", text: "I have saved them", onclick: renderTotp }));
          } catch (err) { error.textContent = err.message; }
        });
        totpBox.replaceChildren(confirm);
        confirm.querySelector("#totp-code").focus();
      } catch (err) { error.textContent = err.message; }
    });
    totpBox.replaceChildren(start);
  }
  renderTotp();
  main.append(section("Two-factor sign-in", totpBox));

  // Who accessed my files: this account's audit records.
  const activity = el("table", { id: "activity" });
  const labels = {
    "track.download": "played or downloaded", "track.upload": "uploaded", "track.delete": "deleted", "track.rename": "renamed",
    "track.analyze": "analysed", "session.create": "signed in", "session.revoke": "signed out or revoked",
    "share.create": "shared", "share.open": "opened a share", "share.play": "played a shared track",
    "share.download": "downloaded a shared track", "share.render": "watermarked copy made",
    "share.revoke": "share revoked", "share.recipient_revoke": "recipient revoked", "leak.trace": "traced a leak",
    "account.export": "exported the account",
    "stems.request": "asked for stems", "stems.cancel": "cancelled a separation",
    "stems.source_read": "read to separate its stems", "stems.store": "stems stored",
    "legal.notice": "told you of a legal request", "legal.export": "handed over for a legal request",
    "legal.audio_read": "read to hand over for a legal request",
  };
  const [entries, shares] = await Promise.all([api("GET", "/api/account/activity?limit=50"), api("GET", "/api/shares")]);
  // Recipients act through their links: show them by the name you gave them.
  const recipients = new Map(shares.flatMap((s) => s.recipients.map((r) => [`recipient:${r.id}`, `${r.name} (recipient)`])));
  // Stem workers name themselves at the head of the record's detail ("worker NAME; …").
  const workerName = (e) => /^worker ([^;]+);/.exec(e.detail ?? "")?.[1];
  const who = (e) => (e.actor === `user:${me.user_id}` ? "you"
    : e.actor.startsWith("worker:") ? `stem worker ${workerName(e) ?? ""}`.trim()
    : recipients.get(e.actor) ?? e.actor);
  activity.replaceChildren(
    el("thead", {}, el("tr", {}, ["When", "Who", "What", "Object", "Client"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, entries.map((e) => el("tr", {},
      el("td", { text: fmt.date(e.at_ms) }),
      el("td", { text: who(e) }),
      el("td", { text: labels[e.action] || e.action }),
      el("td", { class: "muted wrap", text: e.detail || e.object || "" }),
      el("td", { class: "muted", text: e.client ? `${e.client.slice(0, 8)}…` : "" })))));
  main.append(section("Who accessed my files", el("p", { class: "muted", text: "From the tamper-evident audit log. Client addresses are kept only as daily-salted hashes." }), activity));

  // Export: a single-use link the browser follows, so it saves the archive itself.
  const exportError = el("p", { class: "error", role: "alert" });
  const exportForm = el("form", { class: "card", id: "export-form" },
    el("p", { text: "Download everything this appliance holds about you: your account, every track with its analysis, your shares and who opened them, your activity, and your original audio files, as one tar archive." }),
    ...field("export-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
    session.me.totp_enabled ? field("export-code", "Two-factor code", { inputmode: "numeric", required: true }) : null,
    el("button", { type: "submit", class: "primary", text: "Export my data" }), exportError);
  exportForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    exportError.textContent = "";
    try {
      const { url } = await api("POST", "/api/account/export/link", { password: exportForm.querySelector("#export-password").value, totp: exportForm.querySelector("#export-code")?.value || null });
      exportForm.reset();
      window.location.assign(url);
      toast("Your export is downloading.");
    } catch (err) { exportError.textContent = err.message; }
  });
  main.append(section("Export my data", exportForm));

  // Deletion.
  const delError = el("p", { class: "error", role: "alert" });
  const delForm = el("form", { class: "card", id: "delete-form" },
    el("p", { text: "Deleting your account signs you out everywhere now; your tracks and keys are purged after a 30-day grace period, during which an admin can still cancel it." }),
    ...field("delete-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
    session.me.totp_enabled ? field("delete-code", "Two-factor code", { inputmode: "numeric", required: true }) : null,
    el("button", { type: "submit", class: "danger", text: "Delete my account" }), delError);
  delForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!window.confirm("Delete your account? You will be signed out.")) return;
    try {
      const res = await api("POST", "/api/account/delete", { password: delForm.querySelector("#delete-password").value, totp: delForm.querySelector("#delete-code")?.value || null });
      document.getElementById("main").replaceChildren(el("div", { class: "card narrow" },
        el("h1", { text: "Account scheduled for deletion" }),
        el("p", { text: `Everything will be purged after ${fmt.date(res.purge_after)}.` })));
      document.getElementById("nav").hidden = true;
    } catch (err) { delError.textContent = err.message; }
  });
  main.append(section("Delete account", delForm));
  await loadSessions();
}
