// Draws a scrubber on a canvas from audiowaveform peaks (JSON, version 2): the played part in
// the accent colour, the rest muted; a plain bar when there are no peaks yet. Shared by the
// owners' player and the share portal.

function colours() {
  const style = getComputedStyle(document.documentElement);
  return {
    accent: style.getPropertyValue("--accent").trim() || "#e0a24a",
    muted: style.getPropertyValue("--line").trim() || "#555",
    mark: style.getPropertyValue("--mark").trim() || "#7cc4f2",
    dim: style.getPropertyValue("--muted").trim() || "#9a9892",
  };
}

// Sizes the canvas to its box in device pixels; answers its context, cleared.
function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * ratio);
  const height = Math.round(canvas.clientHeight * ratio);
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height, ratio };
}

// The peak pair under column x of `width`, as fractions of full scale.
function peakAt(peaks, x, width) {
  const pairs = peaks.data.length / 2;
  const scale = peaks.bits === 8 ? 128 : 32768;
  const i = Math.floor((x / width) * pairs);
  return [peaks.data[2 * i] / scale, peaks.data[2 * i + 1] / scale];
}

const hasPeaks = (peaks) => peaks && peaks.length > 0 && peaks.data?.length > 1;

/**
 * `played` is a fraction of the track; `marks` (optional) are comments as fractions
 * `{from, to, dim}`: a tick at `from`, and the span shaded up to `to` when there is one.
 */
export function drawWaveform(canvas, peaks, played, marks = []) {
  const { ctx, width, height, ratio } = prepare(canvas);
  const { accent, muted, mark, dim } = colours();
  if (hasPeaks(peaks)) {
    for (let x = 0; x < width; x++) {
      const [lo, hi] = peakAt(peaks, x, width);
      ctx.fillStyle = x / width < played ? accent : muted;
      ctx.fillRect(x, (1 - hi) * height / 2, 1, Math.max(1, (hi - lo) * height / 2));
    }
  } else {
    const bar = 2 * ratio;
    ctx.fillStyle = muted;
    ctx.fillRect(0, height / 2 - bar, width, 2 * bar);
    ctx.fillStyle = accent;
    ctx.fillRect(0, height / 2 - bar, width * played, 2 * bar);
  }
  for (const m of marks) {
    ctx.fillStyle = m.dim ? dim : mark;
    if (m.to != null && m.to > m.from) {
      ctx.globalAlpha = 0.18;
      ctx.fillRect(m.from * width, 0, (m.to - m.from) * width, height);
    }
    ctx.globalAlpha = m.dim ? 0.5 : 0.9;
    ctx.fillRect(Math.min(m.from * width, width - ratio), 0, ratio, height);
    ctx.globalAlpha = 1;
  }
}

/**
 * A heat map of what a listener heard: the waveform (or a flat band without peaks) with each
 * part lit by how often it was heard. `heat` holds seconds heard per equal part of the track.
 */
export function drawHeat(canvas, peaks, heat) {
  const { ctx, width, height } = prepare(canvas);
  const { accent, muted } = colours();
  const most = Math.max(0, ...heat);
  for (let x = 0; x < width; x++) {
    const level = most > 0 ? heat[Math.floor((x / width) * heat.length)] / most : 0;
    const [lo, hi] = hasPeaks(peaks) ? peakAt(peaks, x, width) : [-0.4, 0.4];
    if (level > 0) {
      ctx.fillStyle = accent;
      ctx.globalAlpha = 0.1 + 0.25 * level;
      ctx.fillRect(x, 0, 1, height);
    }
    ctx.fillStyle = level > 0 ? accent : muted;
    ctx.globalAlpha = level > 0 ? 0.45 + 0.55 * level : 1;
    ctx.fillRect(x, (1 - hi) * height / 2, 1, Math.max(1, (hi - lo) * height / 2));
  }
  ctx.globalAlpha = 1;
}
