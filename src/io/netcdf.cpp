#include "fluxkit/io/netcdf.hpp"

#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit::nc {

void check(int status, const std::string& path, std::string_view var, std::string_view what) {
  if (status != NC_NOERR)
    throw FileError(path, std::string(var), fmt::format("{}: {}", what, nc_strerror(status)));
}

std::size_t VarInfo::size() const {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

// ---- File
// ---------------------------------------------------------------------------------------------------

File::File(const std::filesystem::path& path) : path_(path.string()) {
  std::error_code ec;  // the throwing exists() would escape as std::filesystem_error (EACCES, ENAMETOOLONG)
  if (!std::filesystem::exists(path, ec))
    throw FileError(path_, "", ec ? fmt::format("cannot access: {}", ec.message()) : "file not found");
  int status = nc_open(path_.c_str(), NC_NOWRITE, &ncid_);
  if (status != NC_NOERR)
    throw FileError(path_, "",
                    fmt::format("cannot open as netCDF (corrupt or not netCDF?): {}", nc_strerror(status)));
}

File::~File() {
  if (ncid_ >= 0) nc_close(ncid_);
}

File::File(File&& other) noexcept : path_(std::move(other.path_)), ncid_(other.ncid_) {
  other.ncid_ = -1;
}

int File::varid(std::string_view name) const {
  int id = -1;
  if (nc_inq_varid(ncid_, std::string(name).c_str(), &id) != NC_NOERR)
    throw FileError(path_, std::string(name),
                    fmt::format("not found (variables in the file: {})", fmt::join(var_names(), ", ")));
  return id;
}

bool File::has_var(std::string_view name) const {
  int id = -1;
  return nc_inq_varid(ncid_, std::string(name).c_str(), &id) == NC_NOERR;
}

bool File::has_dim(std::string_view name) const {
  int id = -1;
  return nc_inq_dimid(ncid_, std::string(name).c_str(), &id) == NC_NOERR;
}

std::size_t File::dim_length(std::string_view name) const {
  int id = -1;
  check(nc_inq_dimid(ncid_, std::string(name).c_str(), &id), path_, "", fmt::format("dimension '{}'", name));
  std::size_t len = 0;
  check(nc_inq_dimlen(ncid_, id, &len), path_, "", fmt::format("dimension '{}'", name));
  return len;
}

std::vector<std::string> File::var_names() const {
  int n = 0;
  check(nc_inq_nvars(ncid_, &n), path_, "", "listing variables");
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    char buf[NC_MAX_NAME + 1];
    check(nc_inq_varname(ncid_, i, buf), path_, "", "listing variables");
    names.emplace_back(buf);
  }
  return names;
}

VarInfo File::var(std::string_view name) const {
  const int id = varid(name);
  VarInfo info;
  info.name = name;
  int ndims = 0;
  check(nc_inq_var(ncid_, id, nullptr, &info.type, &ndims, nullptr, nullptr), path_, name, "inquiry");
  std::vector<int> dimids(static_cast<std::size_t>(ndims));
  check(nc_inq_vardimid(ncid_, id, dimids.data()), path_, name, "inquiry");
  for (int d : dimids) {
    char buf[NC_MAX_NAME + 1];
    std::size_t len = 0;
    check(nc_inq_dim(ncid_, d, buf, &len), path_, name, "dimension inquiry");
    info.dims.emplace_back(buf);
    info.shape.push_back(len);
  }
  return info;
}

