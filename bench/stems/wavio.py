"""Float32 WAV writing with no timestamp in it (libsndfile's float files carry a PEAK chunk
with the time of writing, so the same samples would give different files on each run)."""
import struct

import numpy as np


def write_f32(path, data, sr):
    """data: (frames,) or (frames, channels) -> a WAVE_FORMAT_IEEE_FLOAT (3) file, 32-bit."""
    a = np.asarray(data, dtype="<f4")
    if a.ndim == 1:
        a = a[:, None]
    frames, ch = a.shape
    payload = np.ascontiguousarray(a).tobytes()
    fmt = struct.pack("<HHIIHHH", 3, ch, sr, sr * ch * 4, ch * 4, 32, 0)
    fact = struct.pack("<I", frames)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"fact" + struct.pack("<I", len(fact)) + fact
            + b"data" + struct.pack("<I", len(payload)))
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body) + len(payload)) + body)
        f.write(payload)
