// The share portal's player. The page is rendered by the server and works as a list without
// this script; the script adds playback through short-lived signed URLs, the waveform
// scrubber (click, drag or arrow keys), next track, downloads, copy-preparation progress,
// versions (switched at the same position, for A/B listening), comments pinned to moments,
// and reports of the spans played. It also tells the appliance the page was opened: a link
// preview fetches the page without running this, and counts nothing.
import { loadOrder } from "/assets/api.js";
import { drawWaveform } from "/assets/waveform.js";

const root = document.getElementById("portal");

if (root) {
  const base = root.dataset.base;
  const audio = document.getElementById("audio");
  const canvas = document.getElementById("wave");
  const playButton = document.getElementById("play");
  const message = document.getElementById("message");
  const items = [...root.querySelectorAll(".playlist li")];
  // `shown` is what the threads were last drawn from, so a poll that brings nothing new leaves
  // them (and the focus) alone; `drafts` keeps half-typed replies across redraws.
  const state = { index: -1, track: null, peaks: null, ready: new Set(), comments: [], span: null, shown: "", drafts: new Map() };
  const versionsBox = document.getElementById("versions");
  const commentsBox = document.getElementById("comments");
  const commentList = document.getElementById("comment-list");
  const commentForm = document.getElementById("comment-form");
  const commentText = document.getElementById("comment-text");
  const commentAt = document.getElementById("comment-at");
  const versionsOf = (item) => {
    try { return JSON.parse(item.dataset.versions || "[]"); } catch { return []; }
  };

  const say = (text) => { message.textContent = text; };
  const clock = (s) => {
    const t = Math.max(0, Math.round(s || 0));
    return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
  };
  const duration = () => audio.duration || Number(items[state.index]?.dataset.duration) || 0;

  async function post(path, json) {
    const init = { method: "POST", credentials: "same-origin" };
    if (json !== undefined) {
      init.headers = { "Content-Type": "application/json" };
      init.body = JSON.stringify(json);
    }
    const res = await fetch(`${base}/${path}`, init);
    const body = res.status === 204 ? {} : await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.message || `the appliance answered ${res.status}`);
    return body;
  }

  function marks() {
    const d = duration();
    if (!d) return [];
    return state.comments.filter((c) => !c.parent).map((c) => ({
      from: c.at_secs / d, to: c.end_secs != null ? c.end_secs / d : null, dim: c.resolved,
    }));
  }

  function draw() {
    drawWaveform(canvas, state.peaks, duration() ? audio.currentTime / duration() : 0, marks());
    commentAt.textContent = `Comment at ${clock(audio.currentTime)}`;
    const total = duration();
    document.getElementById("clock").textContent = `${clock(audio.currentTime)} / ${clock(total)}`;
    canvas.setAttribute("aria-valuemax", String(Math.round(total)));
    canvas.setAttribute("aria-valuenow", String(Math.round(audio.currentTime)));
    canvas.setAttribute("aria-valuetext", clock(audio.currentTime));
  }

  // Plays entry `index`, at version `track` (its newest when not given) from `at` seconds.
  async function play(index, track, at = 0) {
    const item = items[index];
    if (!item) return;
    const id = track || item.dataset.track;
    if (!state.ready.has(id)) {
      say("Your copy of this track is still being prepared; it will be ready in a moment.");
      return;
    }
    try {
      // The span of the version left ends here; the new one starts when it plays.
      flushSpan(false);
      state.span = null;
      state.lastTime = null;
      const { url } = await post(`play/${id}`);
      items.forEach((li, i) => li.classList.toggle("current", i === index));
      state.index = index;
      state.track = id;
      state.peaks = null;
      document.getElementById("now").textContent = item.querySelector(".pick").textContent.trim();
      showVersions(item);
      audio.src = url;
      if (at > 0) audio.addEventListener("loadedmetadata", () => { audio.currentTime = at; }, { once: true });
      await audio.play();
      say("");
      loadComments();
      fetch(`${base}/peaks/${id}?zoom=1024`, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .then((p) => { if (p && state.track === id) { state.peaks = p; draw(); } })
        .catch(() => {});
    } catch (e) {
      say(`Cannot play: ${e.message}`);
    }
  }

  // Versions: one button each, the one playing pressed; a switch keeps the position.
  function showVersions(item) {
    const versions = versionsOf(item);
    versionsBox.hidden = versions.length < 2;
    versionsBox.replaceChildren(...versions.map((v) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.id = v.id;
      b.textContent = v.label;
      b.setAttribute("aria-pressed", String(v.id === state.track));
      b.addEventListener("click", () => {
        if (v.id !== state.track) play(state.index, v.id, audio.currentTime);
      });
      return b;
    }));
  }

  // What was played, reported in spans: from where playing started to where it is now, sent
  // every 10 s, on pause, before a seek and at the end.
  function flushSpan(ended) {
    const span = state.span;
    if (!span || !state.track) return;
    const to = ended ? duration() : audio.currentTime;
    state.span = ended || audio.paused ? null : { track: span.track, from: audio.currentTime };
    if (to - span.from < 0.25 && !ended) return;
    post(`listen/${span.track}`, { from_secs: span.from, to_secs: Math.max(span.from, to), ended })
      .catch(() => {});
  }
  audio.addEventListener("playing", () => { state.span = { track: state.track, from: audio.currentTime }; });
  audio.addEventListener("pause", () => flushSpan(false));
  audio.addEventListener("seeking", () => {
    // The span ended where the playhead was before the seek.
    if (state.span && state.lastTime != null) {
      const span = state.span;
      state.span = null;
      if (state.lastTime - span.from >= 0.25) {
        post(`listen/${span.track}`, { from_secs: span.from, to_secs: state.lastTime, ended: false }).catch(() => {});
      }
    }
  });
  audio.addEventListener("seeked", () => { if (!audio.paused) state.span = { track: state.track, from: audio.currentTime }; });
  audio.addEventListener("timeupdate", () => { if (!audio.seeking) state.lastTime = audio.currentTime; });
  setInterval(() => { if (!audio.paused) flushSpan(false); }, 10_000);

  // Comments on the version playing: the recipient's own thread and what the owner shared.
  // The reload after posting must not be drawn over by a refresh sent before it.
  const commentLoads = loadOrder();
  async function loadComments() {
    if (!state.track) return;
    const id = state.track;
    const isNewest = commentLoads();
    try {
      const res = await fetch(`${base}/comments/${id}`, { credentials: "same-origin" });
      if (!res.ok || state.track !== id) return;
      const { comments } = await res.json();
      if (!isNewest() || state.track !== id) return;
      state.comments = comments;
      commentsBox.hidden = false;
      renderComments();
      draw();
    } catch { /* kept as shown */ }
  }

  function renderComments() {
    const shown = JSON.stringify([state.track, state.comments]);
    if (shown === state.shown) return;
    state.shown = shown;
    // A reply being typed keeps its focus and caret through the redraw.
    const typing = commentList.contains(document.activeElement) ? document.activeElement : null;
    const caret = typing?.tagName === "TEXTAREA" ? [typing.selectionStart, typing.selectionEnd] : null;
    const roots = state.comments.filter((c) => !c.parent).sort((a, b) => a.at_secs - b.at_secs);
    commentList.replaceChildren(...roots.map((root) => {
      const li = document.createElement("li");
      li.className = "thread";
      li.dataset.comment = root.id;
      li.dataset.at = String(root.at_secs);
      li.append(commentLine(root));
      const replies = document.createElement("ol");
      replies.className = "replies";
      for (const r of state.comments.filter((c) => c.parent === root.id)) {
        const item = document.createElement("li");
        item.className = "reply";
        item.append(commentLine(r));
        replies.append(item);
      }
      li.append(replies, replyForm(root));
      return li;
    }));
    const again = typing?.id && document.getElementById(typing.id);
    if (again && commentList.contains(again)) {
      again.focus();
      if (caret) again.setSelectionRange(...caret);
    }
  }

  function commentLine(c) {
    const box = document.createElement("div");
    if (!c.parent) {
      const at = document.createElement("button");
      at.type = "button";
      at.className = "at";
      at.textContent = c.end_secs != null ? `${clock(c.at_secs)}–${clock(c.end_secs)}` : clock(c.at_secs);
      at.setAttribute("aria-label", `Play from ${clock(c.at_secs)}`);
      at.addEventListener("click", () => seekTo(c.at_secs / (duration() || 1)));
      box.append(at);
    }
    const who = document.createElement("span");
    who.className = "author";
    who.textContent = c.author.kind === "owner" ? `${c.author.name} (owner)` : c.author.name;
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = c.text;
    box.append(who, text);
    if (!c.parent && c.resolved) {
      const note = document.createElement("span");
      note.className = "resolved-note";
      note.textContent = "Resolved";
      box.append(note);
    }
    return box;
  }

  function replyForm(root) {
    const form = document.createElement("form");
    form.className = "reply-form";
    const id = `reply-${root.id}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = "Reply";
    const text = document.createElement("textarea");
    text.id = id;
    text.rows = 1;
    text.maxLength = 2000;
    text.required = true;
    text.value = state.drafts.get(root.id) ?? "";
    text.addEventListener("input", () => state.drafts.set(root.id, text.value));
    const send = document.createElement("button");
    send.type = "submit";
    send.textContent = "Reply";
    form.append(label, text, send);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await post(`comments/${state.track}`, { text: text.value, parent: root.id });
        state.drafts.delete(root.id);
        loadComments();
      } catch (err) {
        say(`Cannot reply: ${err.message}`);
      }
    });
    return form;
  }

  commentForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!state.track) return;
    try {
      await post(`comments/${state.track}`, { text: commentText.value, at_secs: state.pinned ?? audio.currentTime });
      commentText.value = "";
      state.pinned = null;
      say("Comment posted.");
      loadComments();
    } catch (err) {
      say(`Cannot comment: ${err.message}`);
    }
  });
  // The moment is the one heard when typing starts, not when the comment is sent.
  commentText.addEventListener("input", () => { if (state.pinned == null) state.pinned = audio.currentTime; });
  setInterval(() => { if (!commentsBox.hidden && document.visibilityState === "visible") loadComments(); }, 15_000);

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
  // A play URL lives 15 minutes: after a longer pause the browser's next request for the audio
  // is refused. A fresh URL for the same play (`?resume`, which counts no new play) goes on
  // from where it was; a second failure within seconds is said, not retried.
  let renewedAt = 0;
  // A refused fetch that a press of play started leaves the element paused: the press still counts.
  let playPressedAt = 0;
  audio.addEventListener("play", () => { playPressedAt = Date.now(); });
  audio.addEventListener("error", async () => {
    const id = state.track;
    if (!id) return;
    if (Date.now() - renewedAt < 10_000) {
      say("Playback stopped: this track cannot be played right now.");
      return;
    }
    renewedAt = Date.now();
    const at = audio.currentTime || state.lastTime || 0;
    const playing = !audio.paused || Date.now() - playPressedAt < 10_000;
    try {
      const { url } = await post(`play/${id}?resume`);
      if (state.track !== id) return;
      audio.src = url;
      audio.addEventListener("loadedmetadata", () => { audio.currentTime = at; }, { once: true });
      if (playing) await audio.play();
    } catch (e) {
      say(`Playback stopped: ${e.message}`);
    }
  });
  audio.addEventListener("ended", () => flushSpan(true));
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

  // Copies are prepared in the background: poll until every track is ready. A poll that fails
  // on the way (no network, a 5xx or 429 from the appliance or a proxy) is tried again, later
  // each time; only a definite answer (the link is gone, or locked again) ends the polling.
  let failedPolls = 0;
  const pollAgain = () => setTimeout(refresh, Math.min(1000 * 2 ** failedPolls++, 30_000));
  async function refresh() {
    try {
      const res = await fetch(`${base}/state`, { credentials: "same-origin" });
      if (!res.ok) {
        const transient = res.status >= 500 || res.status === 408 || res.status === 429;
        if (transient) { pollAgain(); return; }
        const { message: why } = await res.json().catch(() => ({}));
        say(`Your copies cannot be checked: ${why || `the appliance answered ${res.status}`}. Reload the page.`);
        return;
      }
      const body = await res.json();
      failedPolls = 0;
      let pending = false;
      for (const t of body.tracks) {
        // Every version's copy: the list shows the newest's, the switcher plays the others.
        if (t.state === "ready") state.ready.add(t.id);
        else if (t.state === "queued" || t.state === "rendering") pending = true;
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
      pollAgain();
    }
  }
  // The visit counts once the page is seen by a person's browser.
  const opened = () => post("open").catch(() => {});
  if (document.visibilityState === "visible") opened();
  else document.addEventListener("visibilitychange", opened, { once: true });
  refresh();
  draw();
}
