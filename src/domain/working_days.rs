//! Working days, Swedish public holidays and the service promise.
//!
//! Many municipalities promise an answer within one or two working days. A working day is a
//! weekday that is not a holiday of the Swedish calendar. Following the domain notes, the
//! eves that offices close on (midsommarafton, julafton, nyårsafton) count as holidays here
//! although the law does not name them. The calendar is today's (since 2005, when 6 June
//! replaced annandag pingst); it is applied to every year, historical ones included.
//!
//! Times are Swedish local wall-clock times. [`swedish_local`] turns a UTC instant into one
//! without a time zone database, using the EU summer-time rule.
//!
//! Pure calendar arithmetic: no I/O, no clock. Functions panic only when a date leaves the
//! range `time::Date` supports (years -9999 to 9999), which is documented on each.

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

/// A day on which municipal offices are closed, besides Saturdays and Sundays.
///
/// Variants are in calendar order; that order also decides which holiday [`holiday_on`]
/// names when two fall on the same date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Holiday {
    /// 1 January.
    Nyarsdagen,
    /// 6 January.
    TrettondedagJul,
    /// The Friday before Easter Sunday.
    Langfredagen,
    /// Easter Sunday.
    Paskdagen,
    /// The Monday after Easter Sunday.
    AnnandagPask,
    /// 1 May.
    ForstaMaj,
    /// Ascension Day, the Thursday 39 days after Easter Sunday.
    KristiHimmelsfardsdag,
    /// 6 June, Sweden's national day.
    Nationaldagen,
    /// Whit Sunday, 49 days after Easter Sunday.
    Pingstdagen,
    /// Midsummer Eve, the Friday between 19 and 25 June (closed in practice, not by law).
    Midsommarafton,
    /// Midsummer Day, the Saturday between 20 and 26 June.
    Midsommardagen,
    /// All Saints' Day, the Saturday between 31 October and 6 November.
    AllaHelgonsDag,
    /// 24 December (closed in practice, not by law).
    Julafton,
    /// 25 December.
    Juldagen,
    /// 26 December.
    AnnandagJul,
    /// 31 December (closed in practice, not by law).
    Nyarsafton,
}

impl Holiday {
    /// The name as written in Swedish running text, for example `"annandag påsk"`.
    pub fn swedish_name(self) -> &'static str {
        match self {
            Self::Nyarsdagen => "nyårsdagen",
            Self::TrettondedagJul => "trettondedag jul",
            Self::Langfredagen => "långfredagen",
            Self::Paskdagen => "påskdagen",
            Self::AnnandagPask => "annandag påsk",
            Self::ForstaMaj => "första maj",
            Self::KristiHimmelsfardsdag => "Kristi himmelsfärdsdag",
            Self::Nationaldagen => "Sveriges nationaldag",
            Self::Pingstdagen => "pingstdagen",
            Self::Midsommarafton => "midsommarafton",
            Self::Midsommardagen => "midsommardagen",
            Self::AllaHelgonsDag => "alla helgons dag",
            Self::Julafton => "julafton",
            Self::Juldagen => "juldagen",
            Self::AnnandagJul => "annandag jul",
            Self::Nyarsafton => "nyårsafton",
        }
    }
}

/// Easter Sunday of a year in the Gregorian calendar (the anonymous Gregorian computus,
/// also known as the Meeus/Jones/Butcher algorithm).
///
/// # Panics
/// If the year is outside the range `time::Date` supports.
pub fn easter_sunday(year: i32) -> Date {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    // n / 31 is 3 (March) or 4 (April); n % 31 + 1 is a day of the month, so the cast is lossless.
    let month = if n / 31 == 3 {
        Month::March
    } else {
        Month::April
    };
    calendar_date(year, month, (n % 31 + 1) as u8)
}

