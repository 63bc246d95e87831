// Draws a scrubber on a canvas from audiowaveform peaks (JSON, version 2): the played part in
// the accent colour, the rest muted; a plain bar when there are no peaks yet. Shared by the
// owners' player and the share portal.
export function drawWaveform(canvas, peaks, played) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio;
  const height = canvas.clientHeight * ratio;
  if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const style = getComputedStyle(document.documentElement);
  const accent = style.getPropertyValue("--accent").trim() || "#e0a24a";
  const muted = style.getPropertyValue("--line").trim() || "#555";
  if (peaks && peaks.length > 0) {
    const pairs = peaks.data.length / 2;
    const scale = peaks.bits === 8 ? 128 : 32768;
    for (let x = 0; x < width; x++) {
      const i = Math.floor((x / width) * pairs);
      const lo = peaks.data[2 * i] / scale;
      const hi = peaks.data[2 * i + 1] / scale;
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
}
