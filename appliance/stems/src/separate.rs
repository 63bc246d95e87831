//! The streaming separator: samples in, four stems out, a few segments of memory in between.
//!
//! Frames are grouped into segments of 512 STFT frames (the model's input length, starting at
//! frame 0, the last one zero-padded as Spleeter's `pad_and_partition` does). A segment is
//! analysed (both U-Nets, ratio masks) as soon as its frames are in, and finished (median
//! filtering, masking, inverse STFT) once the next segment is analysed too, because the time
//! median of the drums/bass split needs 8 frames of look-ahead. So at most three segments'
//! spectra are alive, whatever the track's length.

use std::collections::VecDeque;

use crate::StemsError;
use crate::model::Model;
use crate::stft::{Complex32, Stft, frame_count, n_fft_for_rate};
use crate::unet::{MODEL_BINS, SEGMENT_FRAMES, UNetRunner};

/// Half the median window (17 frames in time, 17 bins in frequency).
const MEDIAN_HALF: usize = 8;
/// Below this the bass weight is 1.
const BASS_FULL_HZ: f64 = 150.0;
/// Above this the bass weight is 0.
const BASS_NONE_HZ: f64 = 300.0;

/// How the separator runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeparatorOptions {
    /// Threads: with 2 or more the vocals and accompaniment U-Nets run side by side.
    pub threads: usize,
}

impl Default for SeparatorOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
        }
    }
}

/// One block of output: the four stems, each interleaved with the input's channel count and
/// holding the same number of frames.
#[derive(Debug, Clone, Copy)]
pub struct StemBlock<'a> {
    pub channels: usize,
    pub vocals: &'a [f32],
    pub drums: &'a [f32],
    pub bass: &'a [f32],
    pub other: &'a [f32],
}

impl<'a> StemBlock<'a> {
    /// Frames in the block.
    pub fn frames(&self) -> usize {
        self.vocals.len() / self.channels.max(1)
    }

    /// The stems in [`STEM_NAMES`](crate::STEM_NAMES) order.
    pub fn stems(&self) -> [&'a [f32]; 4] {
        [self.vocals, self.drums, self.bass, self.other]
    }
}

/// One segment's spectra and masks, per channel.
#[derive(Debug)]
struct Segment {
    /// Segment number: its first frame is `index · 512`.
    index: usize,
    /// Real (not padding) frames in it.
    frames: usize,
    /// STFT, channel × frame × bin.
    spec: Vec<Complex32>,
    /// Vocals ratio mask over the modelled bins, channel × frame × 1024.
    mv: Vec<f32>,
    /// Accompaniment ratio mask, same layout.
    ma: Vec<f32>,
    /// Mean of each mask over the modelled bins, channel × frame (the upper band's mask).
    mv_hi: Vec<f32>,
    ma_hi: Vec<f32>,
    /// |accompaniment spectrum|, channel × frame × bin.
    amag: Vec<f32>,
}

impl Segment {
    fn new(channels: usize, bins: usize) -> Self {
        Self {
            index: 0,
            frames: 0,
            spec: vec![Complex32::new(0.0, 0.0); channels * SEGMENT_FRAMES * bins],
            mv: vec![0.0; channels * SEGMENT_FRAMES * MODEL_BINS],
            ma: vec![0.0; channels * SEGMENT_FRAMES * MODEL_BINS],
            mv_hi: vec![0.0; channels * SEGMENT_FRAMES],
            ma_hi: vec![0.0; channels * SEGMENT_FRAMES],
            amag: vec![0.0; channels * SEGMENT_FRAMES * bins],
        }
    }
}

/// |x| as the model's estimator computes it, `sqrt(re² + im²)` (not the overflow-safe, slower
/// `hypot`).
fn magnitude(x: &Complex32) -> f32 {
    (x.re * x.re + x.im * x.im).sqrt()
}

