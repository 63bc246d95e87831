import { api, el, ApiError } from "/assets/api.js";

// Sign-in: password, then a TOTP field when the account has 2FA; throttling shows a countdown.
export function renderLogin(main, onSignedIn) {
  const email = el("input", { id: "email", type: "email", autocomplete: "username", required: true });
  const password = el("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const totp = el("input", { id: "totp", inputmode: "numeric", autocomplete: "one-time-code", "aria-describedby": "totp-help" });
  const totpRow = el("div", { hidden: true }, el("label", { for: "totp", text: "Two-factor code" }), totp,
    el("p", { id: "totp-help", class: "muted", text: "The 6-digit code from your authenticator app, or a recovery code." }));
  const error = el("p", { class: "error", role: "alert", id: "login-error" });
  const submit = el("button", { type: "submit", class: "primary", text: "Sign in" });
  let countdown;

  const form = el("form", { class: "card narrow", "aria-labelledby": "login-title" },
    el("h1", { id: "login-title", text: "Sign in to Studio Vault" }),
    el("label", { for: "email", text: "E-mail" }), email,
    el("label", { for: "password", text: "Password" }), password,
    totpRow, submit, error);

  function wait(seconds) {
    clearInterval(countdown);
    submit.disabled = true;
    let left = seconds;
    const tick = () => {
      error.textContent = `Too many failed sign-ins. Try again in ${left} s.`;
      if (left-- <= 0) { clearInterval(countdown); submit.disabled = false; error.textContent = ""; }
    };
    tick();
    countdown = setInterval(tick, 1000);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      const me = await api("POST", "/api/session", {
        email: email.value, password: password.value, totp: totpRow.hidden ? null : totp.value || null,
      });
      clearInterval(countdown);
      onSignedIn(me);
    } catch (e) {
      submit.disabled = false;
      if (!(e instanceof ApiError)) { error.textContent = "The appliance cannot be reached."; return; }
      if (e.code === "totp_required") {
        totpRow.hidden = false;
        totp.focus();
        error.textContent = "Enter your two-factor code.";
      } else if (e.code === "too_many_attempts") {
        wait(e.retryAfter || 60);
      } else {
        error.textContent = e.message;
        if (e.code === "bad_totp") totp.select();
      }
    }
  });
  main.replaceChildren(form);
  email.focus();
}
