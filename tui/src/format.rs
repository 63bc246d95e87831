//! How numbers, sizes and instants read on screen, and the parsers for what admins type.
//!
//! Every instant is shown in UTC with the zone named in the column header or after the value:
//! the console must read the same on the appliance and on an admin's laptop.

use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

const MS_PER_SEC: i64 = 1_000;

fn utc(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// `2025-06-01 14:03:22` (UTC).
pub fn timestamp(ms: i64) -> String {
    utc(ms)
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// `2025-06-01 14:03` (UTC): for columns where seconds are noise.
pub fn minute(ms: i64) -> String {
    utc(ms)
        .and_then(|t| {
            t.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// `14:03:22` (UTC).
pub fn clock(ms: i64) -> String {
    utc(ms)
        .and_then(|t| {
            t.format(format_description!("[hour]:[minute]:[second]"))
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// `512 B`, `1.5 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
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

/// The exact, re-typeable form of a quota: `500GiB`, `1536MiB`, `1000` (bytes).
pub fn exact_size(bytes: u64) -> String {
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, unit) in UNITS {
        if bytes != 0 && bytes.trailing_zeros() >= shift {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// `42s`, `5m 12s`, `3h 04m`, `12d 3h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s:02}s"),
        (0, _, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// A time played as a player shows it: `4:05`, `1:02:03`; fractions of a second are dropped,
/// and a nonsensical report (negative, not a number) reads as `0:00`.
pub fn play_time(secs: f64) -> String {
    // `as` saturates, and maps NaN to 0.
    let secs = secs.max(0.0) as u64;
    let (h, m, s) = (secs / 3_600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `12s ago`, `5m 12s ago`: how long before `now_ms` the instant `then_ms` was; `just now`
/// under a second, or when the clocks disagree and it seems to lie ahead.
pub fn ago(then_ms: i64, now_ms: i64) -> String {
    let secs = u64::try_from(now_ms.saturating_sub(then_ms) / MS_PER_SEC).unwrap_or(0);
    if secs == 0 {
        "just now".to_owned()
    } else {
        format!("{} ago", duration(secs))
    }
}

/// A share of work done (0 to 1) as a whole percentage, `40`; out-of-range values are clamped.
pub fn percent(progress: f32) -> u32 {
    if progress.is_nan() {
        return 0;
    }
    (progress.clamp(0.0, 1.0) * 100.0).round() as u32
}

/// A bar `width` cells wide, `██░░░`, filled to `progress` (0 to 1).
pub fn gauge(progress: f32, width: usize) -> String {
    let filled = (percent(progress) as usize * width + 50) / 100;
    let mut bar = "█".repeat(filled.min(width));
    bar.push_str(&"░".repeat(width.saturating_sub(filled)));
    bar
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The first `max` characters of `s`, with `…` when something was cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("`{0}` is not a size: use a number with KiB, MiB, GiB or TiB, such as 500GiB")]
    Size(String),
    #[error("that size does not fit in 64 bits")]
    SizeOverflow,
    #[error(
        "`{0}` is not a time: use 2025-06-01, 2025-06-01 14:30 (UTC), or an age such as 15m, 2h, 7d"
    )]
    Time(String),
    #[error("`{0}` is not a date: use 2025-07-01 or 2025-07-01 14:30 (UTC)")]
    Date(String),
}

/// A quota as admins type it: `500GiB`, `2 TiB`, `1000000` (bytes), `750M`.
pub fn parse_size(raw: &str) -> Result<u64, InputError> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| InputError::Size(raw.to_owned()))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => return Err(InputError::Size(raw.to_owned())),
    };
    n.checked_mul(1 << shift).ok_or(InputError::SizeOverflow)
}

/// One end of a time range, as Unix milliseconds: a UTC date (`2025-06-01`, the start of the
/// day), a UTC date and time (`2025-06-01 14:30`, `2025-06-01T14:30:05`), or an age counted back
/// from `now_ms` (`90s`, `15m`, `2h`, `7d`). The console's audit filter and
/// `studiovault audit tail --since/--until` both read times this way.
pub fn parse_time_bound(raw: &str, now_ms: i64) -> Result<i64, InputError> {
    let s = raw.trim();
    let bad = || InputError::Time(raw.to_owned());
    if let Some(unit) = s.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let amount: i64 = s[..s.len() - 1].trim().parse().map_err(|_| bad())?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        return amount
            .checked_mul(secs * MS_PER_SEC)
            .and_then(|ago| now_ms.checked_sub(ago))
            .ok_or_else(bad);
    }
    let normalised = s.replacen('T', " ", 1);
    let instant = match normalised.split_once(' ') {
        None => Date::parse(s, format_description!("[year]-[month]-[day]"))
            .map(|d| PrimitiveDateTime::new(d, Time::MIDNIGHT)),
        Some((_, t)) if t.len() <= 5 => PrimitiveDateTime::parse(
            &normalised,
            format_description!("[year]-[month]-[day] [hour]:[minute]"),
        ),
        Some(_) => PrimitiveDateTime::parse(
            &normalised,
            format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        ),
    }
    .map_err(|_| bad())?;
    let nanos = instant.assume_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).map_err(|_| bad())
}

/// A date to come as admins type it, `2025-07-01` or `2025-07-01 14:30` (UTC), as Unix
/// milliseconds: a deadline, a gag's end. Ages (`7d`) are refused: they count back.
pub fn parse_date(raw: &str) -> Result<i64, InputError> {
    if raw.trim().ends_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(InputError::Date(raw.to_owned()));
    }
    parse_time_bound(raw, 0).map_err(|_| InputError::Date(raw.to_owned()))
}

/// A gag's end as admins type it: as [`parse_date`], but a bare date holds through that whole
/// day (UTC), so an order "until 1 July" sends no notice on the 1st. A deadline keeps the start
/// of its day: early is the safe side for a deadline, late for a gag.
pub fn parse_gag_end(raw: &str) -> Result<i64, InputError> {
    let at = parse_date(raw)?;
    let bare_date = !raw.trim().contains([' ', 'T']);
    Ok(if bare_date {
        at + 86_400 * MS_PER_SEC
    } else {
        at
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(5 << 30), "5.0 GiB");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(312), "5m 12s");
        assert_eq!(duration(3 * 3600 + 240), "3h 04m");
        assert_eq!(duration(12 * 86_400 + 3 * 3600), "12d 3h");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(ago(1_000, 13_500), "12s ago");
        assert_eq!(ago(0, 312_000), "5m 12s ago");
        assert_eq!(ago(5_000, 5_400), "just now");
        assert_eq!(ago(9_000, 5_000), "just now");
        assert_eq!(percent(0.4), 40);
        assert_eq!(percent(1.7), 100);
        assert_eq!(percent(f32::NAN), 0);
        assert_eq!(gauge(0.4, 5), "██░░░");
        assert_eq!(gauge(0.0, 3), "░░░");
        assert_eq!(gauge(1.0, 3), "███");
        assert_eq!(play_time(245.9), "4:05");
        assert_eq!(play_time(3_723.0), "1:02:03");
        assert_eq!(play_time(0.4), "0:00");
        assert_eq!(play_time(-3.0), "0:00");
        assert_eq!(play_time(f64::NAN), "0:00");
    }

    #[test]
    fn sizes_round_trip_through_their_exact_form() {
        for bytes in [0, 1000, 1 << 10, 1536 << 20, 500 << 30, 2 << 40] {
            assert_eq!(parse_size(&exact_size(bytes)), Ok(bytes));
        }
        assert_eq!(parse_size("2 TiB"), Ok(2 << 40));
        assert_eq!(parse_size("750M"), Ok(750 << 20));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5PB").is_err());
        assert_eq!(parse_size("99999999999TiB"), Err(InputError::SizeOverflow));
    }

    #[test]
    fn times_parse_as_utc_dates_or_ages() {
        let june = 1_748_736_000_000; // 2025-06-01T00:00:00Z
        assert_eq!(parse_time_bound("2025-06-01", 0), Ok(june));
        assert_eq!(
            parse_time_bound("2025-06-01 14:30", 0),
            Ok(june + (14 * 60 + 30) * 60_000)
        );
        assert_eq!(
            parse_time_bound("2025-06-01T14:30:05", 0),
            Ok(june + (14 * 60 + 30) * 60_000 + 5_000)
        );
        assert_eq!(parse_time_bound("15m", june), Ok(june - 15 * 60_000));
        assert_eq!(parse_time_bound(" 7d ", june), Ok(june - 7 * 86_400_000));
        for bad in ["yesterday", "2025-13-01", "5y", "", "m"] {
            assert!(parse_time_bound(bad, june).is_err(), "{bad}");
        }
        assert_eq!(
            parse_date("2025-06-01 14:30"),
            Ok(june + (14 * 60 + 30) * 60_000)
        );
        assert_eq!(parse_date("7d"), Err(InputError::Date("7d".into())));
        assert_eq!(parse_gag_end("2025-06-01"), Ok(june + 86_400_000));
        assert_eq!(
            parse_gag_end("2025-06-01 14:30"),
            Ok(june + (14 * 60 + 30) * 60_000)
        );
        assert_eq!(parse_gag_end("2025-06-01T00:00"), Ok(june));
        assert!(parse_gag_end("7d").is_err());
        assert!(parse_date("soon").is_err());
        assert_eq!(timestamp(june + 5_000), "2025-06-01 00:00:05");
        assert_eq!(minute(june), "2025-06-01 00:00");
        assert_eq!(clock(june + 61_000), "00:01:01");
    }
}