/// Running medians of 17 values: `out[i]` = median of `src[i..i + 17]`. The window is kept
/// sorted in a fixed array and each step is one insertion-sort move, a few nanoseconds.
fn sliding_median(src: &[f32], out: &mut [f32]) {
    const W: usize = 2 * MEDIAN_HALF + 1;
    let mut win = [0.0f32; W];
    win.copy_from_slice(&src[..W]);
    win.sort_unstable_by(f32::total_cmp);
    for (i, o) in out.iter_mut().enumerate() {
        if i > 0 {
            let (old, new) = (src[i - 1], src[i + W - 1]);
            // The leaving value is in the window; find it (the last index if NaNs hide it).
            let mut k = win.iter().position(|&v| v == old).unwrap_or(W - 1);
            if new > old {
                while k + 1 < W && win[k + 1] < new {
                    win[k] = win[k + 1];
                    k += 1;
                }
            } else {
                while k > 0 && win[k - 1] > new {
                    win[k] = win[k - 1];
                    k -= 1;
                }
            }
            win[k] = new;
        }
        *o = win[MEDIAN_HALF];
    }
}

/// What finishing one segment needs, shared read-only between the channel workers.
struct FinishJob<'a> {
    seg: &'a Segment,
    next: Option<&'a Segment>,
    /// The previous segment's last 8 |accompaniment| frames, channel × 8 × bin; none at the
    /// track's start.
    prev_tail: Option<&'a [f32]>,
    bins: usize,
    hop: usize,
    /// Where the segment's first frame starts in the overlap-add buffers.
    at0: usize,
    bass_weight: &'a [f32],
}

/// Scratch buffers and an inverse STFT for finishing channels on one thread.
struct ChannelWorker {
    stft: Stft,
    ext: Vec<f32>,
    harm: Vec<f32>,
    column: Vec<f32>,
    column_out: Vec<f32>,
    row: Vec<f32>,
    perc: Vec<f32>,
    masks: [Vec<f32>; 4],
    stem_spec: Vec<Complex32>,
    stem_time: Vec<f32>,
}

impl ChannelWorker {
    fn new(n_fft: usize) -> Self {
        let stft = Stft::new(n_fft);
        let bins = stft.bins();
        Self {
            stft,
            ext: Vec::new(),
            harm: Vec::new(),
            column: Vec::new(),
            column_out: Vec::new(),
            row: Vec::new(),
            perc: Vec::new(),
            masks: [
                vec![0.0; bins],
                vec![0.0; bins],
                vec![0.0; bins],
                vec![0.0; bins],
            ],
            stem_spec: vec![Complex32::new(0.0, 0.0); bins],
            stem_time: vec![0.0; n_fft],
        }
    }

