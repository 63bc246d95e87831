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
      if (password) xhr.setRequestHeader("X-Link-Password", password.value);
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

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = [...input.files];
    if (files.length === 0) return;
    send.disabled = true;
    message.textContent = "";
    let sent = 0;
    for (const file of files) {
      const result = await upload(file, row(file));
      if (result.ok) {
        sent += 1;
        continue;
      }
      // A wrong password or a full link refuses every file after it too.
      if (result.status === 401 || result.status === 404 || result.answer.error === "limit_reached") {
        message.textContent = result.answer.message || "The link refused the files.";
        break;
      }
    }
    if (sent > 0) message.textContent = `${sent} of ${files.length} file(s) received. Thank you.`;
    input.value = "";
    send.disabled = false;
  });
}
