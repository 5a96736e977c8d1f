// The LUMIA observation database (docs/transport.md): a gzip-compressed POSIX tar with three CSV members
// as pandas writes them. Read and written here with zlib and a small tar reader/writer:
// - gzip: RFC 1952, several members and trailing zero padding accepted (as Python's gzip module does), CRC
// and
//   length checked by zlib;
// - tar: ustar, GNU and pax archives as Python's tarfile writes them (its default since 3.8 is pax); regular
//   files are read, directories, links and devices skipped, long names from GNU 'L' records, pax 'path'
//   records (also global ones) and the ustar prefix; every header checksum is verified (Python ends the
//   archive silently at a bad header after the first; a damaged obsdb is an error here);
// - CSV: RFC 4180 as pandas' to_csv writes it (QUOTE_MINIMAL), cells kept as text.
#include "fluxkit/transport/obsdb.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <system_error>

#include <fmt/format.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"

namespace fluxkit::transport {

namespace {

constexpr std::array<std::string_view, 3> kMembers = {"observations.csv", "sites.csv", "files.csv"};

// ---------------------------------------------------------------------------------------------------------------
// CSV

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Parses CSV text; errors are FileError(file, variable, "line N: ...").
CsvTable parse_csv(std::string_view text, const std::string& file, const std::string& variable) {
  if (text.substr(0, kUtf8Bom.size()) == kUtf8Bom) text.remove_prefix(kUtf8Bom.size());
  auto fail = [&](std::size_t line, const std::string& problem) -> FileError {
    return FileError(file, variable, fmt::format("line {}: {}", line, problem));
  };

  CsvTable table;
  bool have_header = false;
  std::size_t header_fields = 0;
  std::size_t pos = 0;
  std::size_t line = 1;  // physical line of `pos`
  std::vector<std::string> fields;
  while (pos < text.size()) {
    // Blank lines are skipped (pandas' skip_blank_lines).
    if (text[pos] == '\n' || text[pos] == '\r') {
      if (text[pos] == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n') ++pos;
      ++pos;
      ++line;
      continue;
    }
    const std::size_t record_line = line;
    fields.clear();
    bool end_of_record = false;
    while (!end_of_record) {
      std::string field;
      if (pos < text.size() && text[pos] == '"') {
        const std::size_t quote_line = line;
        ++pos;
        while (true) {
          if (pos >= text.size()) throw fail(quote_line, "unterminated quoted field");
          const char c = text[pos];
          if (c == '"') {
            if (pos + 1 < text.size() && text[pos + 1] == '"') {
              field += '"';
              pos += 2;
              continue;
            }
            ++pos;
            break;
          }
          if (c == '\n' || (c == '\r' && !(pos + 1 < text.size() && text[pos + 1] == '\n'))) ++line;
          field += c;
          ++pos;
        }
        if (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r')
          throw fail(line, "unexpected character after a closing quote");
      } else {
        const std::size_t start = pos;
        while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r')
          ++pos;
        field.assign(text.substr(start, pos - start));
      }
      fields.push_back(std::move(field));
      if (pos >= text.size()) {
        end_of_record = true;
      } else if (text[pos] == ',') {
        ++pos;
      } else {  // '\n', '\r' or "\r\n"
        if (text[pos] == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n') ++pos;
        ++pos;
        ++line;
        end_of_record = true;
      }
    }
    if (!have_header) {
      have_header = true;
      header_fields = fields.size();
      table.index_name = std::move(fields[0]);
      table.columns.assign(std::make_move_iterator(fields.begin() + 1),
                           std::make_move_iterator(fields.end()));
      continue;
    }
    if (fields.size() > header_fields)
      throw fail(record_line,
                 fmt::format("expected {} fields (as the header), found {}", header_fields, fields.size()));
    fields.resize(header_fields);  // pandas fills missing trailing fields with NaN
    table.index.push_back(std::move(fields[0]));
    table.rows.emplace_back(std::make_move_iterator(fields.begin() + 1),
                            std::make_move_iterator(fields.end()));
  }
  if (!have_header) throw fail(line, "empty CSV (no header line)");
  return table;
}

bool needs_quotes(std::string_view field) {
  return field.find_first_of(",\"\n\r") != std::string_view::npos;
}

void append_field(std::string& out, std::string_view field) {
  if (!needs_quotes(field)) {
    out.append(field);
    return;
  }
  out += '"';
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_record(std::string& out, std::string_view first, const std::vector<std::string>& rest) {
  if (rest.empty() && first.empty()) {
    out += "\"\"\n";  // Python's csv writer quotes a lone empty field (else the line would be blank)
    return;
  }
  // A leading byte-order mark would be taken for an encoding marker on reading: quote it.
  if (first.substr(0, kUtf8Bom.size()) == kUtf8Bom && !needs_quotes(first)) {
    out += '"';
    out.append(first);
    out += '"';
  } else {
    append_field(out, first);
  }
  for (const auto& f : rest) {
    out += ',';
    append_field(out, f);
  }
  out += '\n';
}

// ---------------------------------------------------------------------------------------------------------------
// gzip

constexpr std::size_t kZChunk = std::size_t{1} << 30;  // zlib counts in uInt

std::string gunzip(std::string_view in, const std::string& source) {
  if (in.size() < 2 || static_cast<unsigned char>(in[0]) != 0x1f || static_cast<unsigned char>(in[1]) != 0x8b)
    throw FileError(source, "", "not a gzip file (an obsdb is a gzip-compressed tar archive)");
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw FileError(source, "", "cannot initialise zlib");
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};

  std::string out;
  std::size_t produced = 0;
  std::size_t in_pos = 0;  // input handed to zlib so far
  auto feed = [&](std::size_t from) {
    const std::size_t n = std::min(in.size() - from, kZChunk);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + from));
    zs.avail_in = static_cast<uInt>(n);
    in_pos = from + n;
  };
  feed(0);
  auto corrupt = [&](const char* what) {
    return FileError(source, "", fmt::format("corrupt gzip stream: {}", what));
  };
  while (true) {
    if (zs.avail_in == 0 && in_pos < in.size()) feed(in_pos);
    if (out.size() - produced < 65536) out.resize(std::max<std::size_t>(out.size() * 2, produced + 262144));
    const std::size_t space = std::min(out.size() - produced, kZChunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(space);
    const int ret = inflate(&zs, Z_NO_FLUSH);
    produced += space - zs.avail_out;
    if (ret == Z_STREAM_END) {
      // End of one gzip member: skip zero padding, then another member or the end (Python's gzip does both).
      std::size_t next = in_pos - zs.avail_in;
      while (next < in.size() && in[next] == '\0')
        ++next;
      if (next == in.size()) break;
      if (inflateReset(&zs) != Z_OK) throw corrupt("cannot reset zlib");
      feed(next);
      continue;
    }
    if (ret == Z_OK || ret == Z_BUF_ERROR) {
      if (zs.avail_in == 0 && in_pos == in.size() && zs.avail_out != 0)
        throw corrupt("truncated (the archive ends before the end of the compressed data)");
      continue;
    }
    throw corrupt(zs.msg != nullptr ? zs.msg : "inflate failed");
  }
  out.resize(produced);
  return out;
}

std::string gzip(std::string_view in, long long mtime) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("cannot initialise zlib");
  struct Guard {
    z_stream* z;
    ~Guard() { deflateEnd(z); }
  } guard{&zs};
  gz_header header{};
  header.time = static_cast<uLong>(mtime & 0xffffffffLL);
  header.os = 3;  // Unix
  if (deflateSetHeader(&zs, &header) != Z_OK) throw Error("cannot set the gzip header");

  std::string out;
  std::size_t produced = 0;
  std::size_t in_pos = 0;
  while (true) {
    if (zs.avail_in == 0 && in_pos < in.size()) {
      const std::size_t n = std::min(in.size() - in_pos, kZChunk);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_pos));
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    if (out.size() - produced < 65536) out.resize(std::max<std::size_t>(out.size() * 2, produced + 262144));
    const std::size_t space = std::min(out.size() - produced, kZChunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(space);
    const int flush = (in_pos == in.size()) ? Z_FINISH : Z_NO_FLUSH;
    const int ret = deflate(&zs, flush);
    produced += space - zs.avail_out;
    if (ret == Z_STREAM_END) break;
    if (ret != Z_OK && ret != Z_BUF_ERROR) throw Error("gzip compression failed");
  }
  out.resize(produced);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// tar

constexpr std::size_t kBlock = 512;
constexpr std::size_t kRecord = 20 * kBlock;  // Python's tarfile pads archives to 10240 bytes

std::string_view nts(std::string_view field) {  // up to the first NUL
  const std::size_t nul = field.find('\0');
  return nul == std::string_view::npos ? field : field.substr(0, nul);
}

// A numeric header field as Python's tarfile.nti reads it: octal (space/NUL padded) or GNU base-256.
std::optional<std::uint64_t> tar_number(std::string_view field) {
  const auto first = static_cast<unsigned char>(field.empty() ? 0 : field[0]);
  if (first == 0x80 || first == 0xff) {
    if (first == 0xff) return std::nullopt;  // negative
    std::uint64_t v = 0;
    for (std::size_t i = 1; i < field.size(); ++i) {
      if (v > (std::numeric_limits<std::uint64_t>::max() >> 8)) return std::nullopt;
      v = (v << 8) | static_cast<unsigned char>(field[i]);
    }
    return v;
  }
  std::string_view s = nts(field);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '7') return std::nullopt;
    if (v > (std::numeric_limits<std::uint64_t>::max() >> 3)) return std::nullopt;
    v = v * 8 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

struct TarMember {
  std::string name;
  std::string_view data;
};

// Regular files of a tar archive, in order. Types Python's tarfile treats as files: '0', '\0', '7' and
// unknown types; skipped: links, devices, FIFOs and directories (also '\0' entries whose name ends in '/').
std::vector<TarMember> parse_tar(std::string_view tar, const std::string& source) {
  auto corrupt = [&](std::size_t offset, const std::string& problem) {
    return FileError(source, "", fmt::format("corrupt tar archive at byte {}: {}", offset, problem));
  };
  std::vector<TarMember> members;
  std::map<std::string, std::string> global_pax;
  std::map<std::string, std::string> pax;  // for the next header only
  std::optional<std::string> long_name;    // GNU 'L' for the next header
  std::size_t offset = 0;
  if (tar.empty()) throw corrupt(0, "empty archive");
  while (offset < tar.size()) {
    if (tar.size() - offset < kBlock) throw corrupt(offset, "truncated header");
    const std::string_view h = tar.substr(offset, kBlock);
    if (h.find_first_not_of('\0') == std::string_view::npos) break;  // end-of-archive marker
    // Checksum: the header bytes with the checksum field taken as spaces, unsigned or signed sum.
    std::int64_t usum = 0;
    std::int64_t ssum = 0;
    for (std::size_t i = 0; i < kBlock; ++i) {
      const char c = (i >= 148 && i < 156) ? ' ' : h[i];
      usum += static_cast<unsigned char>(c);
      ssum += static_cast<signed char>(c);
    }
    const auto stored = tar_number(h.substr(148, 8));
    if (!stored || (static_cast<std::int64_t>(*stored) != usum && static_cast<std::int64_t>(*stored) != ssum))
      throw corrupt(offset, "bad header checksum");
    const char type = h[156];
    auto size = tar_number(h.substr(124, 12));
    if (!size) throw corrupt(offset, "bad size field");
    if (const auto it = pax.find("size"); it != pax.end()) {
      std::uint64_t v = 0;
      const auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
      if (ec != std::errc() || p != it->second.data() + it->second.size())
        throw corrupt(offset, "bad pax size");
      size = v;
    }
    const bool has_data =
        !(type == '1' || type == '2' || type == '3' || type == '4' || type == '5' || type == '6');
    const std::size_t data_start = offset + kBlock;
    const std::uint64_t data_size = has_data ? *size : 0;
    if (data_size > tar.size() - data_start)
      throw corrupt(offset, "member data runs past the end of the archive");
    const std::string_view data = tar.substr(data_start, static_cast<std::size_t>(data_size));
    const std::size_t padded = static_cast<std::size_t>((data_size + kBlock - 1) / kBlock * kBlock);
    const std::size_t next = data_start + std::min(padded, tar.size() - data_start);

    if (type == 'L') {
      long_name = std::string(nts(data));
    } else if (type == 'K') {
      // GNU long link name: irrelevant here.
    } else if (type == 'x' || type == 'g') {
      auto& target = (type == 'g') ? global_pax : pax;
      std::size_t p = 0;
      while (p < data.size() && data[p] >= '0' && data[p] <= '9') {
        std::size_t len = 0;
        const auto [q, ec] = std::from_chars(data.data() + p, data.data() + data.size(), len);
        const std::size_t num_end = static_cast<std::size_t>(q - data.data());
        if (ec != std::errc() || len == 0 || len > data.size() - p || num_end >= p + len ||
            data[num_end] != ' ')
          throw corrupt(offset, "malformed pax record");
        const std::string_view record = data.substr(num_end + 1, p + len - num_end - 1);
        const std::size_t eq = record.find('=');
        if (eq == std::string_view::npos || eq == 0) throw corrupt(offset, "malformed pax record");
        std::string_view value = record.substr(eq + 1);
        if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
        target[std::string(record.substr(0, eq))] = std::string(value);
        p += len;
      }
    } else if (type == 'S') {
      throw corrupt(offset, "GNU sparse members are not supported");
    } else {
      std::string name(nts(h.substr(0, 100)));
      const std::string_view prefix = nts(h.substr(345, 155));
      if (!prefix.empty()) name = std::string(prefix) + "/" + name;
      if (long_name) name = *long_name;
      if (const auto it = global_pax.find("path"); it != global_pax.end()) name = it->second;
      if (const auto it = pax.find("path"); it != pax.end()) name = it->second;
      // Regular files, and (as Python's tarfile) members of unknown types; not links, devices, FIFOs or
      // directories (also old-style ones: type '\0' and a trailing '/').
      const bool is_file = has_data && !(type == '\0' && !name.empty() && name.back() == '/');
      if (is_file) members.push_back({std::move(name), data});
      long_name.reset();
      pax.clear();
    }
    offset = next;
  }
  return members;
}

void put_octal(char* field, std::size_t width, std::uint64_t value) {  // width-1 digits and a NUL
  for (std::size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[width - 1] = '\0';
}

void append_tar_member(std::string& out, std::string_view name, std::string_view data, std::uint64_t mtime) {
  constexpr std::uint64_t kMaxOctal11 = (std::uint64_t{1} << 33) - 1;
  if (data.size() > kMaxOctal11) throw Error(fmt::format("obsdb member {} is larger than 8 GiB", name));
  std::array<char, kBlock> h{};
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 100));
  put_octal(h.data() + 100, 8, 0644);                           // mode
  put_octal(h.data() + 108, 8, 0);                              // uid
  put_octal(h.data() + 116, 8, 0);                              // gid
  put_octal(h.data() + 124, 12, data.size());                   // size
  put_octal(h.data() + 136, 12, std::min(mtime, kMaxOctal11));  // mtime
  std::memset(h.data() + 148, ' ', 8);                          // checksum, computed below
  h[156] = '0';                                                 // regular file
  std::memcpy(h.data() + 257,
              "ustar\0"
              "00",
              8);                   // POSIX magic and version
  put_octal(h.data() + 329, 8, 0);  // devmajor
  put_octal(h.data() + 337, 8, 0);  // devminor
  unsigned sum = 0;
  for (const char c : h)
    sum += static_cast<unsigned char>(c);
  put_octal(h.data() + 148, 7, sum);  // "%06o\0" followed by the space already there, as Python writes it
  out.append(h.data(), h.size());
  out.append(data);
  out.append((kBlock - data.size() % kBlock) % kBlock, '\0');
}

std::uint64_t archive_mtime() {
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch != nullptr && *epoch != '\0') {
    std::uint64_t v = 0;
    const char* end = epoch + std::strlen(epoch);
    const auto [p, ec] = std::from_chars(epoch, end, v);
    if (ec != std::errc() || p != end)
      throw Error(fmt::format("SOURCE_DATE_EPOCH='{}' is not a number of seconds since 1970", epoch));
    return v;
  }
  const std::time_t now = std::time(nullptr);
  return now < 0 ? 0 : static_cast<std::uint64_t>(now);
}

std::string member_name(std::string name) {  // "./observations.csv" -> "observations.csv"
  while (name.size() >= 2 && name[0] == '.' && name[1] == '/')
    name.erase(0, 2);
  return name;
}

}  // namespace

// -------------------------------------------------------------------------------------------------------------
// CsvTable

std::optional<std::size_t> CsvTable::column(std::string_view name) const {
  const auto it = std::find(columns.begin(), columns.end(), name);
  if (it == columns.end()) return std::nullopt;
  return static_cast<std::size_t>(it - columns.begin());
}

std::size_t CsvTable::require_column(std::string_view name, std::string_view table) const {
  if (const auto c = column(name)) return *c;
  throw FileError(std::string(table), std::string(name), "missing column");
}

std::size_t CsvTable::ensure_column(std::string_view name) {
  if (const auto c = column(name)) return *c;
  columns.emplace_back(name);
  for (auto& row : rows)
    row.emplace_back();
  return columns.size() - 1;
}

CsvTable CsvTable::parse(std::string_view text, const std::string& source) {
  return parse_csv(text, source, "");
}

std::string CsvTable::to_csv() const {
  if (index.size() != rows.size())
    throw Error(fmt::format("CSV table: {} index values for {} rows", index.size(), rows.size()));
  std::string out;
  append_record(out, index_name, columns);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != columns.size())
      throw Error(fmt::format("CSV table: row {} ('{}') has {} cells for {} columns", r, index[r],
                              rows[r].size(), columns.size()));
    append_record(out, index[r], rows[r]);
  }
  return out;
}