/// Every holiday of a year, sorted by date (and by [`Holiday`] order on a shared date).
///
/// Two holidays can fall on one date: Kristi himmelsfärdsdag on 1 May (2008) or pingstdagen
/// on 6 June (2049); both are then listed.
///
/// # Panics
/// If the year is outside the range `time::Date` supports.
pub fn holidays(year: i32) -> Vec<(Date, Holiday)> {
    let easter = easter_sunday(year);
    let mut days = vec![
        (calendar_date(year, Month::January, 1), Holiday::Nyarsdagen),
        (
            calendar_date(year, Month::January, 6),
            Holiday::TrettondedagJul,
        ),
        (easter - Duration::days(2), Holiday::Langfredagen),
        (easter, Holiday::Paskdagen),
        (easter + Duration::days(1), Holiday::AnnandagPask),
        (calendar_date(year, Month::May, 1), Holiday::ForstaMaj),
        (easter + Duration::days(39), Holiday::KristiHimmelsfardsdag),
        (calendar_date(year, Month::June, 6), Holiday::Nationaldagen),
        (easter + Duration::days(49), Holiday::Pingstdagen),
        (
            first_on_or_after(calendar_date(year, Month::June, 19), Weekday::Friday),
            Holiday::Midsommarafton,
        ),
        (
            first_on_or_after(calendar_date(year, Month::June, 20), Weekday::Saturday),
            Holiday::Midsommardagen,
        ),
        (
            first_on_or_after(calendar_date(year, Month::October, 31), Weekday::Saturday),
            Holiday::AllaHelgonsDag,
        ),
        (calendar_date(year, Month::December, 24), Holiday::Julafton),
        (calendar_date(year, Month::December, 25), Holiday::Juldagen),
        (
            calendar_date(year, Month::December, 26),
            Holiday::AnnandagJul,
        ),
        (
            calendar_date(year, Month::December, 31),
            Holiday::Nyarsafton,
        ),
    ];
    days.sort_unstable();
    days
}

/// The holiday on a date, if any; on a date with two, the one first in [`Holiday`] order
/// (the first listed by [`holidays`]).
///
/// # Panics
/// If the year is outside the range `time::Date` supports.
pub fn holiday_on(date: Date) -> Option<Holiday> {
    // Decided from the date alone, without building the year's list: `is_working_day` asks
    // this for every day it steps over. Fixed dates come first, as in `Holiday` order.
    let (month, day, weekday) = (date.month(), date.day(), date.weekday());
    let by_calendar = match (month, day, weekday) {
        (Month::January, 1, _) => Some(Holiday::Nyarsdagen),
        (Month::January, 6, _) => Some(Holiday::TrettondedagJul),
        (Month::May, 1, _) => Some(Holiday::ForstaMaj),
        (Month::June, 6, _) => Some(Holiday::Nationaldagen),
        (Month::June, 19..=25, Weekday::Friday) => Some(Holiday::Midsommarafton),
        (Month::June, 20..=26, Weekday::Saturday) => Some(Holiday::Midsommardagen),
        (Month::October, 31, Weekday::Saturday) | (Month::November, 1..=6, Weekday::Saturday) => {
            Some(Holiday::AllaHelgonsDag)
        }
        (Month::December, 24, _) => Some(Holiday::Julafton),
        (Month::December, 25, _) => Some(Holiday::Juldagen),
        (Month::December, 26, _) => Some(Holiday::AnnandagJul),
        (Month::December, 31, _) => Some(Holiday::Nyarsafton),
        _ => None,
    };
    // Holidays that follow Easter lie between 20 March and 13 June.
    let near_easter = matches!(
        month,
        Month::March | Month::April | Month::May | Month::June
    );
    if by_calendar.is_some() || !near_easter {
        return by_calendar;
    }
    match (date - easter_sunday(date.year())).whole_days() {
        -2 => Some(Holiday::Langfredagen),
        0 => Some(Holiday::Paskdagen),
        1 => Some(Holiday::AnnandagPask),
        39 => Some(Holiday::KristiHimmelsfardsdag),
        49 => Some(Holiday::Pingstdagen),
        _ => None,
    }
}

/// Whether offices are open on a date: Monday to Friday and not a holiday.
///
/// # Panics
/// If the year is outside the range `time::Date` supports.
pub fn is_working_day(date: Date) -> bool {
    !is_weekend(date) && holiday_on(date).is_none()
}

/// The `n`th working day after `start`, `start` itself not counted. With `n == 0`, `start`
/// if it is a working day, otherwise the next working day.
///
/// # Panics
/// If the answer would lie beyond the last date `time::Date` supports.
pub fn add_working_days(start: Date, n: u32) -> Date {
    let mut date = start;
    if n == 0 {
        while !is_working_day(date) {
            date = next_day(date);
        }
        return date;
    }
    let mut left = n;
    while left > 0 {
        date = next_day(date);
        if is_working_day(date) {
            left -= 1;
        }
    }
    date
}

