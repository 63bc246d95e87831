import { api, el, fmt, loadOrder, toast } from "/assets/api.js";
import { play } from "/assets/player.js";

// A track's stems, in a row under the track: ask for them, watch the separation (queued,
// which worker, how far), cancel it, then play, download or share each stem like any track.
const POLL_MS = 1000;

function stateLine(view) {
  switch (view.state) {
    case "queued": return view.attempts > 0 ? `Queued again (attempt ${view.attempts + 1})…` : "Queued: waiting for a stem worker…";
    case "running": return `Separating on ${view.worker ?? "a worker"}: ${Math.round(view.progress * 100)} %`;
    case "failed": return `Separation failed: ${view.reason ?? "no reason given"}`;
    default: return "";
  }
}

export function stemsRow(track, colspan, onStored) {
  const cellBox = el("td", { colspan, class: "stems" });
  const row = el("tr", { class: "stems-row", "data-stems-of": track.id }, cellBox);
  let timer = null;
  // An action's answer and the polls' share one order: a poll sent before a cancel must not
  // draw the separation running again.
  const answers = loadOrder();

  async function act(method, path) {
    clearTimeout(timer);
    const isNewest = answers();
    try {
      const view = await api(method, path);
      if (isNewest()) render(view);
    } catch (e) {
      toast(e.message);
      refresh();
    }
  }

  function render(view) {
    clearTimeout(timer);
    const parts = [el("h2", { text: `Stems of “${track.name}”` })];
    if (view.state === "none" || view.state === "failed") {
      const button = el("button", {
        type: "button", class: "primary", id: `separate-${track.id}`,
        text: view.state === "failed" ? "Try again" : "Separate stems",
        disabled: view.available ? null : true,
        "aria-describedby": view.available ? null : `stems-why-${track.id}`,
        onclick: () => act("POST", `/api/tracks/${track.id}/stems`),
      });
      parts.push(el("div", { class: "row-actions" }, button));
      if (!view.available) parts.push(el("p", { class: "muted", id: `stems-why-${track.id}`, text: `${view.unavailable}.` }));
      else if (view.state === "none") parts.push(el("p", { class: "muted", text: "Vocals, drums, bass and other, separated on your stem workers and kept in your vault." }));
    }
    if (view.state === "queued" || view.state === "running" || view.state === "failed") {
      const line = el("p", { role: "status", "aria-live": "polite", class: view.state === "failed" ? "failed" : null, text: stateLine(view) });
      parts.push(line);
    }
    if (view.state === "queued" || view.state === "running") {
      parts.push(el("div", { class: "row-actions" },
        el("progress", { max: 1, value: view.state === "running" ? view.progress : null, "aria-label": `Separating ${track.name}`, id: `stems-progress-${track.id}` }),
        el("button", { type: "button", text: "Cancel", onclick: () => act("POST", `/api/tracks/${track.id}/stems/cancel`) })));
      timer = setTimeout(refresh, POLL_MS);
    }
    if (view.stems.length > 0) {
      const draft = view.stems.some((s) => s.stem_of?.draft);
      const list = el("ul", { class: "stem-list", "aria-label": `Stems of ${track.name}` },
        ...view.stems.map((s) => el("li", { "data-stem": s.stem_of.stem },
          el("button", { type: "button", class: "quiet", "aria-label": `Play the ${s.stem_of.stem} stem`, text: "▶", onclick: () => play(s) }),
          el("span", { class: "stem-name", text: s.stem_of.stem }),
          s.stem_of.draft && s.stem_of.stem !== "vocals" ? el("span", { class: "badge", text: "draft" }) : null,
          el("span", { class: "muted", text: fmt.duration(s.duration_secs) }),
          el("a", { href: `/api/tracks/${s.id}/audio?download=1`, download: "", text: "Download" }))));
      parts.push(list, el("div", { class: "row-actions" },
        el("a", { href: `/api/tracks/${track.id}/stems.tar`, download: "", id: `stems-archive-${track.id}`, text: "Download all stems (.tar)" })));
      if (draft) parts.push(el("p", { class: "muted", text: `Made by ${view.stems[0].stem_of.model}. Drums, bass and other are a draft split of the accompaniment; vocals come from the model.` }));
      parts.push(el("p", { class: "muted", text: "Stems are tracks of your vault: share them from Shares, delete them with the track." }));
      if (onStored && !row.dataset.stored) { row.dataset.stored = "1"; onStored(); }
    }
    cellBox.replaceChildren(...parts.filter(Boolean));
  }

  async function refresh() {
    if (!document.body.contains(row)) return;
    const isNewest = answers();
    try {
      const view = await api("GET", `/api/tracks/${track.id}/stems`);
      if (isNewest()) render(view);
    } catch (e) { toast(e.message); }
  }

  row.dataset.stored = track.stem_count > 0 ? "1" : "";
  // Once the caller has put the row in the page.
  setTimeout(refresh, 0);
  return row;
}