    /// Channel `c` of the job's segment into its four overlap-add buffers.
    fn finish_channel(&mut self, job: &FinishJob<'_>, c: usize, ola: &mut [Vec<f32>; 4]) {
        let (seg, bins) = (job.seg, job.bins);
        let valid = seg.frames;
        let n_fft = self.stem_time.len();
        let ext_len = valid + 2 * MEDIAN_HALF;
        self.ext.resize(ext_len * bins, 0.0);
        self.harm.resize(valid * bins, 0.0);
        self.column.resize(ext_len, 0.0);
        self.column_out.resize(valid, 0.0);
        self.row.resize(bins + 2 * MEDIAN_HALF, 0.0);
        self.perc.resize(bins, 0.0);
        let own = |t: usize| &seg.amag[(c * SEGMENT_FRAMES + t) * bins..][..bins];
        // Rows −8..valid+8 of |A| around this segment: real neighbours where they exist,
        // the track's first or last frame repeated at its ends.
        for i in 0..ext_len {
            let dst = &mut self.ext[i * bins..(i + 1) * bins];
            if i < MEDIAN_HALF {
                match job.prev_tail {
                    Some(tail) => {
                        dst.copy_from_slice(&tail[(c * MEDIAN_HALF + i) * bins..][..bins]);
                    }
                    None => dst.copy_from_slice(own(0)),
                }
            } else if i - MEDIAN_HALF < valid {
                dst.copy_from_slice(own(i - MEDIAN_HALF));
            } else {
                let ahead = i - MEDIAN_HALF - valid;
                match job.next {
                    Some(n) if valid == SEGMENT_FRAMES => {
                        let t = ahead.min(n.frames.saturating_sub(1));
                        dst.copy_from_slice(&n.amag[(c * SEGMENT_FRAMES + t) * bins..][..bins]);
                    }
                    _ => dst.copy_from_slice(own(valid - 1)),
                }
            }
        }
        // Harmonic: median over 17 frames, per bin.
        for k in 0..bins {
            for (i, v) in self.column.iter_mut().enumerate() {
                *v = self.ext[i * bins + k];
            }
            sliding_median(&self.column, &mut self.column_out);
            for (t, v) in self.column_out.iter().enumerate() {
                self.harm[t * bins + k] = *v;
            }
        }
        for t in 0..valid {
            // Percussive: median over 17 bins, the spectrum's ends repeated.
            let a = own(t);
            self.row[..MEDIAN_HALF].fill(a[0]);
            self.row[MEDIAN_HALF..MEDIAN_HALF + bins].copy_from_slice(a);
            self.row[MEDIAN_HALF + bins..].fill(a[bins - 1]);
            sliding_median(&self.row, &mut self.perc);
            let ct = c * SEGMENT_FRAMES + t;
            let x = &seg.spec[ct * bins..][..bins];
            let harm = &self.harm[t * bins..][..bins];
            let ct_mv = &seg.mv[ct * MODEL_BINS..][..MODEL_BINS];
            let ct_ma = &seg.ma[ct * MODEL_BINS..][..MODEL_BINS];
            let [m_v, m_d, m_b, m_o] = &mut self.masks;
            for k in 0..bins {
                let (mv, ma) = if k < MODEL_BINS {
                    (ct_mv[k], ct_ma[k])
                } else {
                    (seg.mv_hi[ct], seg.ma_hi[ct])
                };
                let (h, p) = (harm[k], self.perc[k]);
                let perc = p * p / (h * h + p * p + 1e-10);
                let drums = ma * perc;
                let bass = ma * (1.0 - perc) * job.bass_weight[k];
                m_v[k] = mv;
                m_d[k] = drums;
                m_b[k] = bass;
                m_o[k] = ma - drums - bass;
            }
            let at = job.at0 + t * job.hop;
            for (mask, acc) in self.masks.iter().zip(ola.iter_mut()) {
                for ((d, xv), m) in self.stem_spec.iter_mut().zip(x).zip(mask) {
                    *d = xv * m;
                }
                self.stft
                    .inverse_frame(&mut self.stem_spec, &mut self.stem_time);
                for (a, v) in acc[at..at + n_fft].iter_mut().zip(&self.stem_time) {
                    *a += v;
                }
            }
        }
    }
}

/// Splits audio into vocals, drums, bass and other as it streams through.
pub struct Separator<'m> {
    model: &'m Model,
    channels: usize,
    threads: usize,
    n_fft: usize,
    hop: usize,
    bins: usize,
    stft: Stft,
    /// Model channel pairs: (left, right) or a mono channel fed as both.
    groups: Vec<(usize, Option<usize>)>,
    runners: [UNetRunner; 2],
    net_in: Vec<f32>,
    net_out: [Vec<f32>; 2],
    /// Bass weight per bin.
    bass_weight: Vec<f32>,

    /// Input per channel from absolute sample `in_start` on (negative: the centring zeros).
    inbuf: Vec<Vec<f32>>,
    in_start: i64,
    received: u64,
    next_frame: usize,
    frame: Vec<f32>,
    building: Segment,
    pending: VecDeque<Segment>,
    pool: Vec<Segment>,
    /// The last 8 frames of |accompaniment| of the segment finished last, channel × 8 × bin.
    prev_tail: Vec<f32>,
    has_prev: bool,

    /// Overlap-add accumulators per channel and stem, and the squared-window envelope, from
    /// absolute sample `ola_start` on.
    ola: Vec<[Vec<f32>; 4]>,
    env: Vec<f32>,
    ola_start: i64,
    emitted: u64,
    out: [Vec<f32>; 4],
    /// One per thread that finishes segments.
    workers: Vec<ChannelWorker>,
}

impl std::fmt::Debug for Separator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Separator")
            .field("channels", &self.channels)
            .field("n_fft", &self.n_fft)
            .field("received", &self.received)
            .field("emitted", &self.emitted)
            .finish_non_exhaustive()
    }
}