// -------------------------------------------------------------------------------------------------------------
// Numbers

std::string format_number(double v) {
  if (std::isnan(v)) return "";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // Shortest round-trip digits, laid out as Python's float repr: positional for 1e-4 <= |v| < 1e16 (with
  // ".0" when integral), else d[.ddd]e[+-]XX.
  std::array<char, 64> buf{};
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::scientific);
  std::string_view sci(buf.data(), static_cast<std::size_t>(res.ptr - buf.data()));
  std::string out;
  if (!sci.empty() && sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const std::size_t e_pos = sci.find('e');
  std::string digits;
  for (const char c : sci.substr(0, e_pos))
    if (c != '.') digits += c;
  int exp10 = 0;
  std::string_view exp_text = sci.substr(e_pos + 1);
  if (!exp_text.empty() && exp_text.front() == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
  const int decpt = exp10 + 1;  // v = 0.d1d2... * 10^decpt
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += fmt::format("e{}{:02d}", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-decpt), '0');
    out += digits;
  } else if (static_cast<std::size_t>(decpt) >= digits.size()) {
    out += digits;
    out.append(static_cast<std::size_t>(decpt) - digits.size(), '0');
    out += ".0";
  } else {
    out.append(digits, 0, static_cast<std::size_t>(decpt));
    out += '.';
    out.append(digits, static_cast<std::size_t>(decpt));
  }
  return out;
}

