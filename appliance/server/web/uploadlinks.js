// Upload links: a link for a client to send files into a folder of the library, with an expiry,
// limits on files and bytes, and an optional password; then what arrived, and revocation.
import { api, ask, el, fmt, loadOrder, onSubmit, toast } from "/assets/api.js";

const DAY_MS = 86_400_000;
const MB = 1024 * 1024;

const STATUS = { active: "Active", expired: "Expired", full: "Full", revoked: "Revoked" };

function field(id, label, attrs = {}) {
  return el("div", {}, el("label", { for: id, text: label }), el("input", { id, ...attrs }));
}

// The files received, by name where the library still has them, and the folder as a filter.
function received(link, names) {
  const shown = link.tracks.slice(-10).map((id) => names.get(id)).filter(Boolean);
  return el("td", { class: "wrap" },
    el("a", { href: `/library?folder=${encodeURIComponent(link.folder)}`, "data-link": true, "aria-label": `Open the folder ${link.folder} in the library`, text: link.folder }),
    shown.length ? el("ul", { class: "folder-tracks", "aria-label": `Files from ${link.name}` },
      shown.map((name) => el("li", { text: name })),
      link.tracks.length > shown.length ? el("li", { class: "muted", text: `and ${link.tracks.length - shown.length} more` }) : null) : null);
}

export async function renderUploadLinks(main) {
  const error = el("p", { class: "error", role: "alert" });
  const name = el("input", { id: "upload-link-name", required: true, maxlength: 120, placeholder: "Ana Label" });
  const folder = el("input", { id: "upload-link-folder", maxlength: 120, placeholder: "From Ana Label" });
  // The server's default folder, shown as it will be.
  name.addEventListener("input", () => { folder.placeholder = `From ${name.value.trim() || "Ana Label"}`; });
  const form = el("form", { class: "card upload-link-form", id: "upload-link-form" },
    el("label", { for: "upload-link-name", text: "Who it is for" }), name,
    el("label", { for: "upload-link-folder", text: "Folder of your library the files arrive in" }), folder,
    el("div", { class: "row" },
      field("upload-link-days", "Expires after (days)", { type: "number", min: 1, max: 365, value: 7, required: true }),
      field("upload-link-files", "Files at most", { type: "number", min: 1, max: 500, placeholder: "20" }),
      field("upload-link-mb", "Size at most (MB)", { type: "number", min: 1, placeholder: "5120" })),
    el("label", { for: "upload-link-password", text: "Password (optional)" }),
    el("input", { id: "upload-link-password", type: "password", autocomplete: "new-password" }),
    el("button", { type: "submit", class: "primary", text: "Create upload link" }), error);
  const list = el("div", { id: "upload-links" });
  main.append(el("h1", { text: "Upload links" }),
    el("p", { class: "muted", text: "Send a client a link to upload their files straight into a folder of your library: no account needed, and you are told when files arrive." }),
    form, el("h2", { text: "Your upload links" }), list);

  onSubmit(form, async () => {
    error.textContent = "";
    const number = (id) => (form.querySelector(`#${id}`).value ? Number(form.querySelector(`#${id}`).value) : undefined);
    try {
      const created = await api("POST", "/api/upload-links", {
        name: name.value.trim(),
        folder: folder.value.trim() || undefined,
        expires_at: Date.now() + number("upload-link-days") * DAY_MS,
        max_files: number("upload-link-files"),
        max_bytes: number("upload-link-mb") === undefined ? undefined : number("upload-link-mb") * MB,
        password: form.querySelector("#upload-link-password").value || undefined,
      });
      form.reset();
      folder.placeholder = "From Ana Label";
      toast(`Upload link for ${created.name} created: copy it and send it.`);
      await load();
    } catch (err) { error.textContent = err.message; }
  });

  const loads = loadOrder();
  async function load() {
    const isNewest = loads();
    const [{ links }, tracks] = await Promise.all([
      api("GET", "/api/upload-links"),
      api("GET", "/api/tracks?limit=500&versions=all").then((p) => p.items, () => []),
    ]);
    if (!isNewest()) return;
    if (links.length === 0) {
      list.replaceChildren(el("p", { class: "muted", text: "No upload links yet." }));
      return;
    }
    const names = new Map(tracks.map((t) => [t.id, t.name]));
    list.replaceChildren(el("table", { class: "upload-links" },
      el("thead", {}, el("tr", {}, ["For", "Status", "Received", "Folder and files", "Link", ""].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, [...links].sort((a, b) => b.created_at - a.created_at).map((l) => {
        const url = `${location.origin}${l.link}`;
        const active = l.status === "active";
        return el("tr", { "data-upload-link": l.id, "data-status": l.status },
          el("td", { class: "wrap" }, l.name, l.password ? el("div", { class: "muted small", text: "password" }) : null),
          el("td", {}, el("span", { class: `badge status-${l.status}`, text: STATUS[l.status] ?? l.status }),
            el("div", { class: "muted small", text: active ? `until ${fmt.date(l.expires_at)}` : `created ${fmt.date(l.created_at)}` })),
          el("td", {},
            el("div", { text: `${l.files_received} of ${l.max_files} files` }),
            el("div", { class: "muted small", text: `${fmt.bytes(l.bytes_received)} of ${fmt.bytes(l.max_bytes)}` })),
          received(l, names),
          el("td", {}, active ? el("button", {
            type: "button", class: "copy-upload-link", "data-link": url, "aria-label": `Copy link for uploads from ${l.name}`, text: "Copy link",
            onclick: () => navigator.clipboard?.writeText(url).then(() => toast("Link copied."), () => toast(url)),
          }) : el("span", { class: "muted", text: "—" })),
          el("td", {}, active ? el("button", {
            type: "button", class: "danger", "aria-label": `Revoke the upload link for ${l.name}`, text: "Revoke",
            onclick: async () => {
              // Revoking cannot be undone: asked first, as for shares.
              const question = `Revoke the upload link for ${l.name}? Its page stops taking files; this cannot be undone.`;
              if (!(await ask(question, "Revoke", { danger: true }))) return;
              try { await api("DELETE", `/api/upload-links/${encodeURIComponent(l.id)}`); toast(`Upload link for ${l.name} revoked.`); } catch (err) { toast(`Not revoked: ${err.message}`); }
              await load();
            },
          }) : null));
      }))));
  }
  await load();
}
