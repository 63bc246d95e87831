// The owners' API (docs/API.md). Every error answer is {error, message}; callers show message.
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `The server answered ${status}.`);
    this.status = status;
    this.code = body?.error || "unknown";
    this.retryAfter = body?.retry_after;
  }
}

/** `{ background: true }` marks a request the app makes on its own (a poll): the server does
 *  not count it as the owner's activity, so an unattended tab is still signed out when idle. */
export async function api(method, path, body, { background = false } = {}) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (background) init.headers["x-background"] = "1";
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/**
 * Orders a view's loads: with `const loads = loadOrder()`, a load starts with
 * `const isNewest = loads();` and, once answered, draws only `if (isNewest())`.
 * An earlier load can answer after a later one (a slower search, a refresh sent before a
 * change), and drawing it would bring back what the later one replaced.
 */
export function loadOrder() {
  let newest = 0;
  return () => {
    const mine = ++newest;
    return () => mine === newest;
  };
}

export const fmt = {
  duration(secs) {
    if (secs == null || !isFinite(secs)) return "—";
    const s = Math.round(secs);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  },
  bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
  },
  date(ms) {
    return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  },
  // "5 min ago"; the date itself once it is more than a week old.
  ago(ms) {
    const mins = Math.round((Date.now() - ms) / 60_000);
    if (mins < 1) return "just now";
    if (mins < 60) return `${mins} min ago`;
    if (mins < 24 * 60) return `${Math.round(mins / 60)} h ago`;
    if (mins < 7 * 24 * 60) return `${Math.round(mins / (24 * 60))} d ago`;
    return fmt.date(ms);
  },
};

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) node.append(c);
  return node;
}

let asked = 0;

/**
 * Asks `message` in a modal dialog whose confirming button says `action`. Resolves true, or the
 * text field's value when `value` is given (Enter in the field confirms), and null on Cancel or
 * Escape. A fresh <dialog> each time: a closed dialog keeps its returnValue, and a reused one
 * would take Escape on the next question for the last one's confirmation.
 */
export function ask(message, action, { value, label, danger = false } = {}) {
  return new Promise((resolve) => {
    const id = `ask-${++asked}`;
    const field = value !== undefined ? el("input", { id: `${id}-field`, value, "aria-label": label }) : null;
    const dialog = el("dialog", { class: "ask", "aria-labelledby": id });
    // type="button": the first submit button is the one Enter presses.
    const cancel = el("button", { type: "button", value: "cancel", text: "Cancel", onclick: () => dialog.close("cancel") });
    dialog.append(el("form", { method: "dialog" },
      el("p", { id, text: message }), field,
      el("div", { class: "row-actions" }, cancel,
        el("button", { type: "submit", value: "ok", class: danger ? "danger" : "primary", text: action }))));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? (field ? field.value : true) : null);
    });
    document.body.append(dialog);
    dialog.returnValue = "";
    dialog.showModal();
    (field || cancel).focus();
  });
}

/** Runs `handler` on the form's submit, its submit buttons disabled until it is done: a double
 *  click, or Enter pressed twice, sends one request. */
export function onSubmit(form, handler) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    form.setAttribute("aria-busy", "true");
    const buttons = [...form.querySelectorAll("button[type=submit]")];
    for (const b of buttons) b.disabled = true;
    try {
      await handler();
    } finally {
      form.removeAttribute("aria-busy");
      for (const b of buttons) b.disabled = false;
    }
  });
}

export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.textContent = ""; }, 6000);
}
