//! Points in time as userd stores them: nanoseconds since the Unix epoch, UTC.
//!
//! The domain never reads the clock: callers pass a [`Timestamp`] in. Formatting follows
//! protojson (RFC 3339, `Z`, and 0, 3, 6 or 9 fractional digits), done by chrono.

use serde::{Deserialize, Serialize};

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

    pub fn subsec_nanos(self) -> u32 {
        // The remainder is below 10^9.
        self.0.rem_euclid(1_000_000_000) as u32
    }

    /// RFC 3339 in UTC the way protojson writes a `google.protobuf.Timestamp`.
    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp(self.unix_seconds(), self.subsec_nanos())
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }

    /// The instant an RFC 3339 text names (any offset), if it is one.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
        t.timestamp_nanos_opt().map(Timestamp)
    }
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
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
