// Breach notices: each one the signed-in owner was sent and has not dismissed, shown as a
// banner above every page with the same text as the mail. Text goes in through textContent
// only (el's text and string children), never as HTML.
import { api, el, fmt, toast } from "/assets/api.js";

const PARTS = [
  ["what_happened", "What happened"],
  ["data_affected", "What data is affected"],
  ["containment", "What we did to contain it"],
  ["user_action", "What you should do"],
  ["contact", "How to reach our security team"],
];

function banner(notice, box) {
  const section = el("section", { class: "notice", role: "alert", "aria-labelledby": `notice-${notice.id}` },
    el("h2", { id: `notice-${notice.id}`, text: "Security notice: an incident affecting your account" }),
    el("p", { class: "muted", text: `Sent ${fmt.date(notice.sent_at)} · reference ${notice.id}` }),
  );
  for (const [key, heading] of PARTS) {
    section.append(el("h3", { text: heading }), el("p", { class: "notice-text", text: notice[key] }));
  }
  const dismiss = el("button", { type: "button", text: "Dismiss" });
  dismiss.addEventListener("click", async () => {
    dismiss.disabled = true;
    try {
      await api("POST", `/api/notices/${encodeURIComponent(notice.id)}/dismiss`);
      section.remove();
      box.hidden = box.childElementCount === 0;
    } catch (e) {
      dismiss.disabled = false;
      toast(e.message);
    }
  });
  section.append(dismiss);
  return section;
}

// Shows the owner's undismissed notices in `box`, or hides it.
export async function showNotices(box) {
  let notices = [];
  try {
    notices = await api("GET", "/api/notices");
  } catch (e) {
    toast(e.message);
  }
  box.replaceChildren(...notices.map((n) => banner(n, box)));
  box.hidden = notices.length === 0;
}

export function clearNotices(box) {
  box.replaceChildren();
  box.hidden = true;
}
