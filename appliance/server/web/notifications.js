// The bell in the nav: what happened to the owner's shares and upload links (a recipient opened
// a share, played a track to the end, downloaded, commented; files arrived), polled every 30 s.
// The panel lists them newest first and marks them read as it opens. Summaries name recipients
// and tracks: they go into the page as text only.
import { api, ApiError, el, fmt, loadOrder, toast } from "/assets/api.js";
import { openComments } from "/assets/player.js";

const POLL_MS = 30_000;
const state = { list: [], unread: 0, timer: null };

const $ = (id) => document.getElementById(id);

function renderBell() {
  const count = $("bell-count");
  $("bell").setAttribute("aria-label", `Notifications, ${state.unread} unread`);
  count.textContent = state.unread > 99 ? "99+" : String(state.unread);
  count.hidden = state.unread === 0;
}

const polls = loadOrder();
/** `background`: the timer's poll, which does not keep the session from going idle. */
async function poll(background = false) {
  const isNewest = polls();
  try {
    const answer = await api("GET", "/api/notifications", undefined, { background });
    if (!isNewest()) return;
    state.list = [...answer.notifications].sort((a, b) => b.at - a.at);
    state.unread = answer.unread;
    renderBell();
  } catch (e) {
    // Signed out meanwhile (idle, revoked, suspended): show the sign-in page, not a stale app.
    if (e instanceof ApiError && e.status === 401) location.reload();
    /* otherwise the bell keeps its last count until the next poll */
  }
}

// Where a notification leads: a comment opens in the player, arrivals on the upload links page,
// the rest on the share.
function target(n) {
  const text = n.summary;
  if (n.kind === "commented" && n.track) {
    return el("button", {
      type: "button", class: "link", text,
      onclick: () => { closePanel(); openComments(n.track, n.comment ?? undefined).catch((e) => toast(e.message)); },
    });
  }
  if (n.kind === "uploaded") return el("a", { href: "/uploads", "data-link": true, text, onclick: () => closePanel(false) });
  if (n.share) return el("a", { href: `/shares#share-${n.share}`, "data-link": true, text, onclick: () => closePanel(false) });
  return el("span", { text });
}

function renderPanel() {
  $("notifications").replaceChildren(
    el("div", { class: "notifications-head" },
      el("h2", { id: "notifications-title", tabindex: -1, text: "Notifications" }),
      el("button", { type: "button", class: "quiet", text: "Close", onclick: () => closePanel() })),
    state.list.length === 0
      ? el("p", { class: "muted", text: "Nothing yet. You are told here when recipients open a share, play a track to the end, download or comment, and when files arrive through an upload link." })
      : el("ol", { class: "notification-list" }, state.list.map((n) => el("li", {
        class: n.read ? "notification" : "notification unread", "data-id": n.id, "data-kind": n.kind,
      },
      n.read ? null : el("span", { class: "visually-hidden", text: "New: " }),
      target(n),
      el("time", { class: "muted", datetime: new Date(n.at).toISOString(), title: fmt.date(n.at), text: fmt.ago(n.at) })))));
}

async function openPanel() {
  const panel = $("notifications");
  panel.hidden = false;
  $("bell").setAttribute("aria-expanded", "true");
  await poll();
  renderPanel();
  panel.querySelector("h2").focus();
  // Only those shown: one that arrives meanwhile stays unread for the next look.
  const ids = state.list.filter((n) => !n.read).map((n) => n.id);
  if (ids.length === 0) return;
  try {
    await api("POST", "/api/notifications/read", { ids });
    state.unread = Math.max(0, state.unread - ids.length);
    renderBell();
  } catch (e) { toast(e.message); }
}

function closePanel(refocus = true) {
  const panel = $("notifications");
  if (panel.hidden) return;
  panel.hidden = true;
  $("bell").setAttribute("aria-expanded", "false");
  if (refocus) $("bell").focus();
}

export function initNotifications() {
  const panel = $("notifications");
  $("bell").addEventListener("click", () => (panel.hidden ? openPanel() : closePanel()));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden && e.target.closest("#notifications, #bell")) closePanel();
  });
  document.addEventListener("click", (e) => {
    if (!panel.hidden && !e.target.closest("#notifications, #bell")) closePanel(false);
  });
}

/** Signed in: the bell polls. */
export function startNotifications() {
  if (state.timer) return;
  poll();
  state.timer = setInterval(() => poll(true), POLL_MS);
}

/** Signed out: the bell stops and forgets. */
export function stopNotifications() {
  clearInterval(state.timer);
  state.timer = null;
  state.list = [];
  state.unread = 0;
  renderBell();
  closePanel(false);
}
