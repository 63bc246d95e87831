import { api, ask, el, fmt, loadOrder, onSubmit, toast } from "/assets/api.js";
import { stopNotifications } from "/assets/notifications.js";
import { resetPlayer } from "/assets/player.js";

function section(title, ...content) {
  return el("section", { "aria-labelledby": `h-${title.replace(/\W+/g, "-")}` },
    el("h2", { id: `h-${title.replace(/\W+/g, "-")}`, text: title }), ...content);
}

function field(id, label, attrs = {}) {
  return [el("label", { for: id, text: label }), el("input", { id, ...attrs })];
}

// A second-factor code field: shown, and required, while two-factor sign-in is on. Turning it
// on or off on the page updates every one (`showCodeFields`): a form built before asked for no
// code, and the server then refused it for want of one.
function codeField(id) {
  return el("div", { class: "code-field" }, ...field(id, "Two-factor code", { inputmode: "numeric", autocomplete: "one-time-code" }));
}

function showCodeFields(session) {
  for (const box of document.querySelectorAll(".code-field")) {
    box.hidden = !session.me.totp_enabled;
    box.querySelector("input").required = session.me.totp_enabled;
  }
}

// The processing purposes the owner may object to, as the page lists them.
const PURPOSES = [
  { id: "analysis", label: "Analysis of uploads", what: "tempo, key, loudness and the waveform of each upload" },
  { id: "stems", label: "Stem separation", what: "splitting a track into vocals, drums, bass and other when you ask" },
  { id: "marked_copies", label: "Watermarked copies for shares", what: "a copy marked for each recipient of a share, made when they first open it" },
];

function summary(me) {
  const who = me.display_name ? `${me.display_name} · ${me.email}` : me.email;
  return `${who} · ${me.plan} plan · ${fmt.bytes(me.used_bytes)} of ${fmt.bytes(me.quota_bytes)} used`;
}