/// The number of working days after `from` up to and including `to`; when `to` is before
/// `from`, minus the number after `to` up to and including `from`, so the answer is zero or
/// negative whenever `to <= from`.
///
/// For `n >= 1`, `working_days_between(d, add_working_days(d, n)) == n`.
///
/// # Panics
/// If a year in the span is outside the range `time::Date` supports.
pub fn working_days_between(from: Date, to: Date) -> i64 {
    if to < from {
        return -working_days_between(to, from);
    }
    let span = (to - from).whole_days();
    let full_weeks = span / 7;
    let mut weekdays = full_weeks * 5;
    let mut date = from + Duration::weeks(full_weeks);
    for _ in 0..span % 7 {
        date = next_day(date);
        if !is_weekend(date) {
            weekdays += 1;
        }
    }
    let mut closed_weekdays = 0;
    for year in from.year()..=to.year() {
        let mut days = holidays(year);
        // A date with two holidays is one closed day.
        days.dedup_by_key(|(date, _)| *date);
        closed_weekdays += days
            .iter()
            .filter(|(date, _)| *date > from && *date <= to && !is_weekend(*date))
            .count();
    }
    // At most 16 a year over at most 20,000 years: the cast is lossless.
    weekdays - closed_weekdays as i64
}

/// When the office answers the phone and reads mail, on working days, in Swedish local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficeHours {
    /// Opening time, inclusive.
    pub opens: Time,
    /// Closing time, exclusive. Hours with `closes <= opens` are never open.
    pub closes: Time,
}

impl OfficeHours {
    /// Whether the office is open at a Swedish local time.
    pub fn is_open(&self, at: PrimitiveDateTime) -> bool {
        is_working_day(at.date()) && self.opens <= at.time() && at.time() < self.closes
    }

    /// The first moment at or after `at` at which the office is open: `at` itself during
    /// opening hours, otherwise the next opening time on a working day.
    ///
    /// # Panics
    /// If the next working day lies beyond the last date `time::Date` supports.
    pub fn next_opening(&self, at: PrimitiveDateTime) -> PrimitiveDateTime {
        if self.is_open(at) {
            return at;
        }
        let date = if is_working_day(at.date()) && at.time() < self.opens {
            at.date()
        } else {
            add_working_days(at.date(), 1)
        };
        PrimitiveDateTime::new(date, self.opens)
    }
}

/// The last day on which an answer keeps the service promise of `promise_working_days`
/// working days: the answer is due by the end of the `n`th working day after the day the
/// mail is taken in. Mail received during opening hours is taken in that day; mail received
/// after closing, before opening or on a day the office is closed, at the next opening.
///
/// # Panics
/// If the due date would lie beyond the last date `time::Date` supports.
pub fn reply_due(
    received_local: PrimitiveDateTime,
    promise_working_days: u32,
    hours: &OfficeHours,
) -> Date {
    let taken_in = hours.next_opening(received_local).date();
    add_working_days(taken_in, promise_working_days)
}

/// Whether an answer due on `due` is late on `today`: it may be sent all through the due day.
pub fn is_overdue(due: Date, today: Date) -> bool {
    today > due
}

/// The UTC time of day at which summer time starts and ends in the EU.
const SUMMER_TIME_SWITCH: Time = match Time::from_hms(1, 0, 0) {
    Ok(time) => time,
    Err(_) => panic!("01:00 is a valid time"),
};

/// Today's date in Sweden.
pub fn swedish_today() -> Date {
    swedish_local(OffsetDateTime::now_utc()).date()
}

/// The date in Sweden at a moment (unix seconds), if the moment is in range.
pub fn swedish_date_at(unix_seconds: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .map(|t| swedish_local(t).date())
}

/// A date as Swedes write it in a letter: "fredag 4 december 2026".
pub fn swedish_date(date: Date) -> String {
    const WEEKDAYS: [&str; 7] = [
        "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag",
    ];
    const MONTHS: [&str; 12] = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ];
    format!(
        "{} {} {} {}",
        WEEKDAYS[usize::from(date.weekday().number_days_from_monday())],
        date.day(),
        MONTHS[usize::from(u8::from(date.month())) - 1],
        date.year()
    )
}

/// A date in English: "Friday 4 December 2026".
pub fn english_date(date: Date) -> String {
    format!(
        "{} {} {} {}",
        date.weekday(),
        date.day(),
        date.month(),
        date.year()
    )
}

/// Swedish local time (CET, UTC+1; CEST, UTC+2) at an instant, by the EU rule: summer time
/// from 01:00 UTC on the last Sunday in March until 01:00 UTC on the last Sunday in October.
///
/// Needs no time zone database. The offset of `utc` may be any; the instant is what counts.
///
/// # Panics
/// If the local time would lie outside the range `time` supports.
pub fn swedish_local(utc: OffsetDateTime) -> PrimitiveDateTime {
    let utc = utc.to_offset(UtcOffset::UTC);
    let utc = PrimitiveDateTime::new(utc.date(), utc.time());
    let year = utc.year();
    let summer_starts = PrimitiveDateTime::new(last_sunday(year, Month::March), SUMMER_TIME_SWITCH);
    let summer_ends = PrimitiveDateTime::new(last_sunday(year, Month::October), SUMMER_TIME_SWITCH);
    let offset = if summer_starts <= utc && utc < summer_ends {
        Duration::hours(2)
    } else {
        Duration::hours(1)
    };
    utc.checked_add(offset)
        .expect("swedish local time is within the supported range")
}

