// CF-conventions time handling; see include/fluxkit/core/cftime.hpp for the conventions.
//
// Day numbers are computed with closed-form integer arithmetic on March-based years (the leap day is the last
// day of such a year): 4-year cycles of 1461 days for the Julian calendar and 400-year cycles of 146097 days
// for the Gregorian one (H. Hinnant's days_from_civil). Both are shifted so that their own 0001-01-01 is day
// 0; the standard calendar uses the Julian numbering and the Gregorian one plus 2 after the 1582 switch,
// which makes 1582-10-04 (Julian) and 1582-10-15 (Gregorian) consecutive days.
#include "fluxkit/core/cftime.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <system_error>

#include "fluxkit/core/error.hpp"

namespace fluxkit::cftime {

namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::int64_t kMsPerDay = kSecondsPerDay * 1000;
// Largest |milliseconds| from_offset accepts: well inside the exactly representable doubles (2^53 ~ 9.007e15)
// and ~285000 years.
constexpr double kMaxAbsMs = 9.0e15;

// Standard calendar: first day number of the Gregorian part (1582-10-15) and the offset of its Gregorian
// numbering relative to the proleptic Gregorian one.
constexpr std::int64_t kStandardSwitchDay = 577737;
constexpr std::int64_t kStandardGregorianShift = 2;

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Day of the March-based year (March 1 = 0) of month m (1-12), day d.
constexpr std::int64_t march_day_of_year(int m, int d) {
  return (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
}

struct YMD {
  std::int64_t year;  // astronomical
  int month;
  int day;
};

// Month and day from the day of the March-based year; returns the calendar-year increment (1 for Jan/Feb).
constexpr int march_doy_to_month_day(std::int64_t doy, int& month, int& day) {
  const std::int64_t mp = (5 * doy + 2) / 153;
  day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return month <= 2 ? 1 : 0;
}

// Days since proleptic Gregorian 0001-01-01, astronomical year.
constexpr std::int64_t gregorian_days(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + march_day_of_year(m, d);
  return era * 146097 + doe - 306;
}

constexpr YMD gregorian_from_days(std::int64_t n) {
  const std::int64_t z = n + 306;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  YMD r{0, 0, 0};
  r.year = era * 400 + yoe + march_doy_to_month_day(doy, r.month, r.day);
  return r;
}

// Days since Julian 0001-01-01, astronomical year.
constexpr std::int64_t julian_days(std::int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(y, 4);
  const std::int64_t yoe = y - era * 4;
  return era * 1461 + yoe * 365 + march_day_of_year(m, d) - 306;
}

constexpr YMD julian_from_days(std::int64_t n) {
  const std::int64_t z = n + 306;
  const std::int64_t era = floor_div(z, 1461);
  const std::int64_t doe = z - era * 1461;
  const std::int64_t yoe = std::min<std::int64_t>(doe / 365, 3);
  YMD r{0, 0, 0};
  r.year = era * 4 + yoe + march_doy_to_month_day(doe - yoe * 365, r.month, r.day);
  return r;
}

static_assert(gregorian_days(1, 1, 1) == 0 && julian_days(1, 1, 1) == 0);
static_assert(gregorian_days(1970, 1, 1) == 719162);
static_assert(julian_days(1582, 10, 4) + 1 == gregorian_days(1582, 10, 15) + kStandardGregorianShift);
static_assert(julian_days(1582, 10, 4) + 1 == kStandardSwitchDay);

constexpr std::array<int, 13> kCumNoLeap = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365};
constexpr std::array<int, 13> kCumAllLeap = {0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366};
constexpr std::array<int, 12> kMonthDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

bool has_year_zero(Calendar c) {
  return c != Calendar::Standard && c != Calendar::Julian;
}

std::string fmt_double(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string two(int v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d", v);
  return buf;
}

std::string year_text(std::int64_t y) {
  char buf[32];
  if (y < 0) {
    std::snprintf(buf, sizeof buf, "-%04lld", static_cast<long long>(-y));
  } else {
    std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(y));
  }
  return buf;
}

std::string ymd_text(int y, int m, int d) {
  return year_text(y) + "-" + two(m) + "-" + two(d);
}

std::string calendar_label(Calendar c) {
  return std::string(calendar_name(c)) + " calendar";
}

// Astronomical year of a year in calendar c; throws for year 0 where it does not exist.
std::int64_t astronomical_year(int year, Calendar c) {
  if (has_year_zero(c)) return year;
  if (year == 0) {
    throw Error("year 0 does not exist in the " + calendar_label(c) +
                " (1 BC = year -1 is followed by year 1)");
  }
  return year < 0 ? std::int64_t{year} + 1 : std::int64_t{year};
}

bool gregorian_leap(std::int64_t y) {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

void check_month(int year, int month, Calendar c) {
  if (month < 1 || month > 12) {
    throw Error("month " + std::to_string(month) + " of year " + std::to_string(year) +
                " out of range 1-12 (" + calendar_label(c) + ")");
  }
}

// Last valid day number of the month (nominal: 31 for 1582-10 in standard even though days 5-14 are missing).
int last_day_of_month(int year, int month, Calendar c) {
  check_month(year, month, c);
  if (c == Calendar::Day360) {
    astronomical_year(year, c);
    return 30;
  }
  if (month == 2) return is_leap_year(year, c) ? 29 : 28;
  astronomical_year(year, c);
  return kMonthDays[static_cast<std::size_t>(month - 1)];
}

void check_date(int year, int month, int day, Calendar c) {
  const int last = last_day_of_month(year, month, c);
  if (day < 1 || day > last) {
    throw Error("date " + ymd_text(year, month, day) + " does not exist in the " + calendar_label(c) +
                " (day " + std::to_string(day) + " out of range 1-" + std::to_string(last) + ")");
  }
  if (c == Calendar::Standard && year == 1582 && month == 10 && day > 4 && day < 15) {
    throw Error("date " + ymd_text(year, month, day) +
                " does not exist in the standard calendar (1582-10-04 is followed by 1582-10-15)");
  }
}

// ---- parsing helpers
// ------------------------------------------------------------------------------------------

char lower(char ch) {
  return (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
}
bool is_digit(char ch) {
  return ch >= '0' && ch <= '9';
}
bool is_blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (char& ch : r)
    ch = lower(ch);
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\0'))
    s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\0'))
    s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

class DateParser {
 public:
  explicit DateParser(std::string_view text) : text_(text), s_(trim(text)) {}

  DateTime parse() {
    DateTime d{0, 0, 0};
    bool negative = false;
    if (peek() == '-' || peek() == '+') {
      negative = get() == '-';
    }
    d.year = static_cast<int>(digits(1, 9, "year"));
    if (negative) d.year = -d.year;
    expect('-', "'-' after the year");
    d.month = static_cast<int>(digits(1, 2, "month"));
    expect('-', "'-' after the month");
    d.day = static_cast<int>(digits(1, 2, "day"));
    range(d.month, 1, 12, "month");
    range(d.day, 1, 31, "day");
    if (at_end()) return d;

    // Separator: 'T' or blanks (or both, leniently).
    bool separated = false;
    while (!at_end() && (is_blank(peek()) || peek() == 'T' || peek() == 't')) {
      ++pos_;
      separated = true;
    }
    if (!separated) fail("expected ' ' or 'T' after the date");
    if (at_end()) fail("expected a time after the separator");
    if (!at_end() && is_digit(peek())) {
      d.hour = static_cast<int>(digits(1, 2, "hour"));
      range(d.hour, 0, 23, "hour");
      if (!at_end() && peek() == ':') {
        ++pos_;
        d.minute = static_cast<int>(digits(1, 2, "minute"));
        range(d.minute, 0, 59, "minute");
        if (!at_end() && peek() == ':') {
          ++pos_;
          d.second = seconds();
        }
      }
      while (!at_end() && is_blank(peek()))
        ++pos_;
    }
    if (!at_end()) zone();
    if (!at_end()) fail("unexpected '" + std::string(s_.substr(pos_)) + "'");
    return d;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error("malformed date '" + std::string(text_) + "': " + why +
                " (expected YYYY-MM-DD[ hh:mm:ss[.fff]][ zone], e.g. '1958-01-01 00:00:00')");
  }
  void range(int v, int lo, int hi, const char* what) const {
    if (v < lo || v > hi) {
      throw Error("invalid date '" + std::string(text_) + "': " + what + " " + std::to_string(v) +
                  " out of range " + std::to_string(lo) + "-" + std::to_string(hi));
    }
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  char get() { return s_[pos_++]; }
  void expect(char ch, const char* what) {
    if (at_end() || s_[pos_] != ch) fail(std::string("expected ") + what);
    ++pos_;
  }
  std::int64_t digits(std::size_t min_n, std::size_t max_n, const char* what) {
    const std::size_t start = pos_;
    std::int64_t v = 0;
    while (!at_end() && is_digit(peek())) {
      v = v * 10 + (get() - '0');
      if (pos_ - start > max_n) fail(std::string("too many digits in the ") + what);
    }
    if (pos_ - start < min_n) fail(std::string("expected digits for the ") + what);
    return v;
  }
  double seconds() {
    const std::size_t start = pos_;
    digits(1, 2, "second");
    if (!at_end() && peek() == '.') {
      ++pos_;
      while (!at_end() && is_digit(peek()))
        ++pos_;
    }
    double v = 0;
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    const auto res = std::from_chars(first, last, v);
    if (res.ec != std::errc() || res.ptr != last) fail("bad seconds");
    if (!(v >= 0 && v < 60)) {
      throw Error("invalid date '" + std::string(text_) + "': second " + std::string(first, last) +
                  " out of range [0, 60)");
    }
    return v;
  }
  void zone() {
    const std::size_t start = pos_;
    if (peek() == 'Z' || peek() == 'z') {
      ++pos_;
      return;
    }
    const std::string_view rest = s_.substr(pos_);
    if (rest.size() >= 3 && (iequals(rest.substr(0, 3), "UTC") || iequals(rest.substr(0, 3), "GMT"))) {
      pos_ += 3;
      if (at_end()) return;
    }
    if (peek() != '+' && peek() != '-') fail("unexpected '" + std::string(rest) + "'");
    ++pos_;
    const std::size_t digits_start = pos_;
    std::int64_t hours = digits(1, 4, "UTC offset");
    std::int64_t minutes = 0;
    if (!at_end() && peek() == ':') {
      if (pos_ - digits_start > 2) fail("bad UTC offset");
      ++pos_;
      minutes = digits(1, 2, "UTC offset minutes");
    } else if (pos_ - digits_start > 2) {
      minutes = hours % 100;
      hours /= 100;
    }
    if (hours != 0 || minutes != 0) {
      throw Error("date '" + std::string(text_) + "' has the UTC offset '" +
                  std::string(s_.substr(start, pos_ - start)) + "': only UTC dates are supported");
    }
  }

  std::string_view text_;
  std::string_view s_;
  std::size_t pos_ = 0;
};

std::int64_t unit_ms(TimeUnit u) {
  switch (u) {
    case TimeUnit::Seconds:
      return 1000;
    case TimeUnit::Minutes:
      return 60'000;
    case TimeUnit::Hours:
      return 3'600'000;
    case TimeUnit::Days:
      return kMsPerDay;
  }
  throw Error("invalid TimeUnit");
}

double seconds_of_day(const DateTime& d) {
  return d.hour * 3600.0 + d.minute * 60.0 + d.second;
}

// Offset in u of the instant day_diff days after the epoch's date, at sod seconds of the day.
double offset_of(double day_diff, double sod, const TimeUnits& u) {
  const double us = unit_seconds(u.unit);
  const double per_day = static_cast<double>(kSecondsPerDay) / us;
  return day_diff * per_day + (sod - seconds_of_day(u.epoch)) / us;
}

// Decoder with the epoch's day number precomputed.
class Decoder {
 public:
  explicit Decoder(const TimeUnits& u)
      : u_(u),
        epoch_day_(day_number(u.epoch.year, u.epoch.month, u.epoch.day, u.calendar)),
        epoch_ms_(seconds_of_day(u.epoch) * 1000.0),
        unit_ms_(static_cast<double>(unit_ms(u.unit))) {
    validate(u.epoch, u.calendar);
  }

  DateTime decode(double value) const {
    if (!std::isfinite(value)) throw Error("time value " + fmt_double(value) + " is not finite");
    const double total = value * unit_ms_ + epoch_ms_;
    if (!(std::fabs(total) <= kMaxAbsMs)) {
      throw Error("time value " + fmt_double(value) + " " + format_units(u_) +
                  " is out of range (more than about 285000 years from the epoch)");
    }
    const std::int64_t ms = std::llround(total);
    const std::int64_t days = floor_div(ms, kMsPerDay);
    std::int64_t msod = ms - days * kMsPerDay;
    DateTime d = date_from_day_number(epoch_day_ + days, u_.calendar);
    d.hour = static_cast<int>(msod / 3'600'000);
    msod %= 3'600'000;
    d.minute = static_cast<int>(msod / 60'000);
    msod %= 60'000;
    d.second = static_cast<double>(msod) / 1000.0;
    return d;
  }

 private:
  const TimeUnits& u_;
  std::int64_t epoch_day_;
  double epoch_ms_;
  double unit_ms_;
};

YearMonth next_month(YearMonth ym) {
  return ym.month == 12 ? YearMonth{ym.year + 1, 1} : YearMonth{ym.year, ym.month + 1};
}

}  // namespace

// ---- calendars
// ------------------------------------------------------------------------------------------------

Calendar parse_calendar(std::string_view name) {
  const std::string n = to_lower(trim(name));
  if (n.empty() || n == "standard" || n == "gregorian") return Calendar::Standard;
  if (n == "proleptic_gregorian") return Calendar::ProlepticGregorian;
  if (n == "julian") return Calendar::Julian;
  if (n == "noleap" || n == "365_day") return Calendar::NoLeap;
  if (n == "all_leap" || n == "366_day") return Calendar::AllLeap;
  if (n == "360_day") return Calendar::Day360;
  throw Error(
      "unsupported calendar '" + std::string(name) +
      "' (expected one of standard, gregorian, proleptic_gregorian, julian, noleap, 365_day, all_leap, "
      "366_day, 360_day)");
}

std::string_view calendar_name(Calendar c) {
  switch (c) {
    case Calendar::Standard:
      return "standard";
    case Calendar::ProlepticGregorian:
      return "proleptic_gregorian";
    case Calendar::Julian:
      return "julian";
    case Calendar::NoLeap:
      return "noleap";
    case Calendar::AllLeap:
      return "all_leap";
    case Calendar::Day360:
      return "360_day";
  }
  throw Error("invalid Calendar value " + std::to_string(static_cast<int>(c)));
}

bool is_leap_year(int year, Calendar c) {
  const std::int64_t y = astronomical_year(year, c);
  switch (c) {
    case Calendar::Standard:
      return year <= 1582 ? y % 4 == 0 : gregorian_leap(y);
    case Calendar::ProlepticGregorian:
      return gregorian_leap(y);
    case Calendar::Julian:
      return y % 4 == 0;
    case Calendar::NoLeap:
    case Calendar::Day360:
      return false;
    case Calendar::AllLeap:
      return true;
  }
  return false;
}

int days_in_month(int year, int month, Calendar c) {
  const int last = last_day_of_month(year, month, c);
  if (c == Calendar::Standard && year == 1582 && month == 10) return last - 10;
  return last;
}

void validate(const DateTime& d, Calendar c) {
  check_date(d.year, d.month, d.day, c);
  if (d.hour < 0 || d.hour > 23 || d.minute < 0 || d.minute > 59 || !(d.second >= 0 && d.second < 60)) {
    throw Error("invalid time of day in " + ymd_text(d.year, d.month, d.day) + " " + std::to_string(d.hour) +
                ":" + std::to_string(d.minute) + ":" + fmt_double(d.second) +
                " (expected hour 0-23, minute 0-59, second in [0, 60))");
  }
}

std::int64_t day_number(int year, int month, int day, Calendar c) {
  check_date(year, month, day, c);
  const std::int64_t y = astronomical_year(year, c);
  switch (c) {
    case Calendar::Standard:
      if (year < 1582 || (year == 1582 && (month < 10 || (month == 10 && day <= 4)))) {
        return julian_days(y, month, day);
      }
      return gregorian_days(y, month, day) + kStandardGregorianShift;
    case Calendar::ProlepticGregorian:
      return gregorian_days(y, month, day);
    case Calendar::Julian:
      return julian_days(y, month, day);
    case Calendar::NoLeap:
      return (y - 1) * 365 + kCumNoLeap[static_cast<std::size_t>(month - 1)] + day - 1;
    case Calendar::AllLeap:
      return (y - 1) * 366 + kCumAllLeap[static_cast<std::size_t>(month - 1)] + day - 1;
    case Calendar::Day360:
      return (y - 1) * 360 + (month - 1) * 30 + day - 1;
  }
  throw Error("invalid Calendar value " + std::to_string(static_cast<int>(c)));
}

DateTime date_from_day_number(std::int64_t n, Calendar c) {
  YMD r{0, 0, 0};
  const auto fixed_year = [&](const std::array<int, 13>& cum) {
    const std::int64_t len = cum[12];
    const std::int64_t yi = floor_div(n, len);
    const auto doy = static_cast<int>(n - yi * len);
    const auto it = std::upper_bound(cum.begin(), cum.end(), doy);
    const auto m = static_cast<int>(it - cum.begin());
    return YMD{yi + 1, m, doy - cum[static_cast<std::size_t>(m - 1)] + 1};
  };
  switch (c) {
    case Calendar::Standard:
      r = n < kStandardSwitchDay ? julian_from_days(n) : gregorian_from_days(n - kStandardGregorianShift);
      break;
    case Calendar::ProlepticGregorian:
      r = gregorian_from_days(n);
      break;
    case Calendar::Julian:
      r = julian_from_days(n);
      break;
    case Calendar::NoLeap:
      r = fixed_year(kCumNoLeap);
      break;
    case Calendar::AllLeap:
      r = fixed_year(kCumAllLeap);
      break;
    case Calendar::Day360: {
      const std::int64_t yi = floor_div(n, 360);
      const std::int64_t doy = n - yi * 360;
      r = YMD{yi + 1, static_cast<int>(doy / 30) + 1, static_cast<int>(doy % 30) + 1};
      break;
    }
  }
  if (!has_year_zero(c) && r.year <= 0) r.year -= 1;
  if (r.year < std::numeric_limits<int>::min() || r.year > std::numeric_limits<int>::max()) {
    throw Error("day number " + std::to_string(n) + " is out of the supported range of years");
  }
  return DateTime{static_cast<int>(r.year), r.month, r.day};
}

// ---- dates and units
// ------------------------------------------------------------------------------------------

std::string format(const DateTime& d) {
  std::string s = year_text(d.year) + "-" + two(d.month) + "-" + two(d.day) + " " + two(d.hour) + ":" +
                  two(d.minute) + ":";
  if (d.second == std::floor(d.second) && std::fabs(d.second) < 1e9) {
    s += two(static_cast<int>(d.second));
    return s;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%09.6f", d.second);
  std::string sec = buf;
  while (!sec.empty() && sec.back() == '0')
    sec.pop_back();
  if (!sec.empty() && sec.back() == '.') sec.pop_back();
  return s + sec;
}

DateTime parse_datetime(std::string_view text) {
  return DateParser(text).parse();
}

double unit_seconds(TimeUnit u) {
  return static_cast<double>(unit_ms(u)) / 1000.0;
}

std::string_view unit_name(TimeUnit u) {
  switch (u) {
    case TimeUnit::Seconds:
      return "seconds";
    case TimeUnit::Minutes:
      return "minutes";
    case TimeUnit::Hours:
      return "hours";
    case TimeUnit::Days:
      return "days";
  }
  throw Error("invalid TimeUnit value " + std::to_string(static_cast<int>(u)));
}

TimeUnits parse_units(std::string_view units, std::string_view calendar) {
  const std::string text(units);
  const std::string_view s = trim(units);
  std::size_t i = 0;
  while (i < s.size() && !is_blank(s[i]))
    ++i;
  const std::string word = to_lower(s.substr(0, i));
  while (i < s.size() && is_blank(s[i]))
    ++i;
  std::size_t j = i;
  while (j < s.size() && !is_blank(s[j]))
    ++j;
  const std::string since = to_lower(s.substr(i, j - i));
  while (j < s.size() && is_blank(s[j]))
    ++j;
  const std::string_view date = s.substr(j);

  if (word == "months" || word == "month" || word == "mons" || word == "mon" || word == "years" ||
      word == "year" || word == "yrs" || word == "yr" || word == "common_years" || word == "common_year") {
    throw Error(
        "time units '" + text + "' are not supported: CF/udunits '" + word +
        "' are fixed lengths of time (a year is 365.242198781 days, a month a 12th of that), not calendar "
        "months or years; use days (or hours, minutes, seconds) since a date");
  }
  if (since != "since" || date.empty() || word.empty()) {
    throw Error("malformed time units '" + text +
                "' (expected '<unit> since <date>', e.g. 'days since 1900-01-01')");
  }
  TimeUnits u{TimeUnit::Days, DateTime{1, 1, 1}, Calendar::Standard};
  if (word == "seconds" || word == "second" || word == "secs" || word == "sec" || word == "s") {
    u.unit = TimeUnit::Seconds;
  } else if (word == "minutes" || word == "minute" || word == "mins" || word == "min") {
    u.unit = TimeUnit::Minutes;
  } else if (word == "hours" || word == "hour" || word == "hrs" || word == "hr" || word == "h") {
    u.unit = TimeUnit::Hours;
  } else if (word == "days" || word == "day" || word == "d") {
    u.unit = TimeUnit::Days;
  } else {
    throw Error(
        "unsupported time unit '" + std::string(s.substr(0, s.find_first_of(" \t"))) + "' in '" + text +
        "' (expected seconds, minutes, hours or days, or one of s, sec, secs, min, mins, h, hr, hrs, d)");
  }
  u.calendar = parse_calendar(calendar);
  try {
    u.epoch = parse_datetime(date);
    validate(u.epoch, u.calendar);
  } catch (const Error& e) {
    throw Error("time units '" + text + "': " + e.what());
  }
  return u;
}

std::string format_units(const TimeUnits& u) {
  return std::string(unit_name(u.unit)) + " since " + format(u.epoch);
}

double to_offset(const DateTime& d, const TimeUnits& u) {
  validate(d, u.calendar);
  const std::int64_t days = day_number(d.year, d.month, d.day, u.calendar) -
                            day_number(u.epoch.year, u.epoch.month, u.epoch.day, u.calendar);
  return offset_of(static_cast<double>(days), seconds_of_day(d), u);
}

DateTime from_offset(double value, const TimeUnits& u) {
  return Decoder(u).decode(value);
}

// ---- monthly axes
// ---------------------------------------------------------------------------------------------

YearMonth YearMonth::from_index(int i) {
  const auto y = static_cast<int>(floor_div(i, 12));
  return YearMonth{y, i - y * 12 + 1};
}

std::string format(const YearMonth& ym) {
  return year_text(ym.year) + "-" + two(ym.month);
}

YearMonth MonthlyAxis::at(int i) const {
  const std::int64_t idx = std::int64_t{first.year} * 12 + (first.month - 1) + i;
  const std::int64_t y = floor_div(idx, 12);
  if (y < std::numeric_limits<int>::min() || y > std::numeric_limits<int>::max()) {
    throw Error("month " + std::to_string(i) + " of the monthly axis starting " + format(first) +
                " is out of range");
  }
  return YearMonth{static_cast<int>(y), static_cast<int>(idx - y * 12) + 1};
}

MonthlyAxis MonthlyAxis::from_offsets(std::span<const double> values, const TimeUnits& u) {
  if (values.empty()) throw Error("cannot decode a monthly time axis from an empty list of time values");
  if (values.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error("monthly time axis too long (" + std::to_string(values.size()) + " values)");
  }
  const Decoder dec(u);
  const auto decode = [&](std::size_t i) {
    try {
      return dec.decode(values[i]);
    } catch (const Error& e) {
      throw Error("monthly time axis, value [" + std::to_string(i) + "]: " + e.what());
    }
  };
  DateTime prev = decode(0);
  MonthlyAxis axis;
  axis.first = YearMonth{prev.year, prev.month};
  YearMonth prev_ym = axis.first;
  for (std::size_t i = 1; i < values.size(); ++i) {
    const DateTime cur = decode(i);
    const YearMonth ym{cur.year, cur.month};
    const YearMonth expected = next_month(prev_ym);
    if (ym != expected) {
      const char* what =
          ym == prev_ym ? "month repeated" : (ym < prev_ym ? "time goes backwards" : "months missing");
      throw Error("monthly time axis is not consecutive months (" + std::string(what) + "): value [" +
                  std::to_string(i) + "] = " + fmt_double(values[i]) + " (" + format(cur) +
                  ") follows value [" + std::to_string(i - 1) + "] = " + fmt_double(values[i - 1]) + " (" +
                  format(prev) + "), expected a date in " + format(expected) + " (units '" + format_units(u) +
                  "', " + calendar_label(u.calendar) + ")");
    }
    prev = cur;
    prev_ym = ym;
  }
  axis.count = static_cast<int>(values.size());
  return axis;
}

std::vector<double> MonthlyAxis::mid_month_offsets(const TimeUnits& u) const {
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(std::max(count, 0)));
  const std::int64_t epoch_day = day_number(u.epoch.year, u.epoch.month, u.epoch.day, u.calendar);
  for (int i = 0; i < count; ++i) {
    const YearMonth ym = at(i);
    const YearMonth nx = next_month(ym);
    const std::int64_t start = day_number(ym.year, ym.month, 1, u.calendar);
    const std::int64_t end = day_number(nx.year, nx.month, 1, u.calendar);
    out.push_back(
        offset_of(static_cast<double>(start - epoch_day) + static_cast<double>(end - start) / 2.0, 0.0, u));
  }
  return out;
}

std::vector<std::array<double, 2>> MonthlyAxis::bounds_offsets(const TimeUnits& u) const {
  std::vector<std::array<double, 2>> out;
  out.reserve(static_cast<std::size_t>(std::max(count, 0)));
  const std::int64_t epoch_day = day_number(u.epoch.year, u.epoch.month, u.epoch.day, u.calendar);
  for (int i = 0; i < count; ++i) {
    const YearMonth ym = at(i);
    const YearMonth nx = next_month(ym);
    const std::int64_t start = day_number(ym.year, ym.month, 1, u.calendar);
    const std::int64_t end = day_number(nx.year, nx.month, 1, u.calendar);
    out.push_back({offset_of(static_cast<double>(start - epoch_day), 0.0, u),
                   offset_of(static_cast<double>(end - epoch_day), 0.0, u)});
  }
  return out;
}

// ---- the civil clock ----------------------------------------------------------------------------------

namespace {
constexpr std::int64_t kUnixEpochDay = gregorian_days(1970, 1, 1);
}  // namespace

std::int64_t civil_to_epoch_seconds(const CivilTime& t) {
  return (gregorian_days(t[0], t[1], t[2]) - kUnixEpochDay) * kSecondsPerDay + std::int64_t{t[3]} * 3600 +
         std::int64_t{t[4]} * 60 + t[5];
}

CivilTime epoch_seconds_to_civil(std::int64_t seconds) {
  const std::int64_t days = floor_div(seconds, kSecondsPerDay);
  const std::int64_t sod = seconds - days * kSecondsPerDay;
  const YMD d = gregorian_from_days(days + kUnixEpochDay);
  return {static_cast<int>(d.year),
          d.month,
          d.day,
          static_cast<int>(sod / 3600),
          static_cast<int>(sod / 60 % 60),
          static_cast<int>(sod % 60)};
}

bool valid_civil(const CivilTime& t) {
  return t[1] >= 1 && t[1] <= 12 && t[2] >= 1 &&
         t[2] <= days_in_month(t[0], t[1], Calendar::ProlepticGregorian) && t[3] >= 0 && t[3] <= 23 &&
         t[4] >= 0 && t[4] <= 59 && t[5] >= 0 && t[5] <= 59;
}

std::string compact_stamp(std::int64_t seconds) {
  const CivilTime c = epoch_seconds_to_civil(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d", c[0], c[1], c[2], c[3], c[4], c[5]);
  return buf;
}

std::string format_epoch_seconds(std::int64_t seconds) {
  const CivilTime c = epoch_seconds_to_civil(seconds);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", c[0], c[1], c[2], c[3], c[4], c[5]);
  return buf;
}

}  // namespace fluxkit::cftime
