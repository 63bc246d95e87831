// Shares: pick tracks in playlist order, name recipients, set the rules; then each recipient's
// own link to send, what each of them opened, played and downloaded, what parts of each track
// they heard (a heat map over the waveform), the tracks' comments, and revocation.
import { api, ask, el, fmt, loadOrder, onSubmit, toast } from "/assets/api.js";
import { openComments } from "/assets/player.js";
import { drawHeat } from "/assets/waveform.js";

const DAY_MS = 86_400_000;

// Waveform peaks by track id, fetched once per page for the heat maps.
const peaksOf = new Map();
function peaks(id) {
  if (!peaksOf.has(id)) {
    peaksOf.set(id, fetch(`/api/tracks/${id}/peaks?zoom=1024`, { credentials: "same-origin" })
      .then((res) => (res.ok ? res.json() : null), () => null));
  }
  return peaksOf.get(id);
}

/// "0:00–1:30 and 2:10–2:40": the parts heard, from the heat map's buckets.
function heardParts(heat, duration) {
  const at = (i) => (duration ? fmt.duration((i / heat.length) * duration) : `${Math.round((i / heat.length) * 100)} %`);
  const parts = [];
  for (let i = 0; i < heat.length; i++) {
    if (!(heat[i] > 0)) continue;
    const from = i;
    while (i + 1 < heat.length && heat[i + 1] > 0) i++;
    parts.push(`${at(from)}–${at(i + 1)}`);
  }
  return parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}` : parts[0];
}

function heatMap(name, t) {
  const heard = heardParts(t.heat, t.duration_secs);
  const canvas = el("canvas", { class: "heat", role: "img", "data-track": t.track, "aria-label": heard ? `${name} heard ${heard}` : `${name} has not heard it yet` });
  canvas.heat = t.heat;
  return canvas;
}

// Draws every heat map in `root`: bare at once, over the waveform once its peaks arrive.
function drawHeatMaps(root) {
  for (const canvas of root.querySelectorAll("canvas.heat")) {
    drawHeat(canvas, null, canvas.heat);
    peaks(canvas.dataset.track).then((p) => { if (p && canvas.isConnected) drawHeat(canvas, p, canvas.heat); });
  }
}

function listeningPart(listening) {
  const box = el("div", { class: "listening" }, el("h3", { text: "Listening" }));
  if (!listening) {
    box.append(el("p", { class: "muted", text: "Who listened could not be loaded." }));
    return box;
  }
  const rows = listening.recipients.flatMap((r) => {
    const who = (first) => el("th", { scope: "row", class: "wrap" }, r.name,
      first && r.listened_secs > 0 ? el("div", { class: "muted small", text: `${fmt.duration(r.listened_secs)} in all` }) : null);
    if (r.listened_secs === 0 || r.tracks.length === 0) {
      return [el("tr", { "data-recipient": r.recipient }, who(true), el("td", { colspan: 7, class: "muted", text: "Not listened yet." }))];
    }
    return r.tracks.map((t, i) => el("tr", { "data-recipient": r.recipient, "data-track": t.track },
      who(i === 0),
      el("td", { class: "wrap", text: t.name }),
      el("td", {}, heatMap(r.name, t)),
      el("td", { class: "num", text: fmt.duration(t.listened_secs) }),
      el("td", { class: "num", text: String(t.sessions) }),
      el("td", { class: "num", text: `${Math.round(t.coverage * 100)} %` }),
      el("td", { text: t.played_to_end ? "played to the end" : "—" }),
      el("td", { class: "muted", text: t.last_listen ? fmt.ago(t.last_listen) : "—", title: t.last_listen ? fmt.date(t.last_listen) : null })));
  });
  box.append(el("table", { class: "listening-table" },
    el("thead", {}, el("tr", {}, ["Recipient", "Track", "Heard", "Listened", "Sessions", "Coverage", "To the end", "Last listen"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows)));
  return box;
}

/// "Name <email>" or "Name", one per line.
function parseRecipients(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const m = line.match(/^(.*?)\s*<([^>]+)>$/);
    return m ? { name: m[1].trim(), email: m[2].trim() } : { name: line };
  });
}

function lastActivity(r) {
  const e = r.events.filter((x) => x.kind !== "copy_issued").at(-1);
  return e ? `${e.kind} ${fmt.date(e.at)}` : "not opened yet";
}

export async function renderShares(main) {
  const error = el("p", { class: "error", role: "alert" });
  const picked = [];
  const trackList = el("ol", { class: "pick-list", id: "share-tracks", "aria-label": "Tracks to share" });
  const form = el("form", { class: "card share-form", id: "share-form" },
    el("label", { for: "share-title", text: "Title" }),
    el("input", { id: "share-title", placeholder: "Album preview" }),
    el("fieldset", {}, el("legend", { text: "Tracks, in playing order" }), trackList),
    el("label", { for: "share-recipients", text: "Recipients, one per line: Name <e-mail>" }),
    el("textarea", { id: "share-recipients", rows: 3, required: true, placeholder: "Ana Label <ana@label.example>" }),
    el("div", { class: "row" },
      el("div", {}, el("label", { for: "share-days", text: "Expires after (days)" }),
        el("input", { id: "share-days", type: "number", min: 1, max: 365, value: 14 })),
      el("div", {}, el("label", { for: "share-plays", text: "Plays per recipient" }),
        el("input", { id: "share-plays", type: "number", min: 1, placeholder: "no limit" })),
      el("div", {}, el("label", { for: "share-downloads", text: "Downloads per recipient" }),
        el("input", { id: "share-downloads", type: "number", min: 1, placeholder: "no limit" }))),
    el("label", { for: "share-password", text: "Password (optional)" }),
    el("input", { id: "share-password", type: "password", autocomplete: "new-password" }),
    el("label", { class: "check" }, el("input", { id: "share-download", type: "checkbox" }), " Allow downloads (otherwise streaming only)"),
    el("label", { class: "check" }, el("input", { id: "share-follow", type: "checkbox", checked: true }), " Follow the newest version of each track"),
    el("button", { type: "submit", class: "primary", text: "Create share" }), error);
  const list = el("div", { id: "shares" });
  main.append(el("h1", { text: "Shares" }),
    el("details", { class: "new-share" }, el("summary", { text: "New share" }), form),
    list);

  // Every version, to name the tracks of older shares; the picker offers the newest of each.
  const all = (await api("GET", "/api/tracks?sort=name&order=asc&limit=500&stems=include&versions=all")).items;
  const byId = new Map(all.map((t) => [t.id, t]));
  const tracks = all.filter((t) => !t.version || t.version.latest);
  function renderPicker() {
    trackList.replaceChildren(...tracks.map((t) => {
      const order = picked.indexOf(t.id);
      return el("li", {}, el("label", { class: "check" },
        el("input", {
          type: "checkbox", value: t.id, checked: order >= 0,
          onchange: (e) => {
            if (e.target.checked) picked.push(t.id); else picked.splice(picked.indexOf(t.id), 1);
            renderPicker();
          },
        }),
        ` ${t.name} `, el("span", { class: "muted", text: order >= 0 ? `#${order + 1}` : fmt.duration(t.duration_secs) })));
    }));
    if (tracks.length === 0) trackList.append(el("li", { class: "muted", text: "Upload tracks in the library first." }));
  }
  renderPicker();

  onSubmit(form, async () => {
    error.textContent = "";
    const value = (id) => form.querySelector(`#${id}`).value;
    const number = (id) => (value(id) ? Number(value(id)) : undefined);
    if (picked.length === 0) { error.textContent = "Pick at least one track."; return; }
    try {
      await api("POST", "/api/shares", {
        title: value("share-title") || undefined,
        tracks: picked,
        recipients: parseRecipients(value("share-recipients")),
        expires_at: Date.now() + number("share-days") * DAY_MS,
        password: value("share-password") || undefined,
        allow_download: form.querySelector("#share-download").checked,
        play_limit: number("share-plays"),
        download_limit: number("share-downloads"),
        follow_latest: form.querySelector("#share-follow").checked,
      });
      form.reset();
      picked.length = 0;
      renderPicker();
      form.closest("details").open = false;
      toast("Share created: send each recipient their own link.");
      load();
    } catch (err) { error.textContent = err.message; }
  });

  // Revocation cannot be undone: it is asked first, and a failure is said.
  async function revoke(path, question, done) {
    if (!(await ask(question, "Revoke", { danger: true }))) return;
    try {
      await api("DELETE", path);
      toast(done);
    } catch (err) {
      toast(`Not revoked: ${err.message}`);
    }
    load().catch((err) => toast(err.message));
  }

  // The share's tracks, each with a way to its comment threads in the player.
  function shareTracks(s, listening) {
    const names = new Map(listening?.recipients.flatMap((r) => r.tracks.map((t) => [t.track, t.name])) ?? []);
    return el("ul", { class: "share-track-list", "aria-label": `Tracks of ${s.title}` }, s.tracks.map((id) => {
      const name = byId.get(id)?.name ?? names.get(id) ?? "A track no longer in the library";
      return el("li", { "data-track": id }, el("span", { text: name }), " ", el("button", {
        type: "button", class: "quiet open-comments", "data-track": id, "aria-label": `Comments on ${name}`, text: "Comments",
        onclick: () => openComments(byId.get(id) ?? id).catch((e) => toast(e.message)),
      }));
    }));
  }

  const loads = loadOrder();
  async function load() {
    const isNewest = loads();
    const shares = await api("GET", "/api/shares");
    if (!isNewest()) return;
    if (shares.length === 0) {
      list.replaceChildren(el("p", { class: "muted", text: "No shares yet." }));
      return;
    }
    const listening = await Promise.all(shares.map((s) => api("GET", `/api/shares/${s.id}/listening`).catch(() => null)));
    if (!isNewest()) return;
    list.replaceChildren(...shares.map((s, i) => el("section", { class: "share", id: `share-${s.id}`, "data-share": s.id, "aria-label": s.title },
      el("h2", { text: s.title }),
      el("p", { class: "muted", text: [
        `${s.tracks.length} track${s.tracks.length === 1 ? "" : "s"}`,
        s.status === "active" ? `until ${fmt.date(s.expires_at)}` : s.status,
        s.allow_download ? "download allowed" : "streaming only",
        s.password ? "password" : null,
        s.watermark ? "watermarked per recipient" : null,
        s.follow_latest ? "follows the newest versions" : "these versions only",
      ].filter(Boolean).join(" · ") }),
      shareTracks(s, listening[i]),
      el("table", {},
        el("thead", {}, el("tr", {}, ["Recipient", "Link", "Plays", "Downloads", "Last", ""].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, s.recipients.map((r) => {
          const url = `${location.origin}${r.link}`;
          return el("tr", { "data-recipient": r.id },
            el("td", { class: "wrap", text: r.email ? `${r.name} <${r.email}>` : r.name }),
            el("td", {}, r.revoked_at || s.status !== "active" ? el("span", { class: "muted", text: "—" }) :
              el("button", {
                type: "button", class: "copy-link", "data-link": url, "aria-label": `Copy link for ${r.name}`, text: "Copy link",
                onclick: () => navigator.clipboard?.writeText(url).then(() => toast("Link copied."), () => toast(url)),
              })),
            el("td", { class: "num", text: String(r.plays) }),
            el("td", { class: "num", text: String(r.downloads) }),
            el("td", { class: "muted", text: r.revoked_at ? "revoked" : lastActivity(r) }),
            el("td", {}, r.revoked_at || s.status !== "active" ? null : el("button", {
              type: "button", class: "danger", "aria-label": `Revoke ${r.name}`, text: "Revoke",
              onclick: () => revoke(`/api/shares/${s.id}/recipients/${r.id}`,
                `Revoke ${r.name}’s link to “${s.title}”? It stops working at once, and this cannot be undone.`,
                `${r.name}’s link revoked.`),
            })));
        }))),
      listeningPart(listening[i]),
      s.status === "active" ? el("button", {
        type: "button", class: "danger", text: "Revoke the whole share",
        onclick: () => revoke(`/api/shares/${s.id}`,
          `Revoke “${s.title}” for every recipient? Their links stop working at once, and this cannot be undone.`,
          `“${s.title}” revoked.`),
      }) : null)));
    drawHeatMaps(list);
  }
  await load();
  // A notification links here with the share in the fragment.
  if (location.hash.startsWith("#share-")) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}
