// Studio Vault's web app: plain ES modules, no build step, nothing from another origin.
import { api, ApiError, el, toast } from "/assets/api.js";
import { renderLogin } from "/assets/login.js";
import { renderLibrary, resetLibrary } from "/assets/library.js";
import { renderAccount, renderConfirmEmail } from "/assets/account.js";
import { renderShares } from "/assets/shares.js";
import { renderUploadLinks } from "/assets/uploadlinks.js";
import { initPlayer, resetPlayer } from "/assets/player.js";
import { closeComments } from "/assets/comments.js";
import { showNotices, clearNotices } from "/assets/notices.js";
import { initNotifications, startNotifications, stopNotifications } from "/assets/notifications.js";

const routes = { "/library": renderLibrary, "/shares": renderShares, "/uploads": renderUploadLinks, "/account": renderAccount };
export const session = { me: null };
// Whose notices the banner shows.
let noticesOf = null;

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

async function route() {
  const main = document.getElementById("main");
  const nav = document.getElementById("nav");
  const notices = document.getElementById("notices");
  // The comments panel covers the lower part of the page: each page starts with it closed.
  closeComments();
  // An address-change link works signed in or not: the token in it is the proof.
  if (location.pathname === "/confirm-email") {
    nav.hidden = true;
    return renderConfirmEmail(main, () => { session.me = null; navigate("/account", true); });
  }
  if (!session.me) {
    try {
      session.me = await api("GET", "/api/session");
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) throw e;
    }
  }
  let path = location.pathname;
  if (!session.me) {
    noticesOf = null;
    clearNotices(notices);
    stopNotifications();
    nav.hidden = true;
    document.getElementById("player").hidden = true;
    return renderLogin(main, async (me) => {
      session.me = me;
      navigate(path === "/login" || path === "/" ? "/library" : path, true);
    });
  }
  // Once per sign-in: the breach notices this owner has not dismissed.
  if (noticesOf !== session.me.user_id) {
    noticesOf = session.me.user_id;
    showNotices(notices);
  }
  if (!routes[path]) path = "/library";
  if (path !== location.pathname) history.replaceState(null, "", path);
  nav.hidden = false;
  startNotifications();
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  try {
    await routes[path](main, session);
  } catch (e) {
    // A page that could not load says so, rather than stopping half-built without a word.
    main.append(el("p", { class: "error", role: "alert", text: `This page could not load completely: ${e.message}. Reload to try again.` }));
  }
  main.focus();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (link && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    navigate(link.getAttribute("href"));
  }
});
window.addEventListener("popstate", route);
document.getElementById("sign-out").addEventListener("click", async () => {
  try {
    await api("DELETE", "/api/session");
  } catch (err) {
    // 401: the session had already ended. Anything else (the network, the server) may have left
    // it live: looking signed out would leave the next person at this computer signed in.
    if (!(err instanceof ApiError && err.status === 401)) {
      toast(`Not signed out: ${err.message} Try again.`);
      return;
    }
  }
  session.me = null;
  // The next one to sign in, or to press Space on the sign-in page, gets nothing of this owner's.
  resetPlayer();
  resetLibrary();
  navigate("/login");
});
initPlayer();
initNotifications();
route();
