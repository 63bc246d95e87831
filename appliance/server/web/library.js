import { api, ask, el, fmt, toast, ApiError, loadOrder } from "/assets/api.js";
import { uploadFile, uploadVersion } from "/assets/upload.js";
import { play, current } from "/assets/player.js";
import { stemsRow } from "/assets/stems.js";

const COLUMNS = [
  { key: "name", label: "Name", sort: "name" },
  { key: "duration", label: "Length", sort: "duration", num: true },
  { key: "tempo", label: "Tempo", sort: "tempo", num: true },
  { key: "key", label: "Key", sort: "key" },
  { key: "loudness", label: "Loudness", num: true, small: true },
  { key: "format", label: "Format", small: true },
  { key: "created", label: "Added", sort: "created", small: true },
];

// The 24 keys as the analysis names them, in Camelot order, so neighbours mix well.
const KEYS = [
  ["Ab minor", "1A"], ["B major", "1B"], ["Eb minor", "2A"], ["F# major", "2B"], ["Bb minor", "3A"], ["Db major", "3B"],
  ["F minor", "4A"], ["Ab major", "4B"], ["C minor", "5A"], ["Eb major", "5B"], ["G minor", "6A"], ["Bb major", "6B"],
  ["D minor", "7A"], ["F major", "7B"], ["A minor", "8A"], ["C major", "8B"], ["E minor", "9A"], ["G major", "9B"],
  ["B minor", "10A"], ["D major", "10B"], ["F# minor", "11A"], ["A major", "11B"], ["Db minor", "12A"], ["E major", "12B"],
];

// Tracks whose stems row is open.
const openStems = new Set();
// Library folders seen in any listing, for the folder filter (a filtered listing shows only one).
const folders = new Set();

// The server keeps at most 16 uploads open per owner and refuses the 17th: files are sent a
// few at a time, across every batch chosen or dropped, and the rest wait for a slot.
const UPLOADS_AT_ONCE = 4;
let uploading = 0;
const waitingForSlot = [];

/** Waits for an upload slot; answers the function that gives it back. */
async function uploadSlot() {
  if (uploading < UPLOADS_AT_ONCE) uploading++;
  else await new Promise((resolve) => waitingForSlot.push(resolve));
  // Given back, the slot passes straight to the next file waiting, if any.
  return () => {
    const next = waitingForSlot.shift();
    if (next) next(); else uploading--;
  };
}

const FRESH_VIEW = Object.freeze({ sort: "created", order: "desc", q: "", tempoMin: "", tempoMax: "", key: "", length: "Any length", added: "Added any time", folder: "", versions: false });
const view = { ...FRESH_VIEW };

/** Forgets this owner's folders, filters, search and open stems rows (on sign-out). */
export function resetLibrary() {
  folders.clear();
  openStems.clear();
  Object.assign(view, FRESH_VIEW);
}

// Length and date-added filters: [label, from, to] in seconds, [label, days back].
const LENGTHS = [["Any length"], ["Under 1 min", null, 60], ["1–3 min", 60, 180], ["3–6 min", 180, 360], ["Over 6 min", 360, null]];
const ADDED = [["Added any time"], ["Added in the last day", 1], ["Added this week", 7], ["Added this month", 30]];

function keyLabel(t) {
  return t.key ? `${t.key.name} · ${t.key.camelot}` : analysisNote(t);
}

function analysisNote(t) {
  switch (t.analysis?.state) {
    case "pending": case "running": return "analysing…";
    case "failed": return "—";
    default: return "—";
  }
}

function cell(t, column) {
  switch (column.key) {
    case "name": return t.name;
    case "duration": return fmt.duration(t.duration_secs);
    case "tempo": return t.tempo ? t.tempo.bpm.toFixed(1) : analysisNote(t);
    case "key": return keyLabel(t);
    case "loudness": return t.loudness ? `${t.loudness.integrated_lufs.toFixed(1)} LUFS` : "—";
    case "format": return `${t.container.toUpperCase()} · ${t.codec}`;
    case "created": return fmt.date(t.created_at);
    default: return "";
  }
}

