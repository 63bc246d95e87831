import { api, el, fmt, toast } from "/assets/api.js";
import { drawWaveform } from "/assets/waveform.js";
import { initComments, commentsFor, commentMarks, openComments as openPanel, resetComments } from "/assets/comments.js";

// The bottom player: an <audio> element streaming with Range requests, and a scrubber drawn
// from the stored waveform peaks (audiowaveform JSON, version 2) when the track has them. A
// track with several versions gets a switcher that changes version at the same position, so
// mixes can be compared A/B; its comments show under the waveform (comments.js).
const state = { track: null, peaks: null, onChange: null, versions: [] };

function $(id) { return document.getElementById(id); }

function draw() {
  const canvas = $("wave");
  const audio = $("audio");
  drawWaveform(canvas, state.peaks, audio.duration ? audio.currentTime / audio.duration : 0, commentMarks());
  canvas.setAttribute("aria-valuemax", String(Math.round(audio.duration || 0)));
  canvas.setAttribute("aria-valuenow", String(Math.round(audio.currentTime)));
  canvas.setAttribute("aria-valuetext", `${fmt.duration(audio.currentTime)} of ${fmt.duration(audio.duration)}`);
  $("clock").textContent = `${fmt.duration(audio.currentTime)} / ${fmt.duration(audio.duration)}`;
}

export function seekTo(seconds) {
  const audio = $("audio");
  if (!audio.duration) return;
  audio.currentTime = Math.max(0, Math.min(audio.duration, seconds));
  draw();
}

export function togglePlay() {
  const audio = $("audio");
  if (!state.track) return;
  // A track that cannot play says why through the element's error event (`explainError`).
  if (audio.paused) audio.play().catch(() => {}); else audio.pause();
}

// Why the <audio> element could not play the track, told to the owner: the browser may not
// decode its format (Chrome and Firefox play no AIFF), or the request failed (signed out, the
// track deleted meanwhile), which a HEAD request tells apart without fetching the audio.
async function explainError() {
  const track = state.track;
  if (!track || !$("audio").error) return;
  let status = 0;
  try {
    status = (await fetch(`/api/tracks/${track.id}/audio`, { method: "HEAD", credentials: "same-origin" })).status;
  } catch { /* offline: said below */ }
  if (state.track !== track) return;
  const format = track.mime_type ? track.mime_type.split("/")[1].toUpperCase() : "this format";
  toast(status === 401 ? "You were signed out: sign in again to play."
    : status === 404 ? `${track.name} is no longer in your library.`
    : status === 200 ? `This browser cannot play ${format} files: download ${track.name} to listen to it.`
    : `${track.name} could not be played: the connection failed.`);
}

// Points the <audio> at `track`, from `at` seconds once its length is known.
function start(track, at, autoplay) {
  const audio = $("audio");
  audio.src = `/api/tracks/${track.id}/audio`;
  if (at > 0) {
    audio.addEventListener("loadedmetadata", () => {
      if (state.track !== track) return;
      audio.currentTime = Math.min(at, audio.duration || at);
      if (autoplay) audio.play().catch(() => {});
    }, { once: true });
  } else if (autoplay) {
    audio.play().catch(() => {});
  }
}

async function loadPeaks(track) {
  try {
    const res = await fetch(`/api/tracks/${track.id}/peaks?zoom=1024`, { credentials: "same-origin" });
    if (res.ok && state.track === track) { state.peaks = await res.json(); draw(); }
  } catch { /* no peaks yet: the plain bar stays */ }
}

function renderVersions() {
  const box = $("versions");
  box.hidden = state.versions.length < 2;
  box.replaceChildren(...state.versions.map((v) => el("button", {
    type: "button", "data-id": v.id, "aria-pressed": String(v.id === state.track?.id), title: v.name, text: v.label,
    onclick: () => switchVersion(v.id),
  })));
}