impl<'m> Separator<'m> {
    /// A separator for `channels` interleaved channels at `sample_rate`.
    pub fn new(
        model: &'m Model,
        sample_rate: u32,
        channels: usize,
        options: SeparatorOptions,
    ) -> Result<Self, StemsError> {
        if channels == 0 || channels > 64 {
            return Err(StemsError::InvalidInput(format!("{channels} channels")));
        }
        if !(8_000..=768_000).contains(&sample_rate) {
            return Err(StemsError::InvalidInput(format!(
                "sample rate {sample_rate} Hz"
            )));
        }
        let n_fft = n_fft_for_rate(sample_rate);
        let stft = Stft::new(n_fft);
        let (hop, bins) = (stft.hop(), stft.bins());
        let groups = (0..channels)
            .step_by(2)
            .map(|c| (c, (c + 1 < channels).then_some(c + 1)))
            .collect();
        let bass_weight = (0..bins)
            .map(|k| {
                let f = k as f64 * f64::from(sample_rate) / n_fft as f64;
                if f <= BASS_FULL_HZ {
                    1.0
                } else if f >= BASS_NONE_HZ {
                    0.0
                } else {
                    let x = (f - BASS_FULL_HZ) / (BASS_NONE_HZ - BASS_FULL_HZ);
                    (0.5 * (1.0 + (std::f64::consts::PI * x).cos())) as f32
                }
            })
            .collect();
        let plane = 2 * SEGMENT_FRAMES * MODEL_BINS;
        let half = n_fft as i64 / 2;
        Ok(Self {
            model,
            channels,
            threads: options.threads.max(1),
            n_fft,
            hop,
            bins,
            stft,
            groups,
            runners: [
                UNetRunner::new(SEGMENT_FRAMES, MODEL_BINS),
                UNetRunner::new(SEGMENT_FRAMES, MODEL_BINS),
            ],
            net_in: vec![0.0; plane],
            net_out: [vec![0.0; plane], vec![0.0; plane]],
            bass_weight,
            inbuf: vec![vec![0.0; n_fft / 2]; channels],
            in_start: -half,
            received: 0,
            next_frame: 0,
            frame: vec![0.0; n_fft],
            building: Segment::new(channels, bins),
            pending: VecDeque::new(),
            pool: Vec::new(),
            prev_tail: vec![0.0; channels * MEDIAN_HALF * bins],
            has_prev: false,
            ola: vec![Default::default(); channels],
            env: Vec::new(),
            ola_start: -half,
            emitted: 0,
            out: Default::default(),
            workers: vec![ChannelWorker::new(n_fft), ChannelWorker::new(n_fft)],
        })
    }

    /// The STFT size in use (4096 at 44.1/48 kHz).
    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    /// Frames pushed so far.
    pub fn frames_in(&self) -> u64 {
        self.received
    }

    /// Frames handed to the sink so far.
    pub fn frames_out(&self) -> u64 {
        self.emitted
    }

