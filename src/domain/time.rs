//! Points in time as userd stores them: nanoseconds since the Unix epoch, UTC.
//!
//! The domain never reads the clock: callers pass a [`Timestamp`] in. Formatting follows
//! protojson: RFC 3339, `Z`, and 0, 3, 6 or 9 fractional digits.

use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time of the machine's clock. Only the edges of the program call this.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    pub fn from_unix_seconds(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// RFC 3339 in UTC the way protojson writes a `google.protobuf.Timestamp`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut out = String::with_capacity(30);
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            y,
            m,
            d,
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        );
        if nanos != 0 {
            if nanos % 1_000_000 == 0 {
                let _ = write!(out, ".{:03}", nanos / 1_000_000);
            } else if nanos % 1_000 == 0 {
                let _ = write!(out, ".{:06}", nanos / 1_000);
            } else {
                let _ = write!(out, ".{:09}", nanos);
            }
        }
        out.push('Z');
        out
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_protojson() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        // 2024-06-13T12:33:10.735Z, the seed's example.
        let t = Timestamp(1_718_281_990_735_000_000);
        assert_eq!(t.to_rfc3339(), "2024-06-13T12:33:10.735Z");
        assert_eq!(
            Timestamp(1_718_281_990_735_001_000).to_rfc3339(),
            "2024-06-13T12:33:10.735001Z"
        );
        assert_eq!(
            Timestamp(1_718_281_990_000_000_001).to_rfc3339(),
            "2024-06-13T12:33:10.000000001Z"
        );
        assert_eq!(
            Timestamp::from_unix_seconds(951_782_400).to_rfc3339(),
            "2000-02-29T00:00:00Z"
        );
    }
}
