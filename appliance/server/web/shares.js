// Shares: pick tracks in playlist order, name recipients, set the rules; then each recipient's
// own link to send, what each of them opened, played and downloaded, and revocation.
import { api, el, fmt, toast } from "/assets/api.js";

const DAY_MS = 86_400_000;

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
    el("button", { type: "submit", class: "primary", text: "Create share" }), error);
  const list = el("div", { id: "shares" });
  main.append(el("h1", { text: "Shares" }),
    el("details", { class: "new-share" }, el("summary", { text: "New share" }), form),
    list);

  const tracks = (await api("GET", "/api/tracks?sort=name&order=asc&limit=500&stems=include")).items;
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

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
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
      });
      form.reset();
      picked.length = 0;
      renderPicker();
      form.closest("details").open = false;
      toast("Share created: send each recipient their own link.");
      load();
    } catch (err) { error.textContent = err.message; }
  });

  async function revoke(path, what) {
    await api("DELETE", path);
    toast(`${what} revoked.`);
    load();
  }

  async function load() {
    const shares = await api("GET", "/api/shares");
    if (shares.length === 0) {
      list.replaceChildren(el("p", { class: "muted", text: "No shares yet." }));
      return;
    }
    list.replaceChildren(...shares.map((s) => el("section", { class: "share", "data-share": s.id, "aria-label": s.title },
      el("h2", { text: s.title }),
      el("p", { class: "muted", text: [
        `${s.tracks.length} track${s.tracks.length === 1 ? "" : "s"}`,
        s.status === "active" ? `until ${fmt.date(s.expires_at)}` : s.status,
        s.allow_download ? "download allowed" : "streaming only",
        s.password ? "password" : null,
        s.watermark ? "watermarked per recipient" : null,
      ].filter(Boolean).join(" · ") }),
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
              onclick: () => revoke(`/api/shares/${s.id}/recipients/${r.id}`, r.name),
            })));
        }))),
      s.status === "active" ? el("button", {
        type: "button", class: "danger", text: "Revoke the whole share",
        onclick: () => revoke(`/api/shares/${s.id}`, "Share"),
      }) : null)));
  }
  await load();
}