const AUDIO_EXTENSION = /\.(wav|aiff?|aifc|flac|mp3|m4a|aac|ogg|oga|opus)$/i;
const AUDIO_ACCEPT = "audio/*,.wav,.aif,.aiff,.flac,.mp3,.m4a,.aac,.ogg,.opus";

// The name, with the version badge ("Mix 3 of 3") and the folder when there is one.
function nameCell(t) {
  const v = t.version?.count > 1 ? t.version : null;
  const extras = [
    v ? el("span", { class: v.latest ? "badge version" : "badge version older", text: `Mix ${v.number} of ${v.count}` }) : null,
    t.folder ? el("a", { class: "folder", href: `/library?folder=${encodeURIComponent(t.folder)}`, "data-link": true, title: "Show only this folder", "aria-label": `Folder ${t.folder}`, text: t.folder }) : null,
  ].filter(Boolean);
  return el("td", { class: "name" }, t.name, extras.length ? " " : null, ...extras);
}

// The melody and bass line as MIDI files, transcribed when clicked (from the vocals or bass
// stem when the track has one that carries the part), once the track is analysed. The file is
// fetched before it is saved, so the owner is told it is being transcribed, and why not when
// it cannot be (busy, not transcribable).
function midiLinks(t) {
  if (t.analysis?.state !== "done") return null;
  return [["melody", "Melody"], ["bass", "Bass"]].map(([range, label]) => {
    const link = el("a", {
      class: `midi midi-${range}`, href: `/api/tracks/${t.id}/melody.mid?range=${range}`, download: "",
      "aria-label": `${label} .mid for ${t.name}`, title: `${label} line as a MIDI file`, text: `${label} .mid`,
      onclick: (e) => { e.preventDefault(); saveMidi(link, t, range); },
    });
    return link;
  });
}

async function saveMidi(link, t, range) {
  if (link.getAttribute("aria-busy") === "true") return;
  link.setAttribute("aria-busy", "true");
  toast(`Transcribing the ${range} line of “${t.name}”…`);
  try {
    const res = await fetch(link.href, { credentials: "same-origin" });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    const name = `${t.name} (${range}).mid`;
    const url = URL.createObjectURL(await res.blob());
    const save = el("a", { href: url, download: name, hidden: true });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    toast(`Saved “${name}”.`);
  } catch (err) {
    toast(`No ${range} line for “${t.name}”: ${err.message}`);
  } finally {
    link.removeAttribute("aria-busy");
  }
}

