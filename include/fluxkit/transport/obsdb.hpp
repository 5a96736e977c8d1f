// The LUMIA observation database (docs/transport.md): a gzip-compressed tar with observations.csv,
// sites.csv and files.csv at the archive root. Columns fluxkit does not know are carried through untouched.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fluxkit::transport {

// A CSV table as pandas writes it with to_csv(): the first column is the (unnamed) index; cells are kept as
// text exactly as read, so untouched columns round-trip byte for byte.
struct CsvTable {
  std::string index_name;                      // header of the index column ("" for pandas' unnamed index)
  std::vector<std::string> columns;            // data columns, in order
  std::vector<std::string> index;              // one per row
  std::vector<std::vector<std::string>> rows;  // rows[r][c], c over `columns`

  std::size_t size() const { return rows.size(); }
  std::optional<std::size_t> column(std::string_view name) const;
  std::size_t require_column(std::string_view name, std::string_view table) const;  // Error naming both
  // Adds the column (empty cells) when absent; returns its position.
  std::size_t ensure_column(std::string_view name);

  // FileError naming `source` and the line for a malformed CSV (unterminated quote, text after a closing
  // quote, more fields than the header, no header).
  static CsvTable parse(std::string_view text, const std::string& source);
  // pandas' to_csv layout: comma separated, LF line ends, a field quoted (quotes doubled) when it contains a
  // comma, a quote, LF or CR (pandas leaves CR unquoted, which its own reader then splits on), a lone empty
  // field written as "". Error when a row's size differs from the header's.
  std::string to_csv() const;

  bool operator==(const CsvTable&) const = default;
};

// Numbers as LUMIA/pandas write them: repr of a double (shortest round-trip), "" for NaN.
std::string format_number(double v);
// A cell as a double: "" -> NaN; Error naming the source, row and column for non-numbers.
double parse_number(std::string_view cell, std::string_view where);

struct ObsDb {
  CsvTable observations, sites, files;

  // Reads the archive; FileError naming the archive and the member for a missing member, a corrupt archive or
  // a malformed CSV.
  static ObsDb read(const std::filesystem::path& path);
  // Writes atomically (temp + rename): a failure leaves the original archive intact.
  void write(const std::filesystem::path& path) const;

  // In-memory forms: `bytes` is the gzip-compressed tar (FileErrors name `source`); to_bytes() is what
  // write() writes: members observations.csv, sites.csv, files.csv (ustar, mode 0644, uid/gid 0), mtime (tar
  // and gzip header) = SOURCE_DATE_EPOCH when set, else the current time.
  static ObsDb read_bytes(std::string_view bytes, const std::string& source);
  std::string to_bytes() const;

  bool operator==(const ObsDb&) const = default;
};

}  // namespace fluxkit::transport
