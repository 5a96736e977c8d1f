// A thin RAII layer over the netCDF-C API. Every failure becomes a FileError naming the file, the variable
// and the netCDF error. Data crosses this boundary as flat row-major arrays (last dimension fastest), the
// layout netCDF itself uses; shapes are given as dimension lengths in the variable's dimension order.
#pragma once

#include <netcdf.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/provenance.hpp"

namespace fluxkit::nc {

struct VarInfo {
  std::string name;
  nc_type type = NC_NAT;
  std::vector<std::string> dims;
  std::vector<std::size_t> shape;
  std::size_t size() const;  // product of shape
};

// Read access to an existing file.
class File {
 public:
  explicit File(const std::filesystem::path& path);  // FileError if missing, unreadable or not netCDF
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&&) = delete;
  File(const File&) = delete;

  const std::string& path() const { return path_; }
  int id() const { return ncid_; }

  bool has_var(std::string_view name) const;
  bool has_dim(std::string_view name) const;
  std::size_t dim_length(std::string_view name) const;
  VarInfo var(std::string_view name) const;  // FileError "not found" listing the variables present
  std::vector<std::string> var_names() const;

  // Attributes; var = "" for global attributes. nullopt when absent; FileError when of the wrong kind.
  std::optional<std::string> text_attribute(std::string_view var, std::string_view name) const;
  std::optional<std::vector<double>> number_attribute(std::string_view var, std::string_view name) const;

  // Reads a hyperslab (start/count empty = the whole variable), decoded as the netCDF and CF conventions say,
  // then converted to float or double:
  //   - values equal to _FillValue or missing_value, and non-finite values, become NaN;
  //   - _Unsigned = "true" on a byte, short, int or int64 variable reads its values as unsigned;
  //   - values outside valid_range (or valid_min / valid_max) become NaN; the limits are compared with the
  //     packed values, unless they have the type of the unpacked data (that of scale_factor/add_offset);
  //   - packed variables are unpacked: value = packed * scale_factor + add_offset, computed in double and
  //     rounded to the type of scale_factor/add_offset.
  // Unsupported attribute combinations are a FileError naming the file and variable: scale_factor and
  // add_offset of different types, packing attributes on a text variable, packing attributes of a type other
  // than the variable's that is not float or double, _Unsigned on a float or double variable, a valid_range
  // that is not two values or is empty.
  std::vector<float> read_float(std::string_view var, std::span<const std::size_t> start = {},
                                std::span<const std::size_t> count = {}) const;
  std::vector<double> read_double(std::string_view var, std::span<const std::size_t> start = {},
                                  std::span<const std::size_t> count = {}) const;

 private:
  struct Decoding;
  Decoding decoding(std::string_view var, const VarInfo& info) const;
  std::optional<nc_type> attribute_type(int varid, std::string_view name) const;
  template <class T>
  std::vector<T> read_as(std::string_view var, std::span<const std::size_t> start,
                         std::span<const std::size_t> count) const;
  int varid(std::string_view name) const;

  std::string path_;
  int ncid_ = -1;
};

struct Compression {
  int deflate_level = 0;  // 0 = none, 1-9 zlib
  bool shuffle = true;
};

// Creates a netCDF-4 file atomically: everything is written to a hidden temp file that replaces `target` only
// on commit(). A Writer destroyed without commit() (an exception, a crash) leaves `target` as it was.
class Writer {
 public:
  explicit Writer(std::filesystem::path target);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  const std::filesystem::path& target() const { return file_.target(); }

  void add_dim(std::string_view name, std::size_t length);
  // chunk: chunk lengths per dimension (empty = netCDF default). Compression applies when deflate_level > 0.
  void add_var(std::string_view name, nc_type type, const std::vector<std::string>& dims,
               const Compression& compression = {}, const std::vector<std::size_t>& chunk = {});

  void put_att(std::string_view var, std::string_view name, std::string_view text);
  void put_att(std::string_view var, std::string_view name, const char* text) {
    put_att(var, name, std::string_view(text));
  }
  void put_att(std::string_view var, std::string_view name, double value);
  void put_att(std::string_view var, std::string_view name, float value);
  void put_att(std::string_view var, std::string_view name, int value);
  void put_att(std::string_view var, std::string_view name, std::span<const double> values);
  void put_att(std::string_view var, std::string_view name, std::span<const float> values);
  void put_att(std::string_view var, std::string_view name, std::span<const std::int8_t> values);
  void put_att(std::string_view var, std::string_view name, std::span<const std::int32_t> values);
  // Global attributes Conventions (CF-1.8), source, history and the provenance (fluxkit_version,
  // fluxkit_git_commit, fluxkit_config_hash, date_created).
  void put_provenance(const Provenance& p);

  void end_define();  // switches to data mode; called implicitly by the first write

  // Writes a hyperslab (start/count empty = the whole variable).
  void write(std::string_view var, std::span<const float> data, std::span<const std::size_t> start = {},
             std::span<const std::size_t> count = {});
  void write(std::string_view var, std::span<const double> data, std::span<const std::size_t> start = {},
             std::span<const std::size_t> count = {});
  void write(std::string_view var, std::span<const std::int32_t> data,
             std::span<const std::size_t> start = {}, std::span<const std::size_t> count = {});
  void write(std::string_view var, std::span<const std::int8_t> data, std::span<const std::size_t> start = {},
             std::span<const std::size_t> count = {});

  void commit();  // closes the file and moves it into place

 private:
  int varid(std::string_view var) const;  // NC_GLOBAL for ""
  void check(int status, std::string_view var, std::string_view what) const;
  template <class T>
  void write_impl(std::string_view var, std::span<const T> data, std::span<const std::size_t> start,
                  std::span<const std::size_t> count);

  AtomicFile file_;
  int ncid_ = -1;
  bool define_mode_ = true;
};

// "<what>: <nc_strerror>" as a FileError for `path`/`var` when status != NC_NOERR.
void check(int status, const std::string& path, std::string_view var, std::string_view what);

}  // namespace fluxkit::nc