export async function renderLibrary(main, session) {
  const status = el("p", { class: "muted", role: "status", "aria-live": "polite" });
  // A link to a folder (from the upload links page, or a row) opens the library filtered by it.
  view.folder = new URLSearchParams(location.search).get("folder") ?? "";
  if (view.folder) folders.add(view.folder);
  const search = el("input", { type: "search", id: "search", placeholder: "Find a track", "aria-label": "Search by name", value: view.q });
  const tempoMin = el("input", { type: "number", id: "tempo-min", min: 20, max: 300, "aria-label": "Tempo from", value: view.tempoMin });
  const tempoMax = el("input", { type: "number", id: "tempo-max", min: 20, max: 300, "aria-label": "Tempo to", value: view.tempoMax });
  const keySelect = el("select", { id: "key-filter", "aria-label": "Key" }, el("option", { value: "", text: "Any key" }));
  const lengthSelect = el("select", { id: "length-filter", "aria-label": "Length" },
    ...LENGTHS.map(([label]) => el("option", { value: label, text: label })));
  const addedSelect = el("select", { id: "added-filter", "aria-label": "Added" },
    ...ADDED.map(([label]) => el("option", { value: label, text: label })));
  const folderSelect = el("select", { id: "folder-filter", "aria-label": "Folder" });
  const allVersions = el("input", { type: "checkbox", id: "all-versions", checked: view.versions });
  const quota = el("span", { class: "quota" });
  const fileInput = el("input", { type: "file", id: "file-input", multiple: true, accept: AUDIO_ACCEPT, hidden: true });
  const pick = el("button", { type: "button", id: "pick-files", text: "Choose files…", onclick: () => fileInput.click() });
  const folderInput = el("input", { type: "file", id: "folder-input", webkitdirectory: true, multiple: true, hidden: true });
  const pickFolder = el("button", { type: "button", id: "pick-folder", text: "Choose a folder…", onclick: () => folderInput.click() });
  const drop = el("div", { class: "drop", id: "drop" }, "Drop audio files here, or ", pick, " ", pickFolder, fileInput, folderInput);
  const uploads = el("ul", { class: "uploads", id: "uploads", "aria-label": "Uploads" });
  const table = el("table", { id: "tracks" });

  for (const [name, camelot] of KEYS) keySelect.append(el("option", { value: name, text: `${name} · ${camelot}` }));
  keySelect.value = view.key;
  lengthSelect.value = view.length;
  addedSelect.value = view.added;

  main.append(
    el("h1", { text: "Library" }),
    el("div", { class: "toolbar" },
      el("div", {}, search),
      el("div", {}, el("span", { class: "muted", text: "Tempo " }), tempoMin, el("span", { class: "muted", text: " – " }), tempoMax),
      el("div", {}, keySelect),
      el("div", {}, lengthSelect),
      el("div", {}, addedSelect),
      el("div", {}, folderSelect),
      el("label", { class: "check" }, allVersions, "Every version"),
      quota),
    drop, uploads, status, table);

  async function refreshQuota() {
    session.me = await api("GET", "/api/session");
    const { used_bytes: used, quota_bytes: total } = session.me;
    quota.replaceChildren(`${fmt.bytes(used)} of ${fmt.bytes(total)} `,
      el("meter", { min: 0, max: total, value: used, "aria-label": "Storage used" }));
  }

  const loads = loadOrder();
  async function load() {
    const isNewest = loads();
    const params = new URLSearchParams({ sort: view.sort, order: view.order, limit: "500" });
    if (view.q) params.set("q", view.q);
    if (view.tempoMin) params.set("tempo_min", view.tempoMin);
    if (view.tempoMax) params.set("tempo_max", view.tempoMax);
    if (view.key) params.set("key", view.key);
    const [, lo, hi] = LENGTHS.find(([label]) => label === view.length) ?? LENGTHS[0];
    if (lo != null) params.set("duration_min", lo);
    if (hi != null) params.set("duration_max", hi);
    const [, days] = ADDED.find(([label]) => label === view.added) ?? ADDED[0];
    if (days != null) params.set("added_after", String(Date.now() - days * 86_400_000));
    if (view.folder) params.set("folder", view.folder);
    if (view.versions) params.set("versions", "all");
    const page = await api("GET", `/api/tracks?${params}`);
    // A page left (or signed out of) meanwhile keeps none of it, folders included.
    if (!isNewest() || !document.body.contains(table)) return;
    for (const t of page.items) if (t.folder) folders.add(t.folder);
    renderFolders();
    render(page);
    const pending = page.items.some((t) => ["pending", "running"].includes(t.analysis?.state));
    clearTimeout(load.timer);
    if (pending && document.body.contains(table)) load.timer = setTimeout(poll, 2000);
  }

  // While analysis runs the list is read again every 2 s; a read that fails (a network blip)
  // tries again later rather than leaving the rows "analysing…" for good.
  function poll() {
    load().catch(() => {
      clearTimeout(load.timer);
      if (document.body.contains(table)) load.timer = setTimeout(poll, 10000);
    });
  }

  function renderFolders() {
    folderSelect.replaceChildren(el("option", { value: "", text: "All folders" }),
      ...[...folders].sort((a, b) => a.localeCompare(b)).map((f) => el("option", { value: f, text: f })));
    folderSelect.value = view.folder;
  }

  function sortButton(column) {
    if (!column.sort) return column.label;
    const active = view.sort === column.sort;
    return el("button", {
      type: "button", text: column.label, "data-sort": column.sort,
      "data-arrow": active ? (view.order === "asc" ? "▲" : "▼") : null,
      onclick: () => {
        if (view.sort === column.sort) view.order = view.order === "asc" ? "desc" : "asc";
        else { view.sort = column.sort; view.order = column.sort === "name" || column.sort === "key" ? "asc" : "desc"; }
        load();
      },
    });
  }

  function render(page) {
    status.textContent = page.total === 0 ? (view.q || view.key || view.tempoMin || view.tempoMax || view.folder || view.length !== LENGTHS[0][0] || view.added !== ADDED[0][0] ? "No track matches." : "No tracks yet: drop some audio above.") : `${page.total} track${page.total === 1 ? "" : "s"}`;
    const head = el("tr", {}, el("th", { scope: "col" }, el("span", { class: "muted", text: "" })),
      COLUMNS.map((c) => el("th", {
        scope: "col", class: [c.num ? "num" : "", c.small ? "hide-sm" : ""].join(" ").trim() || null,
        "aria-sort": c.sort && view.sort === c.sort ? (view.order === "asc" ? "ascending" : "descending") : null,
      }, sortButton(c))),
      el("th", { scope: "col" }, el("span", { class: "muted", text: "" })));
    const rows = page.items.flatMap((t) => {
      // Another version of this track playing (switched to in the player) marks the row too.
      const now = current();
      const playing = now?.id === t.id || (!view.versions && t.version != null && now?.version?.family === t.version.family);
      const stemsLabel = t.stem_count > 0 ? `Stems (${t.stem_count})` : "Stems";
      const open = openStems.has(t.id);
      const track = el("tr", { "data-id": t.id, class: playing ? "playing" : null },
        el("td", {}, el("button", { type: "button", class: "quiet", "aria-label": `Play ${t.name}`, text: "▶", onclick: () => play(t, () => load()) })),
        COLUMNS.map((c) => (c.key === "name" ? nameCell(t) : el("td", { class: [c.num ? "num" : "", c.small ? "hide-sm" : ""].join(" ").trim() || null, text: cell(t, c) }))),
        el("td", {}, el("div", { class: "row-actions" },
          newVersionButton(t),
          el("button", { type: "button", "aria-label": `Stems of ${t.name}`, "aria-expanded": String(open), text: stemsLabel, onclick: () => { if (open) openStems.delete(t.id); else openStems.add(t.id); load(); } }),
          midiLinks(t),
          el("button", { type: "button", "aria-label": `Rename ${t.name}`, text: "Rename", onclick: () => rename(t) }),
          el("button", { type: "button", class: "danger", "aria-label": `Delete ${t.name}`, text: "Delete", onclick: () => remove(t) }))));
      return open ? [track, stemsRow(t, COLUMNS.length + 2, () => { load(); refreshQuota(); })] : [track];
    });
    const focused = focusedControl();
    table.replaceChildren(el("caption", { class: "muted", hidden: true, text: "Your tracks" }), el("thead", {}, head), el("tbody", {}, rows));
    focused?.();
  }

  // The table is drawn anew on every play, pause and analysis poll: the control that had the
  // focus gets it back in the new table (its row and label, or its sort column), so keyboard
  // and screen-reader users keep their place. Answers how to focus it again, if one had it.
  function focusedControl() {
    const active = document.activeElement;
    if (!active || !table.contains(active)) return null;
    const row = active.closest("tr[data-id]")?.dataset.id;
    const label = active.getAttribute("aria-label");
    const sort = active.dataset.sort;
    return () => {
      const again = sort ? table.querySelector(`button[data-sort="${sort}"]`)
        : [...table.querySelectorAll(`tr[data-id="${row}"] [aria-label]`)].find((e) => e.getAttribute("aria-label") === label);
      again?.focus();
    };
  }

  // "New version…": the file picked becomes the next version of `t` (Mix 2, Mix 3…).
  function newVersionButton(t) {
    const input = el("input", {
      type: "file", class: "version-input", accept: AUDIO_ACCEPT, hidden: true, "aria-label": `New version of ${t.name}`,
      onchange: () => { if (input.files[0]) uploadNewVersion(t, input.files[0]); input.value = ""; },
    });
    return [el("button", { type: "button", class: "new-version", "aria-label": `New version of ${t.name}`, text: "New version…", onclick: () => input.click() }), input];
  }

  async function uploadNewVersion(t, file) {
    const bar = el("progress", { max: 1, value: 0, "aria-label": `Uploading ${file.name} as a new version of ${t.name}` });
    const note = el("span", { class: "muted", text: `new version of “${t.name}” · ${fmt.bytes(file.size)}` });
    const item = el("li", { "data-file": file.name, "data-version-of": t.id }, el("span", { text: file.name }), bar, note);
    uploads.append(item);
    try {
      const track = await uploadVersion(file, t.id, (f) => { bar.value = f; });
      bar.value = 1;
      note.textContent = track?.version ? `done: Mix ${track.version.number} of “${t.name}”` : "done";
    } catch (e) {
      item.classList.add("failed");
      note.textContent = e.message;
      note.setAttribute("role", "alert");
    }
    await Promise.all([load(), refreshQuota()]).catch(() => {});
  }

  async function rename(t) {
    const name = await ask(`Rename “${t.name}”`, "Rename", { value: t.name, label: "New name" });
    if (!name || name === t.name) return;
    try { await api("PATCH", `/api/tracks/${t.id}`, { name }); await load(); } catch (e) { toast(e.message); }
  }

  async function remove(t) {
    if (!(await ask(`Delete “${t.name}”? This cannot be undone.`, "Delete", { danger: true }))) return;
    try { await api("DELETE", `/api/tracks/${t.id}`); toast(`Deleted “${t.name}”.`); await Promise.all([load(), refreshQuota()]); } catch (e) { toast(e.message); }
  }

  // Every file gets its row at once; a few are sent at a time (uploadSlot), the rest wait.
  async function uploadAll(files) {
    await Promise.all([...files].map(async (file) => {
      const bar = el("progress", { max: 1, value: 0, "aria-label": `Uploading ${file.name}` });
      const note = el("span", { class: "muted", text: `waiting · ${fmt.bytes(file.size)}` });
      const item = el("li", { "data-file": file.name }, el("span", { text: file.name }), bar, note);
      uploads.append(item);
      const release = await uploadSlot();
      note.textContent = fmt.bytes(file.size);
      try {
        await uploadFile(file, (f) => { bar.value = f; });
        bar.value = 1;
        note.textContent = "done";
      } catch (e) {
        item.classList.add("failed");
        note.textContent = e.message;
        note.setAttribute("role", "alert");
      } finally {
        release();
      }
      await load().catch(() => {});
    }));
    await refreshQuota();
  }

  fileInput.addEventListener("change", () => { uploadAll(fileInput.files); fileInput.value = ""; });
  // A folder holds artwork and notes too: only its audio is uploaded.
  folderInput.addEventListener("change", () => {
    const all = [...folderInput.files];
    const audio = all.filter((f) => f.type.startsWith("audio/") || AUDIO_EXTENSION.test(f.name));
    if (audio.length < all.length) toast(`Skipped ${all.length - audio.length} file(s) that are not audio.`);
    uploadAll(audio);
    folderInput.value = "";
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); uploadAll(e.dataTransfer.files); });
  let debounce;
  const onFilter = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      if (!document.body.contains(table)) return;
      Object.assign(view, { q: search.value.trim(), tempoMin: tempoMin.value, tempoMax: tempoMax.value, key: keySelect.value, length: lengthSelect.value, added: addedSelect.value, folder: folderSelect.value, versions: allVersions.checked });
      // The address keeps the folder, so it can be bookmarked and sent.
      history.replaceState(null, "", view.folder ? `/library?folder=${encodeURIComponent(view.folder)}` : "/library");
      load().catch((e) => toast(e.message));
    }, 200);
  };
  for (const input of [search, tempoMin, tempoMax]) input.addEventListener("input", onFilter);
  for (const select of [keySelect, lengthSelect, addedSelect, folderSelect, allVersions]) select.addEventListener("change", onFilter);

  await Promise.all([load(), refreshQuota()]).catch((e) => { if (!(e instanceof ApiError)) throw e; toast(e.message); });
}
