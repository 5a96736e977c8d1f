// libFuzzer harness of the obsdb readers (src/transport/obsdb.cpp). Build and run: fuzz/run.sh.
// The first input byte selects what the rest is: 0 CSV text, 1 a .tar.gz archive, 2 a tar archive (gzipped
// here so that mutations reach the tar reader past the CRC), 3 comma-separated number cells.
// fluxkit::Error is the expected failure; anything else (a crash, another exception, a sanitizer report, a
// broken round-trip invariant -> trap) is a bug.
#include <zlib.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fluxkit/core/error.hpp"
#include "fluxkit/transport/obsdb.hpp"

namespace {

using fluxkit::transport::CsvTable;
using fluxkit::transport::ObsDb;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string gzip(std::string_view in) {
  z_stream zs{};
  check(deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  check(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void fuzz_csv(std::string_view text) {
  CsvTable table;
  try {
    table = CsvTable::parse(text, "fuzz.csv");
  } catch (const fluxkit::Error&) {
    return;
  }
  // What we write, we read back identically, and write identically.
  const std::string written = table.to_csv();
  const CsvTable again = CsvTable::parse(written, "rewritten.csv");
  check(again == table);
  check(again.to_csv() == written);
}

void fuzz_archive(std::string_view bytes) {
  ObsDb db;
  try {
    db = ObsDb::read_bytes(bytes, "fuzz.tar.gz");
  } catch (const fluxkit::Error&) {
    return;
  }
  const ObsDb again = ObsDb::read_bytes(db.to_bytes(), "rewritten.tar.gz");
  check(again == db);
}

void fuzz_numbers(std::string_view text) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view cell = text.substr(start, comma - start);
    start = comma + 1;
    double v = 0;
    try {
      v = fluxkit::transport::parse_number(cell, "fuzz");
    } catch (const fluxkit::Error&) {
      continue;
    }
    const std::string s = fluxkit::transport::format_number(v);
    if (std::isnan(v)) {
      check(s.empty());
      continue;
    }
    const double back = fluxkit::transport::parse_number(s, "formatted");  // must not throw
    check(std::memcmp(&back, &v, sizeof v) == 0);                          // bit-exact, incl. -0.0
    check(fluxkit::transport::format_number(back) == s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      fuzz_csv(rest);
      break;
    case 1:
      fuzz_archive(rest);
      break;
    case 2:
      fuzz_archive(gzip(rest));
      break;
    default:
      fuzz_numbers(rest);
      break;
  }
  return 0;
}
