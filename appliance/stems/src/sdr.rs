//! Utterance-level signal-to-distortion ratio, the MDX challenge's score: one number per
//! stem, cheap, and with no projection, so it punishes both leakage and artefacts.

/// `10 · log10(Σ ref² / Σ (ref − est)²)` in dB over the common length. A perfect estimate of a
/// non-silent reference answers +∞ capped at 200 dB; a silent reference answers −200 dB
/// unless the estimate is silent too (then 200 dB).
pub fn usdr(reference: &[f32], estimate: &[f32]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (r, e) in reference.iter().zip(estimate) {
        let (r, e) = (f64::from(*r), f64::from(*e));
        num += r * r;
        den += (r - e) * (r - e);
    }
    const CAP: f64 = 200.0;
    match (num > 0.0, den > 0.0) {
        (_, false) => CAP,
        (false, true) => -CAP,
        (true, true) => (10.0 * (num / den).log10()).clamp(-CAP, CAP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usdr_of_simple_cases() {
        let r = [1.0f32, -1.0, 1.0, -1.0];
        assert_eq!(usdr(&r, &r), 200.0);
        assert!(usdr(&r, &[0.0; 4]).abs() < 1e-12);
        let half: Vec<f32> = r.iter().map(|v| v * 0.5).collect();
        assert!((usdr(&r, &half) - 10.0 * 4f64.log10()).abs() < 1e-9);
        assert_eq!(usdr(&[0.0; 4], &r), -200.0);
    }
}
