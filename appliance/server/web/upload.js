import { api, ApiError } from "/assets/api.js";

// Resumable uploads (POST /api/uploads, then PATCH pieces at an offset): a dropped connection
// costs at most one piece; the server says where to resume.
const PIECE = 8 * 1024 * 1024;
const MAX_RETRIES = 8;

function send(id, offset, blob, onSent) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PATCH", `/api/uploads/${id}`);
    xhr.setRequestHeader("Upload-Offset", String(offset));
    xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
    xhr.upload.onprogress = (e) => onSent(e.loaded);
    xhr.onerror = () => reject(new ApiError(0, { error: "network", message: "The connection dropped." }));
    xhr.onload = () => {
      let body = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { /* a proxy's error page: the status says enough */ }
      const next = Number(xhr.getResponseHeader("Upload-Offset"));
      if (xhr.status === 201 || xhr.status === 204) resolve({ done: xhr.status === 201, offset: next, body });
      else reject(new ApiError(xhr.status, body));
    };
    xhr.send(blob);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// What a later try can get past: a dropped connection, a server error (but a full disk, whose
// upload the server dropped), an offset the server does not hold, or the server still finishing
// a request that dropped (upload_busy).
function resumable(e) {
  return e instanceof ApiError && (e.status === 0 || (e.status >= 500 && e.status !== 507)
    || e.code === "offset_mismatch" || e.code === "upload_busy");
}

/** Where the server's copy of upload `id` ends. */
async function heldOffset(id) {
  try {
    return (await api("GET", `/api/uploads/${id}`)).offset;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    // fetch rejects (TypeError) while the network is down; a proxy's page is not JSON.
    throw new ApiError(0, { error: "network", message: "The connection dropped." });
  }
}

/** Uploads `file`; `onProgress(fraction)` as bytes go out. Resolves with the new track. */
export async function uploadFile(file, onProgress) {
  const created = await api("POST", "/api/uploads", { filename: file.name, size: file.size });
  try {
    return await sendAll(created.id, file, onProgress);
  } catch (e) {
    // Given up: the upload goes now, with the room in the plan it held, not a day later.
    api("DELETE", `/api/uploads/${created.id}`).catch(() => {});
    throw e;
  }
}

async function sendAll(id, file, onProgress) {
  let offset = 0;
  let retries = 0;
  // After a failure, where to go on is asked first, under the same retries as the pieces.
  let resuming = false;
  let failure = null;
  for (;;) {
    try {
      if (resuming) {
        offset = await heldOffset(id);
        resuming = false;
      }
      const end = Math.min(offset + PIECE, file.size);
      const result = await send(id, offset, file.slice(offset, end), (sent) => onProgress((offset + sent) / Math.max(file.size, 1)));
      if (result.done) return result.body;
      offset = result.offset;
      retries = 0;
    } catch (e) {
      // The upload gone while resuming: the failure that ended it says why.
      if (resuming && failure && e instanceof ApiError && e.status === 404) throw failure;
      if (!resumable(e)) throw e;
      failure = e;
      if (++retries > MAX_RETRIES) throw new Error("The connection keeps dropping; try this file again later.");
      await sleep(Math.min(500 * 2 ** retries, 15000));
      resuming = true;
    }
  }
}

/** Uploads `file` in one request as the next version of the track `versionOf`; `onProgress(fraction)`
 *  as bytes go out. Resolves with the new version's track. */
export function uploadVersion(file, versionOf, onProgress) {
  // The track id goes first: the server knows what the file is before its bytes arrive.
  const form = new FormData();
  form.append("version_of", versionOf);
  form.append("file", file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/tracks");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / Math.max(e.total, 1)); };
    xhr.onerror = () => reject(new ApiError(0, { error: "network", message: "The connection dropped; try this file again." }));
    xhr.onload = () => {
      let body = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { /* not JSON: the status says enough */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body); else reject(new ApiError(xhr.status, body));
    };
    xhr.send(form);
  });
}