double parse_number(std::string_view cell, std::string_view where) {
  std::string_view s = cell;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  // pandas' default NA strings.
  static constexpr std::array<std::string_view, 17> kNa = {
      "",        "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
      "1.#QNAN", "<NA>", "N/A",      "NA",  "NULL",    "NaN",      "n/a",  "nan"};
  if (std::find(kNa.begin(), kNa.end(), s) != kNa.end()) return std::numeric_limits<double>::quiet_NaN();
  std::string_view body = s;
  if (body.size() > 1 && body.front() == '+' && body[1] != '-') body.remove_prefix(1);
  double v = 0;
  const auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (p != body.data() + body.size() || body.empty() ||
      (ec != std::errc() && ec != std::errc::result_out_of_range))
    throw Error(fmt::format("{}: not a number: '{}'", where, cell));
  if (ec == std::errc::result_out_of_range)  // from_chars leaves v unset: strtod gives +-inf or (sub)normal/0
    v = std::strtod(std::string(body).c_str(), nullptr);
  return v;
}

// -------------------------------------------------------------------------------------------------------------
// ObsDb

ObsDb ObsDb::read_bytes(std::string_view bytes, const std::string& source) {
  const std::string tar = gunzip(bytes, source);
  const auto members = parse_tar(tar, source);
  ObsDb db;
  CsvTable* tables[] = {&db.observations, &db.sites, &db.files};
  for (std::size_t i = 0; i < kMembers.size(); ++i) {
    const TarMember* found = nullptr;
    for (const auto& m : members)  // the last one of a name wins, as in Python's tarfile.getmember
      if (member_name(m.name) == kMembers[i]) found = &m;
    if (found == nullptr)
      throw FileError(source, std::string(kMembers[i]),
                      "member missing from the obsdb archive (observations.csv, sites.csv and files.csv are "
                      "required at its root)");
    *tables[i] = parse_csv(found->data, source, std::string(kMembers[i]));
  }
  return db;
}