std::optional<std::string> File::text_attribute(std::string_view var, std::string_view name) const {
  const int id = var.empty() ? NC_GLOBAL : varid(var);
  nc_type type;
  std::size_t len = 0;
  if (nc_inq_att(ncid_, id, std::string(name).c_str(), &type, &len) != NC_NOERR) return std::nullopt;
  if (type == NC_STRING) {
    std::vector<char*> strings(len);
    check(nc_get_att_string(ncid_, id, std::string(name).c_str(), strings.data()), path_, var,
          fmt::format("attribute '{}'", name));
    std::string out = len > 0 && strings[0] != nullptr ? strings[0] : "";
    nc_free_string(len, strings.data());
    return out;
  }
  if (type != NC_CHAR)
    throw FileError(path_, std::string(var), fmt::format("attribute '{}' is not text", name));
  std::string out(len, '\0');
  check(nc_get_att_text(ncid_, id, std::string(name).c_str(), out.data()), path_, var,
        fmt::format("attribute '{}'", name));
  while (!out.empty() && out.back() == '\0')
    out.pop_back();
  return out;
}

std::optional<std::vector<double>> File::number_attribute(std::string_view var, std::string_view name) const {
  const int id = var.empty() ? NC_GLOBAL : varid(var);
  nc_type type;
  std::size_t len = 0;
  if (nc_inq_att(ncid_, id, std::string(name).c_str(), &type, &len) != NC_NOERR) return std::nullopt;
  if (type == NC_CHAR || type == NC_STRING)
    throw FileError(path_, std::string(var), fmt::format("attribute '{}' is text, expected a number", name));
  std::vector<double> values(len);
  check(nc_get_att_double(ncid_, id, std::string(name).c_str(), values.data()), path_, var,
        fmt::format("attribute '{}'", name));
  return values;
}

namespace {
int get_vara(int ncid, int varid, const std::size_t* start, const std::size_t* count, float* out) {
  return nc_get_vara_float(ncid, varid, start, count, out);
}
int get_vara(int ncid, int varid, const std::size_t* start, const std::size_t* count, double* out) {
  return nc_get_vara_double(ncid, varid, start, count, out);
}
}  // namespace

template <class T>
std::vector<T> File::read_as(std::string_view name, std::span<const std::size_t> start,
                             std::span<const std::size_t> count) const {
  const VarInfo info = var(name);
  const int id = varid(name);
  std::vector<std::size_t> s(start.begin(), start.end()), c(count.begin(), count.end());
  if (s.empty()) s.assign(info.shape.size(), 0);
  if (c.empty()) c = info.shape;
  if (s.size() != info.shape.size() || c.size() != info.shape.size())
    throw FileError(path_, std::string(name),
                    fmt::format("read with {} indices, but the variable has {} dimensions ({})", s.size(),
                                info.shape.size(), fmt::join(info.dims, ", ")));
  for (std::size_t d = 0; d < s.size(); ++d) {
    if (s[d] + c[d] > info.shape[d])
      throw FileError(path_, std::string(name),
                      fmt::format("read of [{}, {}) along '{}' exceeds its length {}", s[d], s[d] + c[d],
                                  info.dims[d], info.shape[d]));
  }
  const std::size_t n = std::accumulate(c.begin(), c.end(), std::size_t{1}, std::multiplies<>());
  std::vector<T> out(n);
  if (info.type == NC_CHAR || info.type == NC_STRING)
    throw FileError(path_, std::string(name), "is text, expected numbers");
  check(get_vara(ncid_, id, s.data(), c.data(), out.data()), path_, name, "read");

  // Fill and missing values as declared, compared in the variable's own precision (a float _FillValue of 1e20
  // read as double is 1.00000002e20). T is the variable's type or wider (see read_float).
  std::vector<T> sentinels;
  for (const char* att : {"_FillValue", "missing_value"}) {
    if (auto v = number_attribute(name, att))
      for (double x : *v)
        sentinels.push_back(static_cast<T>(info.type == NC_FLOAT ? static_cast<float>(x) : x));
  }
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (auto& x : out) {
    if (!std::isfinite(x)) {
      x = nan;
      continue;
    }
    for (T s_value : sentinels)
      if (x == s_value) x = nan;
  }
  return out;
}