/// A date that is known to exist.
fn calendar_date(year: i32, month: Month, day: u8) -> Date {
    Date::from_calendar_date(year, month, day)
        .expect("year is within the range time::Date supports")
}

fn next_day(date: Date) -> Date {
    date.next_day()
        .expect("date is before the last date time::Date supports")
}

fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// The first `weekday` on or after `date`.
fn first_on_or_after(date: Date, weekday: Weekday) -> Date {
    let ahead =
        (7 + weekday.number_days_from_monday() - date.weekday().number_days_from_monday()) % 7;
    date + Duration::days(i64::from(ahead))
}

/// The last Sunday of a month with 31 days.
fn last_sunday(year: i32, month: Month) -> Date {
    let last = calendar_date(year, month, 31);
    last - Duration::days(i64::from(last.weekday().number_days_from_sunday()))
}

/// A moment (unix seconds) as Swedish local time, `2026-11-27 14:05`.
pub fn local_time(unix_seconds: i64) -> String {
    let Ok(utc) = time::OffsetDateTime::from_unix_timestamp(unix_seconds) else {
        return "–".into();
    };
    let local = swedish_local(utc);
    format!("{} {:02}:{:02}", local.date(), local.hour(), local.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Holiday::*;

    fn date(year: i32, month: u8, day: u8) -> Date {
        let month = Month::try_from(month).expect("test month is 1 to 12");
        Date::from_calendar_date(year, month, day).expect("test date exists")
    }

    fn at(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> PrimitiveDateTime {
        let time = Time::from_hms(hour, minute, 0).expect("test time exists");
        PrimitiveDateTime::new(date(year, month, day), time)
    }

    fn utc(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> OffsetDateTime {
        let time = Time::from_hms(hour, minute, second).expect("test time exists");
        PrimitiveDateTime::new(date(year, month, day), time).assume_utc()
    }

    fn local(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> PrimitiveDateTime {
        let time = Time::from_hms(hour, minute, second).expect("test time exists");
        PrimitiveDateTime::new(date(year, month, day), time)
    }

    /// 08:00 to 16:30, a common Kontaktcenter day.
    fn office() -> OfficeHours {
        OfficeHours {
            opens: Time::from_hms(8, 0, 0).expect("valid"),
            closes: Time::from_hms(16, 30, 0).expect("valid"),
        }
    }

    type YearTable = (i32, [(u8, u8, Holiday); 16]);

    /// Every holiday of 2025 to 2030, from the published Swedish calendar.
    const CALENDAR: [YearTable; 6] = [
        (
            2025,
            [
                (1, 1, Nyarsdagen),
                (1, 6, TrettondedagJul),
                (4, 18, Langfredagen),
                (4, 20, Paskdagen),
                (4, 21, AnnandagPask),
                (5, 1, ForstaMaj),
                (5, 29, KristiHimmelsfardsdag),
                (6, 6, Nationaldagen),
                (6, 8, Pingstdagen),
                (6, 20, Midsommarafton),
                (6, 21, Midsommardagen),
                (11, 1, AllaHelgonsDag),
                (12, 24, Julafton),
                (12, 25, Juldagen),
                (12, 26, AnnandagJul),
                (12, 31, Nyarsafton),
            ],
        ),
        (
            2026,
            [
                (1, 1, Nyarsdagen),
                (1, 6, TrettondedagJul),
                (4, 3, Langfredagen),
                (4, 5, Paskdagen),
                (4, 6, AnnandagPask),
                (5, 1, ForstaMaj),
                (5, 14, KristiHimmelsfardsdag),
                (5, 24, Pingstdagen),
                (6, 6, Nationaldagen),
                (6, 19, Midsommarafton),
                (6, 20, Midsommardagen),
                (10, 31, AllaHelgonsDag),
                (12, 24, Julafton),
                (12, 25, Juldagen),
                (12, 26, AnnandagJul),
                (12, 31, Nyarsafton),
            ],
        ),
        (
            2027,
            [
                (1, 1, Nyarsdagen),
                (1, 6, TrettondedagJul),
                (3, 26, Langfredagen),
                (3, 28, Paskdagen),
                (3, 29, AnnandagPask),
                (5, 1, ForstaMaj),
                (5, 6, KristiHimmelsfardsdag),
                (5, 16, Pingstdagen),
                (6, 6, Nationaldagen),
                (6, 25, Midsommarafton),
                (6, 26, Midsommardagen),
                (11, 6, AllaHelgonsDag),
                (12, 24, Julafton),
                (12, 25, Juldagen),
                (12, 26, AnnandagJul),
                (12, 31, Nyarsafton),
            ],
        ),
        (
            2028,
            [
                (1, 1, Nyarsdagen),
                (1, 6, TrettondedagJul),
                (4, 14, Langfredagen),
                (4, 16, Paskdagen),
                (4, 17, AnnandagPask),
                (5, 1, ForstaMaj),
                (5, 25, KristiHimmelsfardsdag),
                (6, 4, Pingstdagen),
                (6, 6, Nationaldagen),
                (6, 23, Midsommarafton),
                (6, 24, Midsommardagen),
                (11, 4, AllaHelgonsDag),
                (12, 24, Julafton),
                (12, 25, Juldagen),
                (12, 26, AnnandagJul),
                (12, 31, Nyarsafton),
            ],
        ),
        (
            2029,
            [
                (1, 1, Nyarsdagen),
                (1, 6, TrettondedagJul),
                (3, 30, Langfredagen),
                (4, 1, Paskdagen),
                (4, 2, AnnandagPask),
                (5, 1, ForstaMaj),
                (5, 10, KristiHimmelsfardsdag),
                (5, 20, Pingstdagen),
                (6, 6, Nationaldagen),
                (6, 22, Midsommarafton),
                (6, 23, Midsommardagen),
                (11, 3, AllaHelgonsDag),
                (12, 24, Julafton),
                (12, 25, Juldagen),
                (12, 26, AnnandagJul),
                (12, 31, Nyarsafton),
            ],
        ),
        (
            2030,
            [
                (1, 1, Nyarsdagen),
                (1, 6, TrettondedagJul),
                (4, 19, Langfredagen),
                (4, 21, Paskdagen),
                (4, 22, AnnandagPask),
                (5, 1, ForstaMaj),
                (5, 30, KristiHimmelsfardsdag),
                (6, 6, Nationaldagen),
                (6, 9, Pingstdagen),
                (6, 21, Midsommarafton),
                (6, 22, Midsommardagen),
                (11, 2, AllaHelgonsDag),
                (12, 24, Julafton),
                (12, 25, Juldagen),
                (12, 26, AnnandagJul),
                (12, 31, Nyarsafton),
            ],
        ),
    ];

    #[test]
    fn holidays_match_the_swedish_calendar_2025_to_2030() {
        for (year, table) in CALENDAR {
            let expected: Vec<(Date, Holiday)> = table
                .iter()
                .map(|&(month, day, holiday)| (date(year, month, day), holiday))
                .collect();
            assert_eq!(holidays(year), expected, "holidays of {year}");
        }
    }

    #[test]
    fn easter_sunday_matches_known_dates() {
        let known = [
            (1583, 4, 10),
            (1700, 4, 11),
            (1818, 3, 22),
            (1943, 4, 25),
            (1954, 4, 18),
            (1961, 4, 2),
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2029, 4, 1),
            (2030, 4, 21),
            (2038, 4, 25),
            (2049, 4, 18),
            (2285, 3, 22),
            (2400, 4, 16),
            (3000, 4, 13),
        ];
        for (year, month, day) in known {
            assert_eq!(easter_sunday(year), date(year, month, day), "easter {year}");
        }
    }

    #[test]
    fn easter_sunday_is_a_sunday_between_22_march_and_25_april() {
        for year in 1583..=4099 {
            let easter = easter_sunday(year);
            assert_eq!(easter.weekday(), Weekday::Sunday, "easter {year}");
            assert!(
                easter >= date(year, 3, 22) && easter <= date(year, 4, 25),
                "easter {year}"
            );
        }
    }

    #[test]
    fn holiday_on_agrees_with_holidays_for_every_day() {
        for year in 1990..=2110 {
            let listed = holidays(year);
            let mut day = date(year, 1, 1);
            while day.year() == year {
                let first = listed.iter().find(|(d, _)| *d == day).map(|(_, h)| *h);
                assert_eq!(holiday_on(day), first, "holiday on {day}");
                day = day.next_day().expect("in range");
            }
        }
    }

    #[test]
    fn two_holidays_on_one_date_are_both_listed_and_counted_once() {
        let may_first = date(2008, 5, 1);
        let both: Vec<Holiday> = holidays(2008)
            .into_iter()
            .filter(|(d, _)| *d == may_first)
            .map(|(_, h)| h)
            .collect();
        assert_eq!(both, [ForstaMaj, KristiHimmelsfardsdag]);
        assert_eq!(holiday_on(may_first), Some(ForstaMaj));
        assert_eq!(holiday_on(date(2049, 6, 6)), Some(Nationaldagen));
        // Monday 28 April to Monday 5 May 2008: 29, 30 April and 2, 5 May.
        assert_eq!(working_days_between(date(2008, 4, 28), date(2008, 5, 5)), 4);
    }

    #[test]
    fn every_holiday_has_a_swedish_name() {
        let names: Vec<&str> = holidays(2026)
            .iter()
            .map(|(_, h)| h.swedish_name())
            .collect();
        assert_eq!(names.len(), 16);
        assert!(names.iter().all(|name| !name.is_empty()));
        assert_eq!(AnnandagPask.swedish_name(), "annandag påsk");
        assert_eq!(AllaHelgonsDag.swedish_name(), "alla helgons dag");
    }

    #[test]
    fn weekends_holidays_and_eves_are_not_working_days() {
        let cases = [
            (date(2026, 3, 27), true),   // an ordinary Friday
            (date(2026, 3, 28), false),  // Saturday
            (date(2026, 3, 29), false),  // Sunday
            (date(2026, 4, 3), false),   // långfredagen
            (date(2026, 4, 6), false),   // annandag påsk
            (date(2026, 4, 7), true),    // the Tuesday after Easter
            (date(2026, 5, 14), false),  // Kristi himmelsfärdsdag
            (date(2026, 5, 15), true),   // the Friday after it ("klämdag", still open)
            (date(2026, 6, 19), false),  // midsommarafton
            (date(2025, 6, 6), false),   // nationaldagen on a Friday
            (date(2025, 12, 24), false), // julafton
            (date(2025, 12, 31), false), // nyårsafton
            (date(2026, 1, 2), true),    // the Friday after nyårsdagen
            (date(2026, 1, 6), false),   // trettondedag jul
            (date(2026, 4, 30), true),   // valborgsmässoafton is a working day
        ];
        for (day, working) in cases {
            assert_eq!(is_working_day(day), working, "{day}");
        }
    }

    #[test]
    fn add_working_days_skips_easter() {
        // Thursday before långfredagen 2026.
        let maundy_thursday = date(2026, 4, 2);
        assert_eq!(add_working_days(maundy_thursday, 1), date(2026, 4, 7));
        assert_eq!(add_working_days(maundy_thursday, 2), date(2026, 4, 8));
        assert_eq!(add_working_days(date(2026, 4, 3), 0), date(2026, 4, 7));
    }

    #[test]
    fn add_working_days_skips_christmas_and_new_year() {
        // Tuesday 23 December 2025: 24-26 closed, 29 and 30 open, 31 and 1 closed, 2 open.
        let day_before_christmas_eve = date(2025, 12, 23);
        assert_eq!(
            add_working_days(day_before_christmas_eve, 1),
            date(2025, 12, 29)
        );
        assert_eq!(
            add_working_days(day_before_christmas_eve, 2),
            date(2025, 12, 30)
        );
        assert_eq!(
            add_working_days(day_before_christmas_eve, 3),
            date(2026, 1, 2)
        );
        assert_eq!(
            add_working_days(day_before_christmas_eve, 4),
            date(2026, 1, 5)
        );
        // 6 January 2026 is a Tuesday and trettondedag jul.
        assert_eq!(
            add_working_days(day_before_christmas_eve, 5),
            date(2026, 1, 7)
        );
    }

    #[test]
    fn add_working_days_skips_midsummer() {
        // Thursday 18 June 2026; midsommarafton is Friday 19 June.
        assert_eq!(add_working_days(date(2026, 6, 18), 1), date(2026, 6, 22));
        assert_eq!(add_working_days(date(2026, 6, 19), 0), date(2026, 6, 22));
        assert_eq!(add_working_days(date(2026, 6, 20), 2), date(2026, 6, 23));
    }

    #[test]
    fn add_zero_working_days_keeps_a_working_day() {
        assert_eq!(add_working_days(date(2026, 3, 25), 0), date(2026, 3, 25));
        assert_eq!(add_working_days(date(2026, 3, 28), 0), date(2026, 3, 30));
    }

    #[test]
    fn working_days_between_counts_after_from_up_to_and_including_to() {
        let cases = [
            (date(2026, 3, 23), date(2026, 3, 23), 0),
            (date(2026, 3, 23), date(2026, 3, 24), 1),
            (date(2026, 3, 23), date(2026, 3, 30), 5),
            (date(2026, 3, 27), date(2026, 3, 29), 0), // Friday to Sunday
            (date(2026, 4, 2), date(2026, 4, 7), 1),   // over Easter
            (date(2025, 12, 23), date(2026, 1, 7), 5), // over Christmas and New Year
            (date(2026, 1, 1), date(2026, 12, 31), 251), // all of 2026: both ends are closed
            (date(2026, 3, 24), date(2026, 3, 23), -1),
            (date(2026, 1, 7), date(2025, 12, 23), -5),
        ];
        for (from, to, expected) in cases {
            assert_eq!(working_days_between(from, to), expected, "{from} to {to}");
        }
    }

    #[test]
    fn working_days_between_undoes_add_working_days() {
        let mut start = date(2025, 12, 1);
        while start < date(2026, 2, 1) {
            for n in 1..=40 {
                let end = add_working_days(start, n);
                assert_eq!(
                    working_days_between(start, end),
                    i64::from(n),
                    "{start} + {n}"
                );
                assert_eq!(
                    working_days_between(end, start),
                    -i64::from(n),
                    "{start} + {n}"
                );
            }
            start = start.next_day().expect("in range");
        }
        // Counting day by day agrees over long spans too.
        let (from, to) = (date(2024, 2, 17), date(2031, 8, 3));
        let mut by_day = 0;
        let mut day = from;
        while day < to {
            day = day.next_day().expect("in range");
            if is_working_day(day) {
                by_day += 1;
            }
        }
        assert_eq!(working_days_between(from, to), by_day);
    }

    #[test]
    fn office_is_open_only_during_hours_on_working_days() {
        let hours = office();
        assert!(hours.is_open(at(2026, 3, 25, 8, 0)));
        assert!(hours.is_open(at(2026, 3, 25, 16, 29)));
        assert!(!hours.is_open(at(2026, 3, 25, 16, 30)));
        assert!(!hours.is_open(at(2026, 3, 25, 7, 59)));
        assert!(!hours.is_open(at(2026, 3, 28, 10, 0))); // Saturday
        assert!(!hours.is_open(at(2026, 4, 3, 10, 0))); // långfredagen
    }

    #[test]
    fn next_opening_is_now_when_open_and_the_next_morning_otherwise() {
        let hours = office();
        let cases = [
            (at(2026, 3, 25, 10, 15), at(2026, 3, 25, 10, 15)), // open now
            (at(2026, 3, 25, 6, 45), at(2026, 3, 25, 8, 0)),    // before opening
            (at(2026, 3, 25, 17, 0), at(2026, 3, 26, 8, 0)),    // after closing
            (at(2026, 3, 27, 16, 30), at(2026, 3, 30, 8, 0)),   // Friday at closing
            (at(2026, 3, 28, 7, 0), at(2026, 3, 30, 8, 0)),     // Saturday morning
            (at(2026, 4, 2, 18, 0), at(2026, 4, 7, 8, 0)),      // into Easter
        ];
        for (received, expected) in cases {
            assert_eq!(hours.next_opening(received), expected, "{received}");
        }
    }

    #[test]
    fn hours_that_close_before_they_open_are_never_open_and_still_end() {
        let hours = OfficeHours {
            opens: Time::from_hms(17, 0, 0).expect("valid"),
            closes: Time::from_hms(8, 0, 0).expect("valid"),
        };
        assert!(!hours.is_open(at(2026, 3, 25, 18, 0)));
        assert_eq!(
            hours.next_opening(at(2026, 3, 25, 18, 0)),
            at(2026, 3, 26, 17, 0)
        );
    }

    #[test]
    fn reply_due_for_mail_on_a_friday_evening_counts_from_monday() {
        // Friday 27 March 2026 at 19:40; taken in Monday 30 March.
        let received = at(2026, 3, 27, 19, 40);
        assert_eq!(reply_due(received, 1, &office()), date(2026, 3, 31));
        assert_eq!(reply_due(received, 2, &office()), date(2026, 4, 1));
    }

    #[test]
    fn reply_due_for_mail_on_a_saturday_counts_from_monday() {
        let received = at(2026, 3, 28, 11, 0);
        assert_eq!(reply_due(received, 0, &office()), date(2026, 3, 30));
        assert_eq!(reply_due(received, 2, &office()), date(2026, 4, 1));
    }

    #[test]
    fn reply_due_for_mail_during_opening_hours_counts_from_that_day() {
        // Wednesday 25 March 2026 at 09:12.
        let received = at(2026, 3, 25, 9, 12);
        assert_eq!(reply_due(received, 0, &office()), date(2026, 3, 25));
        assert_eq!(reply_due(received, 2, &office()), date(2026, 3, 27));
        // Same day before opening: still taken in that day.
        assert_eq!(
            reply_due(at(2026, 3, 25, 6, 0), 2, &office()),
            date(2026, 3, 27)
        );
    }

    #[test]
    fn reply_due_for_mail_just_before_a_holiday_skips_it() {
        // Skärtorsdag 2026, during hours and after closing.
        assert_eq!(
            reply_due(at(2026, 4, 2, 15, 0), 2, &office()),
            date(2026, 4, 8)
        );
        assert_eq!(
            reply_due(at(2026, 4, 2, 16, 45), 2, &office()),
            date(2026, 4, 9)
        );
        // The Thursday before midsommarafton 2026, after closing: taken in Monday 22 June.
        assert_eq!(
            reply_due(at(2026, 6, 18, 17, 0), 1, &office()),
            date(2026, 6, 23)
        );
        // Lillejulafton 2025 after closing: taken in Monday 29 December.
        assert_eq!(
            reply_due(at(2025, 12, 23, 20, 0), 2, &office()),
            date(2026, 1, 2)
        );
    }

    #[test]
    fn is_overdue_only_after_the_due_day() {
        let due = date(2026, 4, 8);
        assert!(!is_overdue(due, date(2026, 4, 7)));
        assert!(!is_overdue(due, due));
        assert!(is_overdue(due, date(2026, 4, 9)));
    }

    #[test]
    fn swedish_local_switches_to_summer_time_at_0100_utc_on_the_last_sunday_in_march() {
        let cases = [
            (utc(2025, 3, 30, 0, 59, 59), local(2025, 3, 30, 1, 59, 59)),
            (utc(2025, 3, 30, 1, 0, 0), local(2025, 3, 30, 3, 0, 0)),
            (utc(2026, 3, 29, 0, 59, 59), local(2026, 3, 29, 1, 59, 59)),
            (utc(2026, 3, 29, 1, 0, 0), local(2026, 3, 29, 3, 0, 0)),
            // 31 March 2024 was itself the last Sunday.
            (utc(2024, 3, 31, 1, 0, 0), local(2024, 3, 31, 3, 0, 0)),
            (utc(2024, 3, 24, 1, 0, 0), local(2024, 3, 24, 2, 0, 0)),
        ];
        for (instant, expected) in cases {
            assert_eq!(swedish_local(instant), expected, "{instant}");
        }
    }

    #[test]
    fn swedish_local_switches_back_at_0100_utc_on_the_last_sunday_in_october() {
        let cases = [
            (utc(2025, 10, 26, 0, 59, 59), local(2025, 10, 26, 2, 59, 59)),
            (utc(2025, 10, 26, 1, 0, 0), local(2025, 10, 26, 2, 0, 0)),
            (utc(2026, 10, 25, 0, 59, 59), local(2026, 10, 25, 2, 59, 59)),
            (utc(2026, 10, 25, 1, 0, 0), local(2026, 10, 25, 2, 0, 0)),
            (utc(2026, 7, 1, 12, 0, 0), local(2026, 7, 1, 14, 0, 0)),
            (utc(2026, 1, 15, 12, 0, 0), local(2026, 1, 15, 13, 0, 0)),
        ];
        for (instant, expected) in cases {
            assert_eq!(swedish_local(instant), expected, "{instant}");
        }
    }

    #[test]
    fn swedish_local_turns_the_year_at_swedish_midnight() {
        assert_eq!(
            swedish_local(utc(2026, 12, 31, 22, 59, 59)),
            local(2026, 12, 31, 23, 59, 59)
        );
        assert_eq!(
            swedish_local(utc(2026, 12, 31, 23, 0, 0)),
            local(2027, 1, 1, 0, 0, 0)
        );
    }

    #[test]
    fn swedish_local_uses_the_instant_whatever_the_offset() {
        let offset = UtcOffset::from_hms(-5, 0, 0).expect("valid");
        // 20:30 at UTC-5 on 28 March 2026 is 01:30 UTC on the 29th, summer time.
        let instant = local(2026, 3, 28, 20, 30, 0).assume_offset(offset);
        assert_eq!(swedish_local(instant), local(2026, 3, 29, 3, 30, 0));
    }

    #[test]
    fn dates_read_as_in_a_letter() {
        let d = Date::from_calendar_date(2026, Month::December, 4).unwrap();
        assert_eq!(swedish_date(d), "fredag 4 december 2026");
        assert_eq!(english_date(d), "Friday 4 December 2026");
    }
}
