//! Times and sizes as people read them: in the CLI's output and the status API's details.

/// An instant (Unix milliseconds) in RFC 3339, UTC.
pub fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// A byte count in binary units, one decimal.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A span in the largest whole unit that fits: `90 s`, `12 h`, `30 days`.
pub fn duration_secs(secs: u64) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => match s / 86_400 {
            1 => "1 day".into(),
            n => format!("{n} days"),
        },
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(5 << 30), "5.0 GiB");
        assert_eq!(when(0), "1970-01-01T00:00:00Z");
        assert_eq!(duration_secs(30 * 86_400), "30 days");
        assert_eq!(duration_secs(720 * 60), "12 h");
        assert_eq!(duration_secs(90), "90 s");
    }
}
