// Comments on the playing version, in a panel under the player: markers on the waveform, the
// threads in time order, a form for a comment at the playhead (or a span up to it), replies,
// resolving, and who in a share sees a thread. Texts and names are other people's words: they
// go into the page as text only.
import { api, ask, el, fmt, loadOrder, onSubmit, toast } from "/assets/api.js";

const REFRESH_MS = 15_000;

const state = {
  track: null,
  comments: [],
  // Every share of the owner (titles and recipients' names), and those this track is in.
  shares: [],
  // What the page shows, so a refresh that brings nothing new leaves it (and the focus) alone.
  shown: "",
  open: false,
  timer: null,
  // Where a new comment goes: fixed once the owner starts typing, so it stays on the moment heard.
  pinned: null,
  replying: new Set(),
  drafts: new Map(),
};
const hooks = { seek: () => {}, changed: () => {} };
const parts = {};

const $ = (id) => document.getElementById(id);
const playhead = () => $("audio").currentTime || 0;
const duration = () => $("audio").duration || state.track?.duration_secs || 0;
const byTime = (a, b) => a.at_secs - b.at_secs || a.created_at - b.created_at;

// Top-level comments, each with its replies (a reply whose comment is gone stands alone).
function threads() {
  const ids = new Set(state.comments.map((c) => c.id));
  return state.comments.filter((c) => !c.parent || !ids.has(c.parent)).sort(byTime).map((head) => ({
    head,
    replies: state.comments.filter((r) => r.parent === head.id).sort((a, b) => a.created_at - b.created_at),
  }));
}

/** The comments as the waveform draws them: fractions of the track. */
export function commentMarks() {
  const d = duration();
  if (!d) return [];
  return threads().map(({ head: c }) => ({ from: c.at_secs / d, to: c.end_secs != null ? c.end_secs / d : null, dim: c.resolved }));
}

function sharesOfTrack() {
  const t = state.track;
  const ids = [t?.id, t?.version?.family].filter(Boolean);
  return state.shares.filter((s) => s.status === "active" && s.tracks.some((id) => ids.includes(id)));
}

function scopeLine(c) {
  if (!c.share) return "Your note: no recipient sees it.";
  const share = state.shares.find((s) => s.id === c.share);
  const title = share ? `“${share.title}”` : "a share";
  if (c.shared) return `Every recipient of ${title} sees this.`;
  const who = share?.recipients.find((r) => r.id === c.recipient)?.name ?? (c.author.kind === "recipient" ? c.author.name : "one recipient");
  return `Only ${who} sees this, in ${title}.`;
}

function commentBody(c, withTime) {
  const at = fmt.duration(c.at_secs);
  return [
    el("div", { class: "meta" },
      withTime ? el("button", { type: "button", class: "at", title: `Go to ${at}`, "data-focus": `at:${c.id}`, text: at, onclick: () => hooks.seek(c.at_secs) }) : null,
      withTime && c.end_secs != null ? el("span", { class: "until", text: `– ${fmt.duration(c.end_secs)}` }) : null,
      el("span", { class: "who" }, el("span", { class: "author", text: c.author.name }),
        c.author.kind === "recipient" ? el("span", { class: "role", text: " (recipient)" }) : null),
      el("span", { class: "muted when", title: fmt.date(c.created_at), text: fmt.ago(c.created_at) }),
      c.resolved && withTime ? el("span", { class: "badge", text: "Resolved" }) : null),
    el("p", { class: "text", text: c.text }),
  ];
}

async function change(c, body) {
  try { await api("POST", `/api/comments/${encodeURIComponent(c.id)}`, body); } catch (e) { toast(e.message); }
  await load();
}

async function remove(c) {
  if (!await ask(`Delete this comment by ${c.author.name}? This cannot be undone.`, "Delete", { danger: true })) return;
  try { await api("DELETE", `/api/comments/${encodeURIComponent(c.id)}`); } catch (e) { toast(e.message); }
  await load();
}

function deleteButton(c) {
  return el("button", {
    type: "button", class: "quiet delete", "data-focus": `delete:${c.id}`, text: "Delete",
    "aria-label": `Delete the comment by ${c.author.name} at ${fmt.duration(c.at_secs)}`, onclick: () => remove(c),
  });
}

