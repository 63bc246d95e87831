// The share portal's player. The page is rendered by the server and works as a list without
// this script; the script adds playback through short-lived signed URLs, the waveform
// scrubber (click, drag or arrow keys), next track, downloads, and copy-preparation progress.
import { drawWaveform } from "/assets/waveform.js";

const root = document.getElementById("portal");

if (root) {
  const base = root.dataset.base;
  const audio = document.getElementById("audio");
  const canvas = document.getElementById("wave");
  const playButton = document.getElementById("play");
  const message = document.getElementById("message");
  const items = [...root.querySelectorAll(".playlist li")];
  const state = { index: -1, peaks: null, ready: new Set() };

  const say = (text) => { message.textContent = text; };
  const clock = (s) => {
    const t = Math.max(0, Math.round(s || 0));
    return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
  };
  const duration = () => audio.duration || Number(items[state.index]?.dataset.duration) || 0;

  async function post(path) {
    const res = await fetch(`${base}/${path}`, { method: "POST", credentials: "same-origin" });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.message || `the appliance answered ${res.status}`);
    return body;
  }

  function draw() {
    drawWaveform(canvas, state.peaks, duration() ? audio.currentTime / duration() : 0);
    const total = duration();
    document.getElementById("clock").textContent = `${clock(audio.currentTime)} / ${clock(total)}`;
    canvas.setAttribute("aria-valuemax", String(Math.round(total)));
    canvas.setAttribute("aria-valuenow", String(Math.round(audio.currentTime)));
    canvas.setAttribute("aria-valuetext", clock(audio.currentTime));
  }

  async function play(index) {
    const item = items[index];
    if (!item) return;
    if (!state.ready.has(item.dataset.track)) {
      say("Your copy of this track is still being prepared; it will be ready in a moment.");
      return;
    }
    try {
      const { url } = await post(`play/${item.dataset.track}`);
      items.forEach((li, i) => li.classList.toggle("current", i === index));
      state.index = index;
      state.peaks = null;
      document.getElementById("now").textContent = item.querySelector(".pick").textContent.trim();
      audio.src = url;
      await audio.play();
      say("");
      fetch(`${base}/peaks/${item.dataset.track}?zoom=1024`, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .then((p) => { if (p && state.index === index) { state.peaks = p; draw(); } })
        .catch(() => {});
    } catch (e) {
      say(`Cannot play: ${e.message}`);
    }
  }

  async function download(item) {
    try {
      const { url } = await post(`download/${item.dataset.track}`);
      const a = document.createElement("a");
      a.href = url;
      a.download = "";
      document.body.append(a);
      a.click();
      a.remove();
      say("Download started.");
    } catch (e) {
      say(`Cannot download: ${e.message}`);
    }
  }

  function seekTo(fraction) {
    if (!duration()) return;
    audio.currentTime = Math.min(Math.max(fraction, 0), 1) * duration();
    draw();
  }

  playButton.addEventListener("click", () => {
    if (state.index < 0) { play(0); return; }
    if (audio.paused) audio.play(); else audio.pause();
  });
  document.getElementById("next").addEventListener("click", () => play(state.index + 1));
  audio.addEventListener("play", () => { playButton.textContent = "❚❚"; playButton.setAttribute("aria-label", "Pause"); });
  audio.addEventListener("pause", () => { playButton.textContent = "▶"; playButton.setAttribute("aria-label", "Play"); });
  audio.addEventListener("timeupdate", draw);
  audio.addEventListener("loadedmetadata", draw);
  audio.addEventListener("ended", () => play(state.index + 1));
  canvas.addEventListener("click", (e) => {
    const box = canvas.getBoundingClientRect();
    seekTo((e.clientX - box.left) / box.width);
  });
  canvas.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 }[e.key];
    if (step !== undefined) { audio.currentTime = Math.max(0, audio.currentTime + step); draw(); }
    else if (e.key === "Home") seekTo(0);
    else if (e.key === "End") seekTo(0.999);
    else if (e.key === " ") playButton.click();
    else return;
    e.preventDefault();
  });
  items.forEach((item, i) => {
    item.querySelector(".pick").addEventListener("click", () => play(i));
    item.querySelector(".download")?.addEventListener("click", () => download(item));
  });
  window.addEventListener("resize", draw);

  // Copies are prepared in the background: poll until every track is ready.
  async function refresh() {
    try {
      const res = await fetch(`${base}/state`, { credentials: "same-origin" });
      if (!res.ok) return;
      const body = await res.json();
      let pending = false;
      for (const t of body.tracks) {
        const item = items.find((li) => li.dataset.track === t.id);
        if (!item) continue;
        const status = item.querySelector(".status");
        if (t.state === "ready") {
          state.ready.add(t.id);
          status.textContent = "Ready";
        } else if (t.state === "failed") {
          status.textContent = "This copy could not be prepared";
        } else if (t.state === "withheld") {
          status.textContent = "The owner has paused new copies; ask them for this one";
        } else {
          pending = true;
          status.textContent = t.progress != null
            ? `Preparing your copy… ${Math.round(t.progress * 100)}%`
            : "Preparing your copy…";
        }
        item.classList.toggle("waiting", t.state !== "ready");
      }
      if (pending) setTimeout(refresh, 1000);
    } catch {
      setTimeout(refresh, 3000);
    }
  }
  refresh();
  draw();
}
