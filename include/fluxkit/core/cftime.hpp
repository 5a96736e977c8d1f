// CF-conventions time coordinates: calendars, "<unit> since <epoch>" units, conversion between time values
// and calendar dates, and monthly time axes.
//
// Conventions (they hold for every function below):
//  * Calendars follow CF-1.8 and the Python cftime package:
//      standard (= gregorian)   mixed Julian/Gregorian: Julian rules up to 1582-10-04, which is followed by
//                               1582-10-15, Gregorian rules after; 1582-10-05 to 1582-10-14 do not exist.
//      proleptic_gregorian      Gregorian rules for all dates.
//      julian                   Julian rules (every 4th year is a leap year) for all dates.
//      noleap (= 365_day)       every year has 365 days.
//      all_leap (= 366_day)     every year has 366 days.
//      360_day                  12 months of 30 days.
//  * Year numbering: standard and julian have no year 0 (year -1 = 1 BC is followed by year 1, as cftime's
//    has_year_zero=False); year 0 is an error there. All other calendars count years astronomically: year 0
//    exists and is a leap year where the calendar has leap years (-1 is 2 BC), as cftime's
//    has_year_zero=True, which is cftime's default for those calendars.
//  * Time of day is hours 0-23, minutes 0-59, seconds in [0, 60) (no leap seconds, as CF/udunits). All dates
//    are UTC; a time zone other than UTC is rejected.
//  * Units: a time value v in TimeUnits {unit, epoch, calendar} denotes the instant epoch + v * unit, where a
//    day is exactly 86400 s. CF "months since" and "years since" are rejected: they are fixed fractions of a
//    year (udunits), not calendar months or years.
//  * Every failure (unknown calendar, malformed date or units, a date that does not exist in the calendar,
//    out-of-range or non-finite values, a non-consecutive monthly axis) throws fluxkit::Error with a message
//    quoting the offending text or value.
//  * Conversions use integer day arithmetic (no loops over years), so decoding millions of values is cheap.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fluxkit::cftime {

enum class Calendar { Standard, ProlepticGregorian, Julian, NoLeap, AllLeap, Day360 };

// Parses a CF calendar attribute, case-insensitively and ignoring surrounding blanks (and NUL padding).
// Accepts standard, gregorian, proleptic_gregorian, julian, noleap, 365_day, all_leap, 366_day, 360_day;
// "" gives Standard (the CF default when the attribute is absent).
Calendar parse_calendar(std::string_view name);

// The canonical CF name: "standard", "proleptic_gregorian", "julian", "noleap", "all_leap", "360_day".
std::string_view calendar_name(Calendar c);

// A calendar date and time of day. Not tied to a calendar: validity is checked where a calendar is known.
struct DateTime {
  int year;
  int month;  // 1-12
  int day;    // 1-31
  int hour = 0;
  int minute = 0;
  double second = 0;
  auto operator<=>(const DateTime&) const = default;
};

// "1958-01-16 12:00:00"; years have at least 4 digits ("0001-01-01 00:00:00", "-0044-03-15 00:00:00");
// fractional seconds are printed with up to 6 decimals and without trailing zeros ("12:00:01.5").
std::string format(const DateTime& d);

// Parses "Y-M-D[(T| )h[:m[:s[.fff]]]][ ][zone]" with an optional leading '-' on the year and one- or
// more-digit fields: "1958-1-1", "1958-01-01 00:00:00", "1958-01-01T00:00:00Z", "1958-01-01 00:00:00.0",
// "1970-01-01 00:00:00 +0:00". The zone may be Z, UTC, GMT or a numeric offset (+h, +hh, +hh:mm, +hhmm, with
// + or -); a non-zero offset is rejected. Checks field ranges (month 1-12, day 1-31, hour, minute, second)
// but not the calendar: day 30 of month 2 is accepted here and rejected later except in 360_day.
DateTime parse_datetime(std::string_view text);

// Leap year of the calendar (year numbering as above). Standard uses Julian rules up to 1582 and Gregorian
// rules from 1583 on; noleap/360_day never, all_leap always. Throws for year 0 in standard/julian.
bool is_leap_year(int year, Calendar c);

// Number of days in the month. In the standard calendar 1582-10 has 21 days (its days are 1-4 and 15-31).
int days_in_month(int year, int month, Calendar c);

// Throws fluxkit::Error if the date does not exist in the calendar.
void validate(const DateTime& d, Calendar c);

enum class TimeUnit { Seconds, Minutes, Hours, Days };