function replyForm(head, n) {
  const id = `reply-text-${n}`;
  const text = el("textarea", {
    id, class: "reply-text", rows: 2, required: true, "data-focus": `reply:${head.id}`,
    oninput: () => state.drafts.set(head.id, text.value),
  });
  text.value = state.drafts.get(head.id) ?? "";
  const form = el("form", { class: "reply-form", id: `reply-form-${n}`, hidden: !state.replying.has(head.id) },
    el("label", { for: id, text: `Reply to ${head.author.name} at ${fmt.duration(head.at_secs)}` }), text,
    el("button", { type: "submit", class: "primary", text: "Send reply" }));
  onSubmit(form, async () => {
    try {
      await api("POST", `/api/tracks/${state.track.id}/comments`, { text: text.value, at_secs: head.at_secs, parent: head.id });
      state.drafts.delete(head.id);
      state.replying.delete(head.id);
    } catch (err) { toast(err.message); }
    await load();
  });
  return form;
}

function threadItem({ head, replies }, n) {
  const replying = state.replying.has(head.id);
  return el("li", { class: head.resolved ? "thread resolved" : "thread", "data-comment": head.id, "data-at": String(head.at_secs) },
    el("div", { class: "comment" }, ...commentBody(head, true)),
    el("p", { class: "muted scope", text: scopeLine(head) }),
    replies.length ? el("ol", { class: "replies", "aria-label": `Replies to ${head.author.name}` },
      replies.map((r) => el("li", { class: "reply", "data-comment": r.id }, ...commentBody(r, false), deleteButton(r)))) : null,
    el("div", { class: "thread-actions" },
      el("button", {
        type: "button", class: "open-reply", "aria-expanded": String(replying), "aria-controls": `reply-form-${n}`, "data-focus": `open-reply:${head.id}`, text: "Reply",
        onclick: () => {
          if (replying) state.replying.delete(head.id); else state.replying.add(head.id);
          render(true);
          if (!replying) document.getElementById(`reply-text-${n}`)?.focus();
        },
      }),
      el("button", { type: "button", class: "resolve", "data-focus": `resolve:${head.id}`, text: head.resolved ? "Reopen" : "Resolve", onclick: () => change(head, { resolved: !head.resolved }) }),
      head.share && head.recipient ? el("button", {
        type: "button", class: "share-toggle", "data-focus": `share:${head.id}`,
        text: head.shared ? "Only this recipient" : "Show to every recipient",
        onclick: () => change(head, { shared: !head.shared }),
      }) : null,
      deleteButton(head)),
    replyForm(head, n));
}

function renderMarkers(list) {
  const d = duration();
  parts.markers.replaceChildren(...(d ? list : []).map(({ head: c }) => {
    const span = c.end_secs != null && c.end_secs > c.at_secs;
    const mark = el("span", {
      class: ["marker", span ? "span" : "", c.resolved ? "resolved" : ""].join(" ").trim(),
      "data-at": String(c.at_secs), "data-comment": c.id,
      title: `${fmt.duration(c.at_secs)} ${c.author.name}: ${c.text}`,
      onclick: () => { hooks.seek(c.at_secs); openComments(c.id); },
    });
    // Set through the style object: the page's CSP allows no style attributes.
    mark.style.left = `${Math.min(100, (c.at_secs / d) * 100)}%`;
    if (span) mark.style.width = `${Math.min(100 - (c.at_secs / d) * 100, ((c.end_secs - c.at_secs) / d) * 100)}%`;
    return mark;
  }));
}

function renderShareChoice() {
  const choices = sharesOfTrack();
  const select = parts.share;
  const kept = select.value;
  select.replaceChildren(el("option", { value: "", text: "Only you (a note)" }),
    ...choices.map((s) => el("option", { value: s.id, text: `Every recipient of “${s.title}”` })));
  select.value = choices.some((s) => s.id === kept) ? kept : "";
  parts.shareBox.hidden = choices.length === 0;
}

// Rebuilds the threads when they changed (or when `force`d), keeping the focus where it was.
function render(force = false) {
  const list = threads();
  const shown = JSON.stringify([state.track?.id, state.comments, state.shares.map((s) => s.id)]);
  if (!force && shown === state.shown) return;
  state.shown = shown;
  const focus = document.activeElement?.closest("#comments-list") ? document.activeElement.dataset.focus : null;
  const open = list.filter((t) => !t.head.resolved).length;
  parts.toggle.textContent = list.length ? `Comments (${open} open of ${list.length})` : "Comments";
  const t = state.track;
  parts.title.textContent = t ? `Comments on “${t.name}”${t.version?.count > 1 ? ` · Mix ${t.version.number}` : ""}` : "Comments";
  parts.list.replaceChildren(...list.map(threadItem));
  parts.empty.hidden = list.length > 0;
  renderMarkers(list);
  renderShareChoice();
  if (focus) parts.list.querySelector(`[data-focus="${CSS.escape(focus)}"]`)?.focus();
  hooks.changed();
}