std::vector<float> File::read_float(std::string_view var, std::span<const std::size_t> start,
                                    std::span<const std::size_t> count) const {
  // Fill values are matched in the variable's own type: only a float variable can be masked after reading as
  // float; anything else (double, integers) is masked as double, which is exact, then narrowed.
  if (this->var(var).type == NC_FLOAT) return read_as<float>(var, start, count);
  const std::vector<double> wide = read_as<double>(var, start, count);
  return std::vector<float>(wide.begin(), wide.end());
}

std::vector<double> File::read_double(std::string_view var, std::span<const std::size_t> start,
                                      std::span<const std::size_t> count) const {
  return read_as<double>(var, start, count);
}

// ---- Writer
// -------------------------------------------------------------------------------------------------

Writer::Writer(std::filesystem::path target) : file_(std::move(target)) {
  check(nc_create(file_.temp_path().c_str(), NC_NETCDF4 | NC_CLOBBER, &ncid_), "", "creating the file");
}

Writer::~Writer() {
  if (ncid_ >= 0) nc_close(ncid_);  // the AtomicFile removes the uncommitted temp file
}

void Writer::check(int status, std::string_view var, std::string_view what) const {
  nc::check(status, file_.target().string(), var, what);
}

int Writer::varid(std::string_view var) const {
  if (var.empty()) return NC_GLOBAL;
  int id = -1;
  check(nc_inq_varid(ncid_, std::string(var).c_str(), &id), var, "not defined");
  return id;
}

void Writer::add_dim(std::string_view name, std::size_t length) {
  int id = -1;
  check(nc_def_dim(ncid_, std::string(name).c_str(), length, &id), "",
        fmt::format("defining dimension '{}'", name));
}

void Writer::add_var(std::string_view name, nc_type type, const std::vector<std::string>& dims,
                     const Compression& compression, const std::vector<std::size_t>& chunk) {
  std::vector<int> dimids;
  for (const auto& d : dims) {
    int id = -1;
    check(nc_inq_dimid(ncid_, d.c_str(), &id), name, fmt::format("dimension '{}' not defined", d));
    dimids.push_back(id);
  }
  int id = -1;
  check(
      nc_def_var(ncid_, std::string(name).c_str(), type, static_cast<int>(dimids.size()), dimids.data(), &id),
      name, "defining variable");
  if (!chunk.empty()) check(nc_def_var_chunking(ncid_, id, NC_CHUNKED, chunk.data()), name, "chunking");
  if (compression.deflate_level > 0 && !dims.empty())
    check(nc_def_var_deflate(ncid_, id, compression.shuffle ? 1 : 0, 1, compression.deflate_level), name,
          "compression");
}

void Writer::put_att(std::string_view var, std::string_view name, std::string_view text) {
  check(nc_put_att_text(ncid_, varid(var), std::string(name).c_str(), text.size(), text.data()), var,
        fmt::format("attribute '{}'", name));
}
void Writer::put_att(std::string_view var, std::string_view name, double value) {
  put_att(var, name, std::span<const double>(&value, 1));
}
void Writer::put_att(std::string_view var, std::string_view name, float value) {
  put_att(var, name, std::span<const float>(&value, 1));
}
void Writer::put_att(std::string_view var, std::string_view name, int value) {
  check(nc_put_att_int(ncid_, varid(var), std::string(name).c_str(), NC_INT, 1, &value), var,
        fmt::format("attribute '{}'", name));
}
void Writer::put_att(std::string_view var, std::string_view name, std::span<const double> values) {
  check(nc_put_att_double(ncid_, varid(var), std::string(name).c_str(), NC_DOUBLE, values.size(),
                          values.data()),
        var, fmt::format("attribute '{}'", name));
}
void Writer::put_att(std::string_view var, std::string_view name, std::span<const float> values) {
  check(
      nc_put_att_float(ncid_, varid(var), std::string(name).c_str(), NC_FLOAT, values.size(), values.data()),
      var, fmt::format("attribute '{}'", name));
}
void Writer::put_att(std::string_view var, std::string_view name, std::span<const std::int8_t> values) {
  check(nc_put_att_schar(ncid_, varid(var), std::string(name).c_str(), NC_BYTE, values.size(),
                         reinterpret_cast<const signed char*>(values.data())),
        var, fmt::format("attribute '{}'", name));
}

