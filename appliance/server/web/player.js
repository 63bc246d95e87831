import { fmt } from "/assets/api.js";
import { drawWaveform } from "/assets/waveform.js";

// The bottom player: an <audio> element streaming with Range requests, and a scrubber drawn
// from the stored waveform peaks (audiowaveform JSON, version 2) when the track has them.
const state = { track: null, peaks: null, onChange: null };

function $(id) { return document.getElementById(id); }

function draw() {
  const canvas = $("wave");
  const audio = $("audio");
  drawWaveform(canvas, state.peaks, audio.duration ? audio.currentTime / audio.duration : 0);
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
  if (audio.paused) audio.play(); else audio.pause();
}

export async function play(track, onChange) {
  const audio = $("audio");
  state.track = track;
  state.onChange = onChange;
  state.peaks = null;
  $("player").hidden = false;
  $("now-title").textContent = track.name;
  audio.src = `/api/tracks/${track.id}/audio`;
  audio.play().catch(() => {});
  draw();
  try {
    const res = await fetch(`/api/tracks/${track.id}/peaks?zoom=1024`, { credentials: "same-origin" });
    if (res.ok && state.track === track) { state.peaks = await res.json(); draw(); }
  } catch { /* no peaks yet: the plain bar stays */ }
}

export function current() { return state.track; }

export function initPlayer() {
  const audio = $("audio");
  const canvas = $("wave");
  const button = $("play");
  const sync = () => {
    button.textContent = audio.paused ? "▶" : "❚❚";
    button.setAttribute("aria-label", audio.paused ? "Play" : "Pause");
    state.onChange?.(state.track, !audio.paused);
  };
  audio.addEventListener("play", sync);
  audio.addEventListener("pause", sync);
  audio.addEventListener("timeupdate", draw);
  audio.addEventListener("loadedmetadata", draw);
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
