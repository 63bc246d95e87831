//! `Range` and `If-Range` (RFC 9110 §14) for one byte range. Multiple ranges, other units
//! and malformed values are ignored, which the RFC allows: the whole file is served.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    Full,
    /// Inclusive bounds.
    Partial {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

pub fn resolve(range: Option<&str>, if_range: Option<&str>, etag: &str, len: u64) -> ByteRange {
    let Some(range) = range else {
        return ByteRange::Full;
    };
    // A stale validator means the client's partial copy is of another version: send it all.
    if if_range.is_some_and(|v| v.trim() != etag) {
        return ByteRange::Full;
    }
    let Some((unit, spec)) = range.trim().split_once('=') else {
        return ByteRange::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let parse = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            Some(None)
        } else if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (Some(first), Some(last)) = (parse(first), parse(last)) else {
        return ByteRange::Full;
    };
    match (first, last) {
        (Some(start), last) => {
            if last.is_some_and(|l| l < start) {
                return ByteRange::Full;
            }
            if start >= len {
                return ByteRange::Unsatisfiable;
            }
            ByteRange::Partial {
                start,
                end: last.map_or(len - 1, |l| l.min(len - 1)),
            }
        }
        (None, Some(suffix)) => {
            if suffix == 0 || len == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Partial {
                    start: len.saturating_sub(suffix),
                    end: len - 1,
                }
            }
        }
        (None, None) => ByteRange::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::*;
    use super::*;

    const TAG: &str = "\"abc\"";

    #[test]
    fn single_ranges() {
        let r = |h: &str| resolve(Some(h), None, TAG, 1000);
        assert_eq!(r("bytes=0-499"), Partial { start: 0, end: 499 });
        assert_eq!(
            r("bytes=500-"),
            Partial {
                start: 500,
                end: 999
            }
        );
        assert_eq!(
            r("bytes=-100"),
            Partial {
                start: 900,
                end: 999
            }
        );
        assert_eq!(r("bytes=-5000"), Partial { start: 0, end: 999 });
        assert_eq!(
            r("bytes=990-5000"),
            Partial {
                start: 990,
                end: 999
            }
        );
        assert_eq!(r("BYTES = 1-1"), Partial { start: 1, end: 1 });
    }

    #[test]
    fn unsatisfiable_ranges() {
        let r = |h: &str| resolve(Some(h), None, TAG, 1000);
        assert_eq!(r("bytes=1000-"), Unsatisfiable);
        assert_eq!(r("bytes=5000-6000"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(resolve(Some("bytes=0-"), None, TAG, 0), Unsatisfiable);
    }

    #[test]
    fn ignored_ranges_serve_everything() {
        let r = |h: &str| resolve(Some(h), None, TAG, 1000);
        for h in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
            "bytes 0-1",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(r(h), Full, "{h}");
        }
        assert_eq!(resolve(None, None, TAG, 1000), Full);
    }

    #[test]
    fn if_range_must_match_the_etag() {
        assert_eq!(
            resolve(Some("bytes=0-9"), Some(TAG), TAG, 100),
            Partial { start: 0, end: 9 }
        );
        assert_eq!(resolve(Some("bytes=0-9"), Some("\"old\""), TAG, 100), Full);
        assert_eq!(
            resolve(
                Some("bytes=0-9"),
                Some("Tue, 01 Jan 2030 00:00:00 GMT"),
                TAG,
                100
            ),
            Full
        );
    }
}