const loads = loadOrder();
/** `background`: the timer's refresh, which does not keep the session from going idle. */
async function load(background = false) {
  const track = state.track;
  // Signed out, the player is hidden: nothing to ask for.
  if (!track || $("player").hidden) return;
  const isNewest = loads();
  try {
    const { comments } = await api("GET", `/api/tracks/${track.id}/comments`, undefined, { background });
    if (isNewest() && state.track === track) { state.comments = comments; render(); }
  } catch (e) {
    if (state.open) toast(e.message);
  }
}

async function loadShares() {
  try { state.shares = await api("GET", "/api/shares"); render(); } catch { /* threads show without share names */ }
}

function updateTimes() {
  if (!parts.label) return;
  const at = state.pinned ?? playhead();
  parts.label.textContent = `Comment at ${fmt.duration(at)}`;
  parts.spanLabel.textContent = `As a span, up to ${fmt.duration(Math.max(at, playhead()))}`;
}

/** Shows the comments of `track` (a version): markers now, the threads when the panel opens. */
export function commentsFor(track) {
  state.track = track;
  state.comments = [];
  state.replying.clear();
  state.drafts.clear();
  render(true);
  updateTimes();
  load();
}

/** Opens the panel; with `commentId`, scrolls to that thread. */
export async function openComments(commentId) {
  if (!state.open) {
    state.open = true;
    parts.panel.hidden = false;
    parts.toggle.setAttribute("aria-expanded", "true");
    clearInterval(state.timer);
    state.timer = setInterval(() => load(true), REFRESH_MS);
    await Promise.all([load(), loadShares()]);
  }
  const item = commentId && [...parts.list.children].find((li) => li.dataset.comment === commentId);
  item?.scrollIntoView({ block: "nearest" });
  item?.querySelector(".at")?.focus();
}

/** Closes the panel (on leaving a page: it covers the lower part of the next one). */
export function closeComments() {
  if (!state.open) return;
  state.open = false;
  clearInterval(state.timer);
  parts.panel.hidden = true;
  parts.toggle.setAttribute("aria-expanded", "false");
}

/** Forgets the track, its threads, the owner's shares and any draft (on sign-out). */
export function resetComments() {
  closeComments();
  Object.assign(state, { track: null, comments: [], shares: [], pinned: null });
  state.replying.clear();
  state.drafts.clear();
  parts.panel.querySelector("form")?.reset();
  render(true);
  updateTimes();
}

export function initComments({ seek, changed }) {
  Object.assign(hooks, { seek, changed });
  parts.panel = $("comments");
  parts.toggle = $("comments-toggle");
  parts.markers = $("markers");
  parts.title = el("h2", { id: "comments-title", text: "Comments" });
  parts.label = el("label", { for: "comment-text", id: "comment-at", text: "Comment at 0:00" });
  parts.spanLabel = el("label", { for: "comment-span", class: "inline" });
  parts.share = el("select", { id: "comment-share" });
  parts.shareBox = el("span", { class: "comment-share", hidden: true }, el("label", { for: "comment-share", class: "inline", text: "Seen by " }), parts.share);
  parts.list = el("ol", { id: "comments-list", class: "threads", "aria-labelledby": "comments-title" });
  parts.empty = el("p", { class: "muted", text: "No comments on this version yet." });
  const text = el("textarea", { id: "comment-text", rows: 2, required: true, placeholder: "What do you hear here?" });
  const span = el("input", { type: "checkbox", id: "comment-span" });
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { id: "comment-form", class: "comment-form" },
    parts.label, text,
    el("div", { class: "comment-options" },
      el("span", {}, span, parts.spanLabel), parts.shareBox,
      el("button", { type: "submit", class: "primary", id: "comment-submit", text: "Add comment" })),
    error);
  parts.panel.replaceChildren(parts.title, form, parts.empty, parts.list);

  text.addEventListener("input", () => {
    if (!text.value) state.pinned = null;
    else if (state.pinned == null) state.pinned = playhead();
    updateTimes();
  });
  onSubmit(form, async () => {
    error.textContent = "";
    const at = state.pinned ?? playhead();
    const end = span.checked && playhead() > at + 0.5 ? playhead() : undefined;
    const round = (s) => (s === undefined ? undefined : Math.round(s * 100) / 100);
    try {
      await api("POST", `/api/tracks/${state.track.id}/comments`, {
        text: text.value, at_secs: round(at), end_secs: round(end), share: parts.share.value || undefined,
      });
      text.value = "";
      span.checked = false;
      state.pinned = null;
      updateTimes();
      await load();
    } catch (err) { error.textContent = err.message; }
  });
  parts.toggle.addEventListener("click", () => (state.open ? closeComments() : openComments()));
  const audio = $("audio");
  audio.addEventListener("timeupdate", updateTimes);
  audio.addEventListener("loadedmetadata", () => render(true));
  updateTimes();
}
