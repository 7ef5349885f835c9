//! Dates as seconds since 1970-01-01 00:00 UTC (the proleptic Gregorian calendar of CF's
//! `standard`), and CF time units (`hours since 1900-01-01 00:00:00`): the times of GRIB,
//! NetCDF and Zarr files brought to one axis without a date library.

/// Days since 1970-01-01 of a proleptic Gregorian date (any year, month 1–12, day 1–31).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Shift the year to start in March so that the leap day is the year's last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// Seconds since 1970-01-01 00:00 UTC of a date and time of day.
pub fn epoch_seconds(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> i64 {
    days_from_civil(year, month, day) * 86_400 + (hour * 3600 + minute * 60 + second) as i64
}

/// Seconds since 1970-01-01 of a date such as `2008-12-08T06:00Z` or `2008-12-08 06:00`.
pub fn parse_iso(date: &str) -> Result<i64, String> {
    TimeUnits::parse(&format!("seconds since {date}"))
        .map(|t| t.origin)
        .map_err(|_| format!("`{date}` is not a date YYYY-MM-DD[Thh:mm[:ss]][Z]"))
}

/// `2017-01-02T12:00Z` (seconds shown only when not zero): how times are printed.
pub fn format_iso(seconds: i64) -> String {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if sec == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z")
    }
}

/// A CF time axis: value × `unit_seconds` + `origin` = seconds since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeUnits {
    /// Seconds in one unit of the axis (86 400 for `days`).
    pub unit_seconds: f64,
    /// The reference date, in seconds since 1970-01-01.
    pub origin: i64,
}

impl TimeUnits {
    /// Parses CF units such as `hours since 1900-01-01 00:00:00.0`, `days since 2000-1-1`,
    /// `seconds since 1970-01-01T00:00:00Z`; refuses what it does not understand.
    pub fn parse(units: &str) -> Result<Self, String> {
        let lower = units.trim().to_ascii_lowercase();
        let (unit, rest) = lower
            .split_once(" since ")
            .ok_or_else(|| format!("time units `{units}` are not `<unit> since <date>`"))?;
        let unit_seconds = match unit.trim() {
            "seconds" | "second" | "secs" | "sec" | "s" => 1.0,
            "minutes" | "minute" | "mins" | "min" => 60.0,
            "hours" | "hour" | "hrs" | "hr" | "h" => 3600.0,
            "days" | "day" | "d" => 86_400.0,
            other => {
                return Err(format!(
                    "time unit `{other}` of `{units}` is not seconds, minutes, hours or days"
                ));
            }
        };
        let rest = rest.trim().trim_end_matches(" utc").trim_end_matches('z').trim();
        let (date, time) = match rest.split_once(['t', ' ']) {
            Some((d, t)) => (d, t.trim()),
            None => (rest, ""),
        };
        let bad = || format!("reference date of `{units}` is not YYYY-MM-DD[ hh:mm:ss]");
        let mut dp = date.split('-');
        let year: i64 = dp.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let month: u32 = dp.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let day: u32 = dp.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(bad());
        }
        let mut clock = [0.0f64; 3];
        if !time.is_empty() {
            let time = time.split(['+', ' ']).next().unwrap_or("");
            for (k, part) in time.split(':').enumerate() {
                if k > 2 {
                    return Err(bad());
                }
                clock[k] = part.parse().map_err(|_| bad())?;
            }
        }
        let origin = days_from_civil(year, month, day) * 86_400
            + (clock[0] * 3600.0 + clock[1] * 60.0 + clock[2]).round() as i64;
        Ok(Self { unit_seconds, origin })
    }

    /// Seconds since 1970-01-01 of one axis value (rounded to the second).
    pub fn to_epoch(&self, value: f64) -> i64 {
        self.origin + (value * self.unit_seconds).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_match_known_day_numbers() {
        // Known values: 2000-03-01 is day 11 017; 1900-01-01 is day −25 567.
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1900, 1, 1), -25_567);
        for d in (-800_000..800_000).step_by(997) {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
        assert_eq!(format_iso(epoch_seconds(2017, 1, 2, 12, 0, 0)), "2017-01-02T12:00Z");
    }

    #[test]
    fn cf_time_units_parse_the_forms_files_use() {
        let u = TimeUnits::parse("hours since 1900-01-01 00:00:00.0").unwrap();
        // ERA5's 2007-01-01 12 UTC in test4.nc is 937 956 hours since 1900 (the value netCDF4-python prints).
        assert_eq!(format_iso(u.to_epoch(937_956.0)), "2007-01-01T12:00Z");
        let u = TimeUnits::parse("seconds since 1970-01-01T00:00:00Z").unwrap();
        assert_eq!(u.to_epoch(60.0), 60);
        let u = TimeUnits::parse("days since 2000-1-1").unwrap();
        assert_eq!(format_iso(u.to_epoch(1.5)), "2000-01-02T12:00Z");
        assert!(TimeUnits::parse("months since 2000-01-01").is_err());
        assert!(TimeUnits::parse("hours").is_err());
        assert!(TimeUnits::parse("hours since yesterday").is_err());
    }
}
