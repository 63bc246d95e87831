// An upload link's page: sends each chosen file in its own request, one after another, with
// its progress; the server checks each as audio and answers what the link still takes.
const root = document.getElementById("upload-link");

if (root) {
  const base = root.dataset.base;
  const form = document.getElementById("upload-form");
  const input = document.getElementById("upload-files");
  const password = document.getElementById("upload-password");
  const list = document.getElementById("upload-progress");
  const message = document.getElementById("upload-message");
  const send = document.getElementById("upload-send");

  function row(file) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", `Sending ${file.name}`);
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = "waiting";
    li.append(name, bar, status);
    list.append(li);
    return { li, bar, status };
  }

  // XMLHttpRequest, not fetch: it reports upload progress.
  function upload(file, shown) {
    return new Promise((resolve) => {
      const body = new FormData();
      body.append("file", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${base}/files`);
      // Percent-encoded: a header carries no character past Latin-1, nor edge spaces.
      if (password) xhr.setRequestHeader("X-Link-Password", encodeURIComponent(password.value));
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) shown.bar.value = e.loaded / e.total * 0.99;
      });
      xhr.addEventListener("load", () => {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status === 201) {
          shown.bar.value = 1;
          shown.status.textContent = "received";
          shown.li.classList.add("done");
          resolve({ ok: true, answer });
        } else {
          shown.status.textContent = answer.message || `refused (${xhr.status})`;
          shown.li.classList.add("failed");
          resolve({ ok: false, status: xhr.status, answer });
        }
      });
      xhr.addEventListener("error", () => {
        shown.status.textContent = "the connection broke off";
        shown.li.classList.add("failed");
        resolve({ ok: false, status: 0, answer: {} });
      });
      shown.status.textContent = "sending…";
      xhr.send(body);
    });
  }

  // Refusals that hold for every file after the one refused.
  function stopsTheRest(result) {
    return [401, 404, 429].includes(result.status) || result.answer.error === "limit_reached";
  }

  function notSent(shown, reason) {
    shown.status.textContent = `not sent: ${reason}`;
    shown.li.classList.add("failed");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = [...input.files];
    if (files.length === 0) return;
    send.disabled = true;
    message.textContent = "";
    // Files not received last time are being sent again: their old rows go.
    for (const li of list.querySelectorAll("li:not(.done)")) li.remove();
    const rows = files.map(row);
    const missed = [];
    let stop = null;
    for (const [i, file] of files.entries()) {
      if (stop) {
        notSent(rows[i], stop.reason);
        missed.push(file.name);
        continue;
      }
      const result = await upload(file, rows[i]);
      if (result.ok) continue;
      missed.push(file.name);
      if (result.status === 401) rows[i].status.textContent = "wrong password";
      if (stopsTheRest(result)) {
        const reason = result.status === 401 ? "wrong password" : (result.answer.message || "the link refused the files");
        // A wrong password or too many tries: the files stay chosen, to be sent again.
        const again = result.status === 401 ? "enter the right password and send them again"
          : result.status === 429 ? "send them again in a moment" : null;
        stop = { reason, again };
      }
    }
    const received = files.length - missed.length;
    if (missed.length === 0) {
      message.textContent = `${received} of ${files.length} file(s) received. Thank you.`;
    } else {
      message.textContent = `${received} of ${files.length} file(s) received. Not received: ${missed.join(", ")}${stop ? ` (${stop.reason})` : ""}.`;
      if (stop?.again) message.textContent += ` Your files are still chosen: ${stop.again}.`;
    }
    if (!stop?.again) input.value = "";
    send.disabled = false;
  });
}