    /// Feeds interleaved samples (any block size; memory stays bounded as long as the blocks
    /// are); finished stem blocks go to `sink` as they are ready, up to two segments (~24 s at
    /// 44.1 kHz) behind the input. Non-finite samples count as silence.
    pub fn push(
        &mut self,
        interleaved: &[f32],
        sink: &mut dyn FnMut(StemBlock<'_>) -> Result<(), StemsError>,
    ) -> Result<(), StemsError> {
        if !interleaved.len().is_multiple_of(self.channels) {
            return Err(StemsError::InvalidInput(
                "samples are not a whole number of frames".into(),
            ));
        }
        for (c, buf) in self.inbuf.iter_mut().enumerate() {
            buf.extend(
                interleaved
                    .iter()
                    .skip(c)
                    .step_by(self.channels)
                    .map(|v| if v.is_finite() { *v } else { 0.0 }),
            );
        }
        self.received += (interleaved.len() / self.channels) as u64;
        let half = self.n_fft as u64 / 2;
        while (self.next_frame * self.hop) as u64 + half <= self.received {
            self.add_frame(sink)?;
        }
        self.trim_input();
        Ok(())
    }

    /// Flushes the rest of the stems to `sink`; the total frames out equal the frames in.
    pub fn finish(
        mut self,
        sink: &mut dyn FnMut(StemBlock<'_>) -> Result<(), StemsError>,
    ) -> Result<(), StemsError> {
        let len = usize::try_from(self.received)
            .map_err(|_| StemsError::InvalidInput("input too long".into()))?;
        if len == 0 {
            return Ok(());
        }
        let total = frame_count(len, self.hop);
        while self.next_frame < total {
            self.add_frame(sink)?;
        }
        if self.building.frames > 0 {
            let filled = self.building.frames * self.bins;
            for c in 0..self.channels {
                let base = c * SEGMENT_FRAMES * self.bins;
                self.building.spec[base + filled..base + SEGMENT_FRAMES * self.bins]
                    .fill(Complex32::new(0.0, 0.0));
            }
            self.analyse_segment()?;
        }
        while let Some(seg) = self.pending.pop_front() {
            let pending = std::mem::take(&mut self.pending);
            self.finish_segment(&seg, pending.front())?;
            self.pending = pending;
            let last = seg.index * SEGMENT_FRAMES + seg.frames;
            let limit = self.complete_before(last).min(self.received);
            self.emit(limit, sink)?;
            self.pool.push(seg);
        }
        self.emit(self.received, sink)
    }

    /// Computes STFT frame `next_frame` from the input (zeros past its end) into the segment
    /// being built, analysing the segment when it is full.
    fn add_frame(
        &mut self,
        sink: &mut dyn FnMut(StemBlock<'_>) -> Result<(), StemsError>,
    ) -> Result<(), StemsError> {
        let t = self.next_frame;
        let start = (t * self.hop) as i64 - self.n_fft as i64 / 2;
        let off = usize::try_from(start - self.in_start)
            .map_err(|_| StemsError::InvalidInput("internal: input trimmed too early".into()))?;
        let slot = self.building.frames;
        if slot == 0 {
            self.building.index = t / SEGMENT_FRAMES;
        }
        for c in 0..self.channels {
            let src = &self.inbuf[c];
            for (i, f) in self.frame.iter_mut().enumerate() {
                *f = src.get(off + i).copied().unwrap_or(0.0);
            }
            let base = (c * SEGMENT_FRAMES + slot) * self.bins;
            self.stft
                .forward_frame(&self.frame, &mut self.building.spec[base..base + self.bins]);
        }
        self.building.frames += 1;
        self.next_frame += 1;
        if self.building.frames == SEGMENT_FRAMES {
            self.analyse_segment()?;
            while self.pending.len() >= 2 {
                let Some(seg) = self.pending.pop_front() else {
                    break;
                };
                let pending = std::mem::take(&mut self.pending);
                self.finish_segment(&seg, pending.front())?;
                self.pending = pending;
                let last = seg.index * SEGMENT_FRAMES + seg.frames;
                let limit = self.complete_before(last);
                self.emit(limit, sink)?;
                self.pool.push(seg);
            }
        }
        Ok(())
    }

    /// Drops input no future frame needs.
    fn trim_input(&mut self) {
        let need = (self.next_frame * self.hop) as i64 - self.n_fft as i64 / 2;
        if need > self.in_start {
            let drop = usize::try_from(need - self.in_start).unwrap_or(0);
            for buf in &mut self.inbuf {
                let d = drop.min(buf.len());
                buf.drain(..d);
            }
            self.in_start = need;
        }
    }

    /// Samples before this absolute index are final once frames `..frames_done` are added.
    fn complete_before(&self, frames_done: usize) -> u64 {
        let s = (frames_done * self.hop) as i64 - self.n_fft as i64 / 2;
        u64::try_from(s.max(0)).unwrap_or(0)
    }

    /// Runs both nets on the segment being built and derives its masks and |accompaniment|.
    fn analyse_segment(&mut self) -> Result<(), StemsError> {
        let next = self
            .pool
            .pop()
            .unwrap_or_else(|| Segment::new(self.channels, self.bins));
        let mut seg = std::mem::replace(&mut self.building, next);
        self.building.frames = 0;
        let bins = self.bins;
        let plane = SEGMENT_FRAMES * MODEL_BINS;
        for gi in 0..self.groups.len() {
            let (c0, c1) = self.groups[gi];
            for (p, c) in [c0, c1.unwrap_or(c0)].into_iter().enumerate() {
                for t in 0..SEGMENT_FRAMES {
                    let src = &seg.spec[(c * SEGMENT_FRAMES + t) * bins..][..MODEL_BINS];
                    let dst = &mut self.net_in[p * plane + t * MODEL_BINS..][..MODEL_BINS];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = magnitude(s);
                    }
                }
            }
            self.run_nets()?;
            let [est_v, est_a] = &self.net_out;
            let ratio = |p: usize, i: usize| {
                let v2 = est_v[p * plane + i] * est_v[p * plane + i];
                let a2 = est_a[p * plane + i] * est_a[p * plane + i];
                let den = v2 + a2 + 1e-10;
                ((v2 + 5e-11) / den, (a2 + 5e-11) / den)
            };
            match c1 {
                Some(c1) => {
                    for (p, c) in [(0, c0), (1, c1)] {
                        for i in 0..plane {
                            let (mv, ma) = ratio(p, i);
                            seg.mv[c * plane + i] = mv;
                            seg.ma[c * plane + i] = ma;
                        }
                    }
                }
                None => {
                    for i in 0..plane {
                        let (v0, a0) = ratio(0, i);
                        let (v1, a1) = ratio(1, i);
                        seg.mv[c0 * plane + i] = 0.5 * (v0 + v1);
                        seg.ma[c0 * plane + i] = 0.5 * (a0 + a1);
                    }
                }
            }
        }
        for c in 0..self.channels {
            for t in 0..SEGMENT_FRAMES {
                let ct = c * SEGMENT_FRAMES + t;
                let mean = |m: &[f32]| {
                    let s: f64 = m[ct * MODEL_BINS..][..MODEL_BINS]
                        .iter()
                        .map(|&v| f64::from(v))
                        .sum();
                    (s / MODEL_BINS as f64) as f32
                };
                seg.mv_hi[ct] = mean(&seg.mv);
                seg.ma_hi[ct] = mean(&seg.ma);
                let hi = seg.ma_hi[ct];
                let spec = &seg.spec[ct * bins..][..bins];
                let ma = &seg.ma[ct * MODEL_BINS..][..MODEL_BINS];
                let amag = &mut seg.amag[ct * bins..][..bins];
                for (k, (a, s)) in amag.iter_mut().zip(spec).enumerate() {
                    let m = if k < MODEL_BINS { ma[k] } else { hi };
                    *a = m * magnitude(s);
                }
            }
        }
        self.pending.push_back(seg);
        Ok(())
    }

    /// Both U-Nets on `net_in`, side by side when two threads are allowed.
    fn run_nets(&mut self) -> Result<(), StemsError> {
        let model = self.model;
        let [rv, ra] = &mut self.runners;
        let [ov, oa] = &mut self.net_out;
        let input = &self.net_in;
        if self.threads >= 2 {
            std::thread::scope(|s| {
                let other = s.spawn(|| ra.run(&model.accompaniment, input, oa));
                let mine = rv.run(&model.vocals, input, ov);
                let theirs = other.join().map_err(|_| StemsError::Worker)?;
                mine.and(theirs)
            })
        } else {
            rv.run(&model.vocals, input, ov)?;
            ra.run(&model.accompaniment, input, oa)
        }
    }

    /// Median filters |accompaniment|, builds the four stems' spectra and overlap-adds them.
    /// `next` is the following segment (its first frames are the time median's look-ahead);
    /// without one the last real frame is repeated. With two threads the channels are shared
    /// out between them.
    fn finish_segment(&mut self, seg: &Segment, next: Option<&Segment>) -> Result<(), StemsError> {
        let (bins, hop, n_fft) = (self.bins, self.hop, self.n_fft);
        let valid = seg.frames;
        let first_start = (seg.index * SEGMENT_FRAMES * hop) as i64 - n_fft as i64 / 2;
        let at0 = usize::try_from(first_start - self.ola_start)
            .map_err(|_| StemsError::InvalidInput("internal: output trimmed too early".into()))?;
        let need = at0 + (valid.max(1) - 1) * hop + n_fft;
        for acc in self.ola.iter_mut().flatten() {
            if acc.len() < need {
                acc.resize(need, 0.0);
            }
        }
        if self.env.len() < need {
            self.env.resize(need, 0.0);
        }
        let job = FinishJob {
            seg,
            next,
            prev_tail: self.has_prev.then_some(&self.prev_tail[..]),
            bins,
            hop,
            at0,
            bass_weight: &self.bass_weight,
        };
        let channels = self.channels;
        let split = if self.threads >= 2 && channels >= 2 {
            channels.div_ceil(2)
        } else {
            channels
        };
        let (ola_a, ola_b) = self.ola.split_at_mut(split);
        let (wa, wb) = self.workers.split_at_mut(1);
        if split < channels {
            let job = &job;
            std::thread::scope(|s| {
                let other = s.spawn(move || {
                    for (i, ola) in ola_b.iter_mut().enumerate() {
                        wb[0].finish_channel(job, split + i, ola);
                    }
                });
                for (c, ola) in ola_a.iter_mut().enumerate() {
                    wa[0].finish_channel(job, c, ola);
                }
                other.join().map_err(|_| StemsError::Worker)
            })?;
        } else {
            for (c, ola) in ola_a.iter_mut().enumerate() {
                wa[0].finish_channel(&job, c, ola);
            }
        }
        let window = self.workers[0].stft.window();
        for t in 0..valid {
            let at = at0 + t * hop;
            for (e, w) in self.env[at..at + n_fft].iter_mut().zip(window) {
                *e += w * w;
            }
        }
        if valid >= MEDIAN_HALF {
            for c in 0..channels {
                let src = &seg.amag[(c * SEGMENT_FRAMES + valid - MEDIAN_HALF) * bins..]
                    [..MEDIAN_HALF * bins];
                self.prev_tail[c * MEDIAN_HALF * bins..][..MEDIAN_HALF * bins].copy_from_slice(src);
            }
            self.has_prev = true;
        }
        Ok(())
    }

    /// Hands samples `emitted..limit` of every stem to `sink` and drops them from the buffers.
    fn emit(
        &mut self,
        limit: u64,
        sink: &mut dyn FnMut(StemBlock<'_>) -> Result<(), StemsError>,
    ) -> Result<(), StemsError> {
        if limit <= self.emitted {
            return Ok(());
        }
        let n = usize::try_from(limit - self.emitted)
            .map_err(|_| StemsError::InvalidInput("block too large".into()))?;
        let first = usize::try_from(self.emitted as i64 - self.ola_start).unwrap_or(0);
        let ch = self.channels;
        for (stem, out) in self.out.iter_mut().enumerate() {
            out.clear();
            out.resize(n * ch, 0.0);
            for c in 0..ch {
                let acc = &self.ola[c][stem];
                for i in 0..n {
                    let idx = first + i;
                    let e = self.env.get(idx).copied().unwrap_or(0.0);
                    let v = acc.get(idx).copied().unwrap_or(0.0);
                    out[i * ch + c] = if e > 1e-11 { v / e } else { 0.0 };
                }
            }
        }
        let drop = first + n;
        for acc in self.ola.iter_mut().flatten() {
            let d = drop.min(acc.len());
            acc.drain(..d);
        }
        let d = drop.min(self.env.len());
        self.env.drain(..d);
        self.ola_start += drop as i64;
        self.emitted = limit;
        let [vocals, drums, bass, other] = &self.out;
        sink(StemBlock {
            channels: ch,
            vocals,
            drums,
            bass,
            other,
        })
    }
}

/// The server moves separators and models into blocking tasks.
#[allow(dead_code)]
fn assert_send_sync() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Separator<'static>>();
    send::<Model>();
    sync::<Model>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_median_matches_sorting() {
        let mut s = 9u64;
        let src: Vec<f32> = (0..300)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((s >> 40) % 50) as f32
            })
            .collect();
        let mut out = vec![0.0; src.len() - 16];
        sliding_median(&src, &mut out);
        for (i, o) in out.iter().enumerate() {
            let mut w = src[i..i + 17].to_vec();
            w.sort_by(f32::total_cmp);
            assert_eq!(*o, w[8]);
        }
    }
}