// Your rights: the seven the privacy policy names, each with where it is exercised here.
function renderRights(session, summaryLine) {
  const box = el("div", { id: "rights" });
  const rights = [
    ["Access", "See who accessed your files below, and download everything held about you with Export my data."],
    ["Rectification", "Change your display name and your sign-in e-mail address below."],
    ["Erasure", "Delete account, at the end of this page: sign-in stops now, everything is purged after 30 days."],
    ["Portability", "Export my data gives you one archive of plain JSON files and your original audio, byte for byte."],
    ["Restriction", "Restrict processing below: no analysis, no stems, no new watermarked copies until you lift it. Your tracks and shares are kept."],
    ["Objection", "Object to each purpose on its own below."],
    ["Withdrawal of consent", "Nothing here rests on your consent: this appliance trains no model on your audio or data, and has no setting for it, so there is no consent to withdraw. Your audio is processed only for the purposes listed under Objection, each of which you can stop."],
  ];
  box.append(el("dl", { class: "rights" }, rights.flatMap(([right, how]) => [
    el("dt", { text: right }), el("dd", { text: how })])));

  // Rectification: the display name.
  const nameError = el("p", { class: "error", role: "alert" });
  const nameForm = el("form", { class: "card", id: "name-form" },
    el("h3", { text: "Display name" }),
    ...field("display-name", "Display name (up to 80 characters; empty clears it)", { maxlength: 80, value: session.me.display_name ?? "", autocomplete: "name" }),
    el("button", { type: "submit", class: "primary", text: "Save name" }), nameError);
  onSubmit(nameForm, async () => {
    nameError.textContent = "";
    try {
      session.me = await api("PUT", "/api/account/name", { display_name: nameForm.querySelector("#display-name").value });
      summaryLine.textContent = summary(session.me);
      toast(session.me.display_name ? "Display name saved." : "Display name cleared.");
    } catch (err) { nameError.textContent = err.message; }
  });

  // Rectification: the e-mail address, changed once a link sent to the new one is opened.
  const emailError = el("p", { class: "error", role: "alert" });
  const pending = el("p", { id: "email-pending", class: "muted" });
  const showPending = () => {
    const p = session.me.pending_email;
    pending.replaceChildren(...(p ? [
      `A confirmation link was sent to ${p.email}; it works until ${fmt.date(p.expires_at)}. Your address changes when you open it. `,
      el("button", { type: "button", id: "email-cancel", text: "Cancel the change", onclick: async () => {
        emailError.textContent = "";
        try {
          session.me = await api("DELETE", "/api/account/email");
          showPending();
          toast("The address change is cancelled; its link no longer works.");
        } catch (err) { emailError.textContent = err.message; }
      } }),
    ] : []));
  };
  showPending();
  const emailForm = el("form", { class: "card", id: "email-form" },
    el("h3", { text: "Sign-in e-mail address" }),
    el("p", { class: "muted", text: "We send a link to the new address; the change takes effect when you open it, and your current address is told." }),
    ...field("new-email", "New e-mail address", { type: "email", autocomplete: "email", required: true }),
    ...field("email-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
    codeField("email-code"),
    el("button", { type: "submit", class: "primary", text: "Send confirmation link" }), emailError, pending);
  onSubmit(emailForm, async () => {
    emailError.textContent = "";
    try {
      session.me.pending_email = await api("POST", "/api/account/email", {
        new_email: emailForm.querySelector("#new-email").value,
        password: emailForm.querySelector("#email-password").value,
        totp: emailForm.querySelector("#email-code")?.value || null,
      });
      emailForm.reset();
      showPending();
      toast("Confirmation link sent.");
    } catch (err) { emailError.textContent = err.message; }
  });

  // Restriction and objection: one switch for all, one per purpose.
  const processing = el("div", { class: "card", id: "processing" });
  function renderProcessing() {
    const me = session.me;
    const error = el("p", { class: "error", role: "alert" });
    // Focus goes back to the switch just used (`id`): on another, a second Space meant to undo
    // would change something else, as restricting the whole account.
    async function change(method, path, body, id) {
      error.textContent = "";
      try {
        session.me = await api(method, path, body);
        renderProcessing();
        toast(session.me.restricted ? "Processing of your account is restricted." : "Your processing choices are saved.");
      } catch (err) { renderProcessing(); processing.querySelector("p.error").textContent = err.message; }
      processing.querySelector(`#${id}`)?.focus();
    }
    const restrict = el("input", { type: "checkbox", role: "switch", id: "restrict", checked: me.restricted,
      onchange: (e) => change("PUT", "/api/account/restriction", { restricted: e.target.checked }, "restrict") });
    const purposes = PURPOSES.map((p) => {
      const objected = me.objections.includes(p.id);
      return el("li", {},
        el("input", { type: "checkbox", role: "switch", id: `object-${p.id}`, checked: objected,
          onchange: (e) => change("PUT", `/api/account/objections/${p.id}`, { objected: e.target.checked }, `object-${p.id}`) }),
        el("label", { for: `object-${p.id}`, class: "inline" }, el("strong", { text: `Object to ${p.label.toLowerCase()}` }), ` — ${p.what}. `,
          el("span", { class: objected ? "error" : "muted", text: objected ? "Stopped." : "On." })));
    });
    const analysisOff = !me.objections.includes("analysis") && !me.analysis;
    processing.replaceChildren(
      el("h3", { text: "Restriction and objection" }),
      el("p", {}, restrict,
        el("label", { for: "restrict", class: "inline" }, el("strong", { text: "Restrict processing of my account" }),
          " — freezes every purpose below: no analysis, no stems, no new watermarked copies. Your tracks, their analysis so far, your stems and your shares are kept; recipients keep the copies already made.")),
      el("p", { id: "processing-state", class: me.restricted ? "error" : "muted",
        text: me.restricted ? "Processing is restricted." : me.objections.length ? "You object to some processing." : "Processing is on for every purpose." }),
      el("ul", { class: "purposes" }, purposes),
      ...(analysisOff ? [el("p", { class: "muted", text: "Analysis of uploads is also off in your plan's settings." })] : []),
      error);
  }
  renderProcessing();
  box.append(nameForm, emailForm, processing);
  return box;
}

// Who accessed my files: what others (admins, the system, stem workers, recipients) did with
// this account's data, from the audit log.
const ACTOR_KINDS = { admin: "an admin", system: "the appliance", worker: "a stem worker", recipient: "a share recipient", upload_link: "a client through an upload link", anonymous: "someone signing in" };

export async function renderAccount(main, session) {
  const me = session.me;
  const summaryLine = el("p", { class: "muted", id: "account-summary", text: summary(me) });
  main.append(el("h1", { text: "Account" }), summaryLine);
  main.append(section("Your rights", renderRights(session, summaryLine)));

  // Sessions: where this account is signed in, with hashed clients.
  const sessionsTable = el("table", { id: "sessions" });
  const loads = loadOrder();
  async function loadSessions() {
    const isNewest = loads();
    const sessions = await api("GET", "/api/sessions");
    if (!isNewest()) return;
    sessionsTable.replaceChildren(
      el("thead", {}, el("tr", {}, ["Signed in", "Last seen", "Client", ""].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, sessions.map((s) => el("tr", { "data-session": s.id },
        el("td", { text: fmt.date(s.created_at) }),
        el("td", { text: fmt.date(s.last_seen_at) }),
        el("td", { class: "muted", text: s.current ? "this browser" : `client ${s.client?.slice(0, 8) ?? "?"}…` }),
        el("td", {}, s.current ? null : el("button", {
          type: "button", "aria-label": `Revoke the session from ${fmt.date(s.created_at)}`, text: "Revoke",
          onclick: async () => {
            try { await api("DELETE", `/api/sessions/${s.id}`); toast("Session revoked."); } catch (err) { toast(`Not revoked: ${err.message}`); }
            loadSessions().catch((err) => toast(err.message));
          },
        }))))));
  }
  main.append(section("Sessions", sessionsTable));

  // Password.
  const pwError = el("p", { class: "error", role: "alert" });
  // With two-factor sign-in on, a password change asks for a code too: it signs out every
  // other session, which a password alone must not be enough to do.
  const pwForm = el("form", { class: "card", id: "password-form" },
    ...field("current-password", "Current password", { type: "password", autocomplete: "current-password", required: true }),
    ...field("new-password", "New password (at least 10 characters)", { type: "password", autocomplete: "new-password", required: true, minlength: 10 }),
    codeField("password-code"),
    el("button", { type: "submit", class: "primary", text: "Change password" }), pwError);
  onSubmit(pwForm, async () => {
    pwError.textContent = "";
    try {
      await api("POST", "/api/account/password", {
        current_password: pwForm.querySelector("#current-password").value,
        new_password: pwForm.querySelector("#new-password").value,
        totp: pwForm.querySelector("#password-code").value || null,
      });
      pwForm.reset();
      // The change voided any address change waiting for its link.
      session.me.pending_email = null;
      document.getElementById("email-pending")?.replaceChildren();
      toast("Password changed; every other session was signed out, and a pending address change cancelled.");
      loadSessions();
    } catch (err) { pwError.textContent = err.message; }
  });
  main.append(section("Password", pwForm));

  // Two-factor sign-in.
  const totpBox = el("div", { class: "card", id: "totp" });
  function renderTotp() {
    showCodeFields(session);
    const error = el("p", { class: "error", role: "alert" });
    if (session.me.totp_enabled) {
      const form = el("form", {}, el("p", { text: "Two-factor sign-in is on." }),
        ...field("totp-off-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
        ...field("totp-off-code", "Current code", { inputmode: "numeric", autocomplete: "one-time-code", required: true }),
        el("button", { type: "submit", class: "danger", text: "Turn off" }), error);
      onSubmit(form, async () => {
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
    onSubmit(start, async () => {
      try {
        const setup = await api("POST", "/api/account/totp/setup", { password: start.querySelector("#totp-password").value });
        const qr = el("img", { class: "qr", alt: "QR code to scan with an authenticator app", width: 220, height: 220, src: `data:image/svg+xml;utf8,${encodeURIComponent(setup.qr_svg)}` });
        const confirm = el("form", {}, qr,
          el("p", { class: "muted" }, "Or type this key: ", el("code", { id: "totp-secret", text: setup.secret })),
          ...field("totp-code", "The code your app shows", { inputmode: "numeric", autocomplete: "one-time-code", required: true }),
          el("button", { type: "submit", class: "primary", text: "Turn on" }), error);
        onSubmit(confirm, async () => {
          try {
            const { recovery_codes: codes } = await api("POST", "/api/account/totp/enable", { code: confirm.querySelector("#totp-code").value });
            session.me = await api("GET", "/api/session");
            showCodeFields(session);
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

  // Review notifications by e-mail: each as it happens, one digest a day, or none.
  const MAIL = { immediate: ["Immediately", "You get an e-mail for each notification."], digest: ["Daily digest", "You get one e-mail a day with the day's notifications."], off: ["Off", "No notification e-mails: the bell still shows them."] };
  const mail = el("select", { id: "notification-mail", disabled: true },
    Object.entries(MAIL).map(([value, [text]]) => el("option", { value, text })));
  let savedMail = null;
  mail.addEventListener("change", async () => {
    try {
      await api("PUT", "/api/notifications/mail", { mail: mail.value });
      savedMail = mail.value;
      toast(MAIL[mail.value][1]);
    } catch (err) { mail.value = savedMail; toast(err.message); }
  });
  api("GET", "/api/notifications").then((n) => { savedMail = n.mail; mail.value = n.mail; mail.disabled = false; }, (err) => toast(err.message));
  main.append(section("Notifications", el("div", { class: "card", id: "notification-settings" },
    el("label", { for: "notification-mail", text: "Review notifications by e-mail" }), mail,
    el("p", { class: "muted", text: "When a recipient opens a share, plays a track to the end, downloads or comments, and when files arrive through an upload link." }))));

  // Activity: this account's audit records, yours and others'.
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
    "user.create": "created your account", "user.update": "changed your plan or quota", "user.suspend": "suspended your account",
    "user.resume": "resumed your account", "user.password_reset": "reset your password", "user.totp_reset": "reset your two-factor sign-in",
    "session.login_failed": "a refused sign-in", "account.name_change": "changed the display name",
    "account.email_change_start": "asked to change the e-mail address", "account.email_change_cancel": "cancelled an e-mail address change",
    "account.email_change": "changed the e-mail address",
    "account.restriction": "restricted processing, or lifted it", "account.objection": "objected to processing, or withdrew it",
    "legal.notice": "told you of a legal request", "legal.export": "handed over for a legal request",
    "legal.audio_read": "read to hand over for a legal request",
    "legal.keep": "kept for a legal hold after you deleted it", "legal.discard": "removed what a legal hold had kept",
  };
  const [entries, accessed, shares] = await Promise.all([api("GET", "/api/account/activity?limit=50"), api("GET", "/api/account/accessed?limit=100"), api("GET", "/api/shares")]);
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
  const accessedTable = el("table", { id: "accessed" },
    el("thead", {}, el("tr", {}, ["When", "Who", "What", "Object"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, accessed.map((e) => el("tr", { "data-actor-kind": e.actor_kind },
      el("td", { text: fmt.date(e.at) }),
      el("td", { text: e.actor_kind === "admin" ? "an admin" : e.actor_kind === "recipient" ? (recipients.get(e.actor) ?? ACTOR_KINDS.recipient)
        : e.actor_kind === "worker" ? `stem worker ${workerName(e) ?? ""}`.trim() : (ACTOR_KINDS[e.actor_kind] ?? e.actor) }),
      el("td", { text: labels[e.action] || e.action }),
      el("td", { class: "muted wrap", text: e.detail || e.object || "" })))));
  main.append(section("Who accessed my files",
    el("p", { class: "muted", text: "Everything anyone but you did with your files and account: admins (leak traces that reached your shares, exports answering a legal request), the appliance itself (analysis, watermarked copies), stem workers and your share recipients. From the tamper-evident audit log." }),
    accessed.length ? accessedTable : el("p", { id: "accessed-none", text: "No one but you has accessed your files." })));
  main.append(section("Your activity", el("p", { class: "muted", text: "Every audit record of your account, yours included. Client addresses are kept only as daily-salted hashes." }), activity));

  // Export: a single-use link the browser follows, so it saves the archive itself.
  const exportError = el("p", { class: "error", role: "alert" });
  const exportForm = el("form", { class: "card", id: "export-form" },
    el("p", { text: "Download everything this appliance holds about you: your account, every track with its analysis, your shares and who opened them, your activity, and your original audio files, as one tar archive." }),
    ...field("export-password", "Password", { type: "password", autocomplete: "current-password", required: true }),
    codeField("export-code"),
    el("button", { type: "submit", class: "primary", text: "Export my data" }), exportError);
  onSubmit(exportForm, async () => {
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
    codeField("delete-code"),
    el("button", { type: "submit", class: "danger", text: "Delete my account" }), delError);
  onSubmit(delForm, async () => {
    if (!await ask("Delete your account? You will be signed out everywhere now, and everything is purged after the grace period.", "Delete my account", { danger: true })) return;
    try {
      const res = await api("POST", "/api/account/delete", { password: delForm.querySelector("#delete-password").value, totp: delForm.querySelector("#delete-code")?.value || null });
      // Signed out now: the bell's next poll would reload to the sign-in page over this one,
      // and the player must not keep the account's track.
      stopNotifications();
      resetPlayer();
      document.getElementById("main").replaceChildren(el("div", { class: "card narrow" },
        el("h1", { text: "Account scheduled for deletion" }),
        el("p", { text: `Everything will be purged after ${fmt.date(res.purge_after)}.` })));
      document.getElementById("nav").hidden = true;
    } catch (err) { delError.textContent = err.message; }
  });
  main.append(section("Delete account", delForm));
  showCodeFields(session);
  await loadSessions();
}

// The page an address-change link opens (`/confirm-email#<token>`): whoever has the link may
// confirm, signed in or not. The token stays in the fragment, so it never reaches a server log
// or a Referer; a button confirms, so a mail scanner that fetches the page changes nothing.
export function renderConfirmEmail(main, onDone) {
  const token = location.hash.slice(1);
  history.replaceState(null, "", "/confirm-email");
  const error = el("p", { class: "error", role: "alert" });
  const box = el("div", { class: "card narrow", id: "confirm-email" }, el("h1", { text: "Confirm your new e-mail address" }));
  if (!token) {
    box.append(el("p", { class: "error", text: "This link is incomplete: open the whole link from the e-mail." }));
    main.replaceChildren(box);
    return;
  }
  const button = el("button", { type: "button", class: "primary", id: "confirm-email-button", text: "Use this address to sign in",
    onclick: async () => {
      error.textContent = "";
      button.disabled = true;
      try {
        const { email } = await api("POST", "/api/account/email/confirm", { token });
        box.replaceChildren(el("h1", { text: "Your e-mail address is changed" }),
          el("p", { id: "confirm-email-done" }, "From now on, sign in with ", el("strong", { text: email }), "."),
          el("button", { type: "button", class: "primary", text: "Continue", onclick: () => onDone() }));
      } catch (err) { error.textContent = err.message; button.disabled = false; }
    } });
  box.append(el("p", { text: "Confirm that this appliance may use the address this link was sent to as your sign-in address." }), button, error);
  main.replaceChildren(box);
  button.focus();
}