async function loadVersions(track) {
  state.versions = [];
  renderVersions();
  if (!(track.version?.count > 1)) return;
  try {
    const { versions } = await api("GET", `/api/tracks/${track.id}/versions`);
    if (state.track === track) { state.versions = versions; renderVersions(); }
  } catch { /* no switcher: the version playing stays */ }
}

function show(track, at, autoplay) {
  state.track = track;
  state.peaks = null;
  $("player").hidden = false;
  $("now-title").textContent = track.name;
  start(track, at, autoplay);
  draw();
  loadPeaks(track);
  commentsFor(track);
}

/** Plays `track` (a TrackView) from the start; `onChange(track, playing)` on play and pause. */
export function play(track, onChange, { autoplay = true } = {}) {
  state.onChange = onChange;
  show(track, 0, autoplay);
  loadVersions(track);
}

/** Switches to another version of the playing track, at the same position, playing on if it was. */
export function switchVersion(id) {
  const v = state.versions.find((x) => x.id === id);
  if (!v || v.id === state.track?.id) return;
  const audio = $("audio");
  const at = audio.currentTime;
  const playing = !audio.paused;
  const family = state.track.version?.family ?? state.versions[0].id;
  const track = {
    id: v.id, name: v.name, duration_secs: v.duration_secs,
    version: { family, number: v.number, count: state.versions.length, latest: v.id === state.versions.at(-1).id },
  };
  show(track, at, playing);
  renderVersions();
  state.onChange?.(track, playing);
}

/** Opens `track` (a TrackView, or its id) in the player, paused unless it is playing, with its comments. */
export async function openComments(track, commentId) {
  if (typeof track === "string") track = state.track?.id === track ? state.track : await api("GET", `/api/tracks/${track}`);
  if (state.track?.id !== track.id) play(track, null, { autoplay: false });
  await openPanel(commentId);
}

export function current() { return state.track; }

/** Forgets the track (on sign-out): nothing of it may play, load or show for whoever is next. */
export function resetPlayer() {
  const audio = $("audio");
  audio.pause();
  // Without a source, and reloaded, the element drops what it buffered and fetches nothing.
  audio.removeAttribute("src");
  audio.load();
  Object.assign(state, { track: null, peaks: null, onChange: null, versions: [] });
  $("player").hidden = true;
  $("now-title").textContent = "";
  renderVersions();
  resetComments();
  draw();
}

export function initPlayer() {
  const audio = $("audio");
  const canvas = $("wave");
  const button = $("play");
  const sync = () => {
    button.textContent = audio.paused ? "▶" : "❚❚";
    button.setAttribute("aria-label", audio.paused ? "Play" : "Pause");
    state.onChange?.(state.track, !audio.paused);
  };
  initComments({ seek: seekTo, changed: draw });
  // The page keeps its end clear of the player, however tall the comments make it.
  new ResizeObserver(() => document.documentElement.style.setProperty("--player-height", `${$("player").offsetHeight}px`)).observe($("player"));
  audio.addEventListener("play", sync);
  audio.addEventListener("pause", sync);
  audio.addEventListener("timeupdate", draw);
  audio.addEventListener("loadedmetadata", draw);
  audio.addEventListener("error", explainError);
  button.addEventListener("click", togglePlay);
  canvas.addEventListener("click", (e) => {
    const rect = canvas.getBoundingClientRect();
    seekTo(((e.clientX - rect.left) / rect.width) * (audio.duration || 0));
  });
  canvas.addEventListener("keydown", (e) => {
    const steps = { ArrowLeft: -5, ArrowRight: 5, PageDown: -30, PageUp: 30 };
    if (e.key in steps) seekTo(audio.currentTime + steps[e.key]);
    else if (e.key === "Home") seekTo(0);
    else if (e.key === "End") seekTo(audio.duration);
    else return;
    e.preventDefault();
  });
  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest("input, textarea, select, button, [role=slider], dialog");
    if (e.key === " " && !typing && state.track) { e.preventDefault(); togglePlay(); }
  });
  window.addEventListener("resize", draw);
}