ObsDb ObsDb::read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw FileError(path.string(), "",
                    fmt::format("cannot open the obsdb archive: {}", std::strerror(errno)));
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw FileError(path.string(), "", "cannot read the obsdb archive");
  return read_bytes(bytes, path.string());
}

std::string ObsDb::to_bytes() const {
  const std::uint64_t mtime = archive_mtime();
  std::string tar;
  append_tar_member(tar, kMembers[0], observations.to_csv(), mtime);
  append_tar_member(tar, kMembers[1], sites.to_csv(), mtime);
  append_tar_member(tar, kMembers[2], files.to_csv(), mtime);
  tar.append(2 * kBlock, '\0');                                  // end-of-archive marker
  tar.append((kRecord - tar.size() % kRecord) % kRecord, '\0');  // record padding
  return gzip(tar, static_cast<long long>(mtime));
}

void ObsDb::write(const std::filesystem::path& path) const {
  const std::string bytes = to_bytes();  // before touching the disk: a bad table leaves everything as it was
  AtomicFile file(path);
  const int fd = ::open(file.temp_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    throw FileError(path.string(), "",
                    fmt::format("cannot create the temporary file {}: {}", file.temp_path().string(),
                                std::strerror(errno)));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      throw FileError(path.string(), "", fmt::format("write failed: {}", std::strerror(err)));
    }
    done += static_cast<std::size_t>(n);
  }
  const int sync_err = ::fsync(fd) != 0 ? errno : 0;
  const int close_err = ::close(fd) != 0 ? errno : 0;
  if (sync_err != 0 || close_err != 0)
    throw FileError(path.string(), "",
                    fmt::format("write failed: {}", std::strerror(sync_err != 0 ? sync_err : close_err)));
  file.commit();
}

}  // namespace fluxkit::transport