void Writer::put_provenance(const Provenance& p) {
  put_att("", "Conventions", "CF-1.8");
  put_att("", "source", p.software);
  put_att("", "fluxkit_version", p.software);
  put_att("", "fluxkit_git_commit", p.git_commit);
  put_att("", "fluxkit_config_hash", p.config_hash);
  put_att("", "date_created", p.creation_date);
  put_att("", "history", fmt::format("{} {}", p.creation_date, p.command_line));
}

void Writer::end_define() {
  if (!define_mode_) return;
  check(nc_enddef(ncid_), "", "leaving define mode");
  define_mode_ = false;
}

namespace {
int put_vara(int ncid, int varid, const std::size_t* s, const std::size_t* c, const float* d) {
  return nc_put_vara_float(ncid, varid, s, c, d);
}
int put_vara(int ncid, int varid, const std::size_t* s, const std::size_t* c, const double* d) {
  return nc_put_vara_double(ncid, varid, s, c, d);
}
int put_vara(int ncid, int varid, const std::size_t* s, const std::size_t* c, const std::int32_t* d) {
  return nc_put_vara_int(ncid, varid, s, c, d);
}
int put_vara(int ncid, int varid, const std::size_t* s, const std::size_t* c, const std::int8_t* d) {
  return nc_put_vara_schar(ncid, varid, s, c, reinterpret_cast<const signed char*>(d));
}
}  // namespace

template <class T>
void Writer::write_impl(std::string_view var, std::span<const T> data, std::span<const std::size_t> start,
                        std::span<const std::size_t> count) {
  end_define();
  const int id = varid(var);
  int ndims = 0;
  check(nc_inq_varndims(ncid_, id, &ndims), var, "inquiry");
  std::vector<int> dimids(static_cast<std::size_t>(ndims));
  check(nc_inq_vardimid(ncid_, id, dimids.data()), var, "inquiry");
  std::vector<std::size_t> s(start.begin(), start.end()), c(count.begin(), count.end());
  if (s.empty()) s.assign(dimids.size(), 0);
  if (c.empty()) {
    for (int d : dimids) {
      std::size_t len = 0;
      check(nc_inq_dimlen(ncid_, d, &len), var, "inquiry");
      c.push_back(len);
    }
  }
  const std::size_t n = std::accumulate(c.begin(), c.end(), std::size_t{1}, std::multiplies<>());
  if (n != data.size() || s.size() != dimids.size() || c.size() != dimids.size())
    throw FileError(file_.target().string(), std::string(var),
                    fmt::format("write of {} values into a hyperslab of {} values", data.size(), n));
  check(put_vara(ncid_, id, s.data(), c.data(), data.data()), var, "write");
}

void Writer::write(std::string_view var, std::span<const float> data, std::span<const std::size_t> start,
                   std::span<const std::size_t> count) {
  write_impl(var, data, start, count);
}
void Writer::write(std::string_view var, std::span<const double> data, std::span<const std::size_t> start,
                   std::span<const std::size_t> count) {
  write_impl(var, data, start, count);
}
void Writer::write(std::string_view var, std::span<const std::int32_t> data,
                   std::span<const std::size_t> start, std::span<const std::size_t> count) {
  write_impl(var, data, start, count);
}
void Writer::write(std::string_view var, std::span<const std::int8_t> data,
                   std::span<const std::size_t> start, std::span<const std::size_t> count) {
  write_impl(var, data, start, count);
}

void Writer::commit() {
  end_define();
  const int ncid = ncid_;
  ncid_ = -1;
  check(nc_close(ncid), "", "closing");
  file_.commit();
}

}  // namespace fluxkit::nc