// Length of one unit in seconds (1, 60, 3600, 86400) and its canonical CF name ("seconds", ..., "days").
double unit_seconds(TimeUnit u);
std::string_view unit_name(TimeUnit u);

struct TimeUnits {
  TimeUnit unit;
  DateTime epoch;
  Calendar calendar;
};

// Parses a CF time units attribute "<unit> since <date>" together with the calendar attribute ("" =
// standard). Unit spellings (case-insensitive): seconds/second/secs/sec/s, minutes/minute/mins/min,
// hours/hour/hrs/hr/h, days/day/d. "months since"/"years since" are rejected. The epoch must exist in the
// calendar.
TimeUnits parse_units(std::string_view units, std::string_view calendar);

// "seconds since 1900-01-01 00:00:00" (the calendar is a separate attribute and not included).
std::string format_units(const TimeUnits& u);

// Time value of d in u.unit since u.epoch in u.calendar. Throws if d does not exist in the calendar.
double to_offset(const DateTime& d, const TimeUnits& u);

// Inverse of to_offset: the date u.epoch + value * u.unit, rounded to the nearest millisecond (so mid-month
// stamps like 1958-01-16 12:00:00 come back exactly). Throws for non-finite values and for results beyond
// about 285000 years from the epoch.
DateTime from_offset(double value, const TimeUnits& u);

// Days since 0001-01-01 of the given calendar (the internal day number; negative before it). Throws if the
// date does not exist in the calendar. In standard, day numbers are continuous across the 1582 switch
// (1582-10-04 -> 577736, 1582-10-15 -> 577737) and 0001-01-01 is the Julian one.
std::int64_t day_number(int year, int month, int day, Calendar c);

// Inverse of day_number: the date of a day number.
DateTime date_from_day_number(std::int64_t n, Calendar c);

// ---- the civil clock ------------------------------------------------------------------------------------
// Whole seconds since 1970-01-01 00:00:00 UTC in the proleptic Gregorian calendar (astronomical years), the
// time base of the transport (LUMIA's Python datetimes, footprint and flux time stamps) and of the
// generators. One implementation for every reader and writer; integer arithmetic, no range limit beyond
// int64.
using CivilTime = std::array<int, 6>;  // year, month (1-12), day, hour, minute, second

// No validation: out-of-range fields roll over as in the closed-form day count (use valid_civil first).
std::int64_t civil_to_epoch_seconds(const CivilTime& t);
CivilTime epoch_seconds_to_civil(std::int64_t seconds);
// Month 1-12, day within the proleptic Gregorian month, hour 0-23, minute 0-59, second 0-59.
bool valid_civil(const CivilTime& t);
// "%Y%m%d%H%M%S" (LUMIA's footprint keys) and "YYYY-mm-dd HH:MM:SS".
std::string compact_stamp(std::int64_t seconds);
std::string format_epoch_seconds(std::int64_t seconds);

// A calendar month. index() is a continuous month count (year numbering as given, so in calendars without a
// year 0 the months of year 0 are never valid dates; monthly axes spanning 1 BC -> 1 AD are not supported).
struct YearMonth {
  int year;
  int month;  // 1-12
  int index() const { return year * 12 + (month - 1); }
  static YearMonth from_index(int i);
  auto operator<=>(const YearMonth&) const = default;
};

// "1958-01".
std::string format(const YearMonth& ym);

// A monthly axis: `count` consecutive calendar months starting at `first`.
struct MonthlyAxis {
  YearMonth first{1, 1};
  int count = 0;

  // Month i (0-based; not range-checked, i may be anything).
  YearMonth at(int i) const;

  // Decodes time values (e.g. NEMO time_counter) to the month containing each value (start, middle or
  // end-of-month stamps are all fine; a stamp at exactly 00:00 of the 1st belongs to the month it starts) and
  // checks that they are consecutive months without gaps or repeats. Throws fluxkit::Error for an empty list,
  // a non-finite value, or the first value that is not the month after its predecessor, naming both indices
  // and dates.
  static MonthlyAxis from_offsets(std::span<const double> values, const TimeUnits& u);

  // Mid-month stamps (start + half the month length: 1958-01-16 12:00, 1958-02-15 00:00) as offsets in u.
  std::vector<double> mid_month_offsets(const TimeUnits& u) const;

  // [start, end) of each month (00:00 of the 1st, 00:00 of the 1st of the next month) as offsets in u.
  std::vector<std::array<double, 2>> bounds_offsets(const TimeUnits& u) const;
};

}  // namespace fluxkit::cftime
