#include "fluxkit/io/netcdf.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
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

const char* type_name(nc_type t) {
  switch (t) {
    case NC_BYTE:
      return "byte";
    case NC_UBYTE:
      return "ubyte";
    case NC_CHAR:
      return "char";
    case NC_SHORT:
      return "short";
    case NC_USHORT:
      return "ushort";
    case NC_INT:
      return "int";
    case NC_UINT:
      return "uint";
    case NC_INT64:
      return "int64";
    case NC_UINT64:
      return "uint64";
    case NC_FLOAT:
      return "float";
    case NC_DOUBLE:
      return "double";
    case NC_STRING:
      return "string";
    default:
      return "user-defined";
  }
}

bool is_signed_integer(nc_type t) {
  return t == NC_BYTE || t == NC_SHORT || t == NC_INT || t == NC_INT64;
}
bool is_integer(nc_type t) {
  return is_signed_integer(t) || t == NC_UBYTE || t == NC_USHORT || t == NC_UINT || t == NC_UINT64;
}
bool is_real(nc_type t) {
  return t == NC_FLOAT || t == NC_DOUBLE;
}
// 2^bits of a signed integer type: what a negative value gains when reinterpreted as unsigned.
double unsigned_shift(nc_type t) {
  switch (t) {
    case NC_BYTE:
      return 256.0;
    case NC_SHORT:
      return 65536.0;
    case NC_INT:
      return 4294967296.0;
    default:
      return 18446744073709551616.0;  // NC_INT64
  }
}
}  // namespace

// How the stored values of a variable become data values (netCDF Users Guide "Attribute Conventions", CF-1.8
// §2.5.1 and §8.1), worked out once per read from the variable's attributes:
//   raw          the stored value, read exactly as double (or float for a float variable)
//   -> missing   equal to _FillValue or missing_value (compared in the stored type), or not finite
//   -> unsigned  _Unsigned = "true" on byte/short/int/int64: a negative raw value v is v + 2^bits
//   -> invalid   outside valid_range = [min, max] (or valid_min / valid_max); compared with the packed
//                values, unless the attribute has the unpacked type (the type of scale_factor/add_offset,
//                when that differs from the variable's), then with the unpacked values
//   -> unpacked  packed * scale_factor + add_offset, computed in double and rounded to the unpacked type
// Missing and invalid values become NaN.
struct File::Decoding {
  nc_type type = NC_NAT;      // the variable's (packed) type
  nc_type unpacked = NC_NAT;  // type of the data values
  bool is_unsigned = false;   // _Unsigned = "true" on a signed integer type
  bool scaled = false;        // scale_factor or add_offset present
  double scale = 1.0, offset = 0.0;
  std::vector<double> sentinels;  // _FillValue and missing_value, raw (stored) representation
  double valid_min = -std::numeric_limits<double>::infinity();
  double valid_max = std::numeric_limits<double>::infinity();
  bool range_on_unpacked = false;  // valid_* compared with the unpacked values
  bool has_range = false;

  // The data value of one raw value; NaN for missing or invalid ones.
  double decode(double raw) const {
    if (!std::isfinite(raw)) return std::numeric_limits<double>::quiet_NaN();
    double v = raw;
    if (is_unsigned && v < 0) v += unsigned_shift(type);
    // A sentinel attribute of the variable's type matches the stored value; one of an unsigned type (on an
    // _Unsigned variable) the unsigned value. No other stored value can equal either.
    for (double s : sentinels)
      if (raw == s || v == s) return std::numeric_limits<double>::quiet_NaN();
    if (has_range && !range_on_unpacked && !(v >= valid_min && v <= valid_max))
      return std::numeric_limits<double>::quiet_NaN();
    if (scaled) {
      v = v * scale + offset;
      if (unpacked == NC_FLOAT) v = static_cast<double>(static_cast<float>(v));
    }
    if (has_range && range_on_unpacked && !(v >= valid_min && v <= valid_max))
      return std::numeric_limits<double>::quiet_NaN();
    return v;
  }
};

std::optional<nc_type> File::attribute_type(int id, std::string_view name) const {
  nc_type type = NC_NAT;
  std::size_t len = 0;
  if (nc_inq_att(ncid_, id, std::string(name).c_str(), &type, &len) != NC_NOERR) return std::nullopt;
  return type;
}

File::Decoding File::decoding(std::string_view name, const VarInfo& info) const {
  const int id = varid(name);
  const std::string var(name);
  Decoding d;
  d.type = d.unpacked = info.type;
  auto unsupported = [&](const std::string& why) {
    throw FileError(path_, var, fmt::format("unsupported packing: {}", why));
  };
  const auto scale_type = attribute_type(id, "scale_factor");
  const auto offset_type = attribute_type(id, "add_offset");
  const auto unsigned_type = attribute_type(id, "_Unsigned");
  const bool text = info.type == NC_CHAR || info.type == NC_STRING;
  if (text && (scale_type || offset_type))
    unsupported(fmt::format("{} on a {} (text) variable", scale_type ? "scale_factor" : "add_offset",
                            type_name(info.type)));
  if (text) throw FileError(path_, var, "is text, expected numbers");
  if (!is_integer(info.type) && !is_real(info.type))
    throw FileError(path_, var, fmt::format("has the {} type, expected numbers", type_name(info.type)));

  // _Unsigned
  if (unsigned_type) {
    if (*unsigned_type != NC_CHAR && *unsigned_type != NC_STRING)
      unsupported(fmt::format("_Unsigned has type {}, expected the text \"true\" or \"false\"",
                              type_name(*unsigned_type)));
    std::string value = text_attribute(name, "_Unsigned").value_or("");
    std::transform(value.begin(), value.end(), value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (value != "true" && value != "false")
      unsupported(fmt::format("_Unsigned = \"{}\", expected \"true\" or \"false\"", value));
    if (value == "true") {
      if (is_real(info.type))
        unsupported(
            fmt::format("_Unsigned = \"true\" on a {} variable (only byte, short, int and int64 "
                        "can be reinterpreted as unsigned)",
                        type_name(info.type)));
      d.is_unsigned = is_signed_integer(info.type);  // already unsigned types need nothing
    }
  }

  // scale_factor / add_offset
  if (scale_type || offset_type) {
    const nc_type packing = scale_type ? *scale_type : *offset_type;
    if (scale_type && offset_type && *scale_type != *offset_type)
      unsupported(fmt::format("scale_factor is {} but add_offset is {} (both must have the same type)",
                              type_name(*scale_type), type_name(*offset_type)));
    for (const char* att : {"scale_factor", "add_offset"}) {
      const auto values = number_attribute(name, att);
      if (values && values->size() != 1)
        unsupported(fmt::format("{} holds {} values, expected one", att, values->size()));
      if (values && !std::isfinite(values->front()))
        unsupported(fmt::format("{} is {}", att, values->front()));
    }
    if (packing != info.type) {
      if (!is_real(packing))
        unsupported(fmt::format(
            "{} of type {} on a {} variable (packing attributes of another type than the "
            "variable must be float or double)",
            scale_type ? "scale_factor" : "add_offset", type_name(packing), type_name(info.type)));
      d.unpacked = packing;
    }
    d.scaled = true;
    d.scale = scale_type ? number_attribute(name, "scale_factor")->front() : 1.0;
    d.offset = offset_type ? number_attribute(name, "add_offset")->front() : 0.0;
    // In the unpacked type (a float attribute of 0.1 is 0.100000001490116).
    if (d.unpacked == NC_FLOAT) {
      d.scale = static_cast<double>(static_cast<float>(d.scale));
      d.offset = static_cast<double>(static_cast<float>(d.offset));
    }
  }

  // Fill and missing values, compared in the variable's own precision (a float _FillValue of 1e20 read as
  // double is 1.00000002e20).
  for (const char* att : {"_FillValue", "missing_value"}) {
    if (auto v = number_attribute(name, att))
      for (double x : *v)
        d.sentinels.push_back(info.type == NC_FLOAT ? static_cast<double>(static_cast<float>(x)) : x);
  }

  // valid_range, or valid_min / valid_max (valid_range wins when both are given, as in netCDF4-python).
  auto range_value = [&](const char* att, std::size_t expected) -> std::optional<std::vector<double>> {
    const auto type = attribute_type(id, att);
    if (!type) return std::nullopt;
    if (!is_integer(*type) && !is_real(*type))
      unsupported(fmt::format("{} is a {} attribute, expected numbers", att, type_name(*type)));
    std::vector<double> v = *number_attribute(name, att);
    if (v.size() != expected)
      unsupported(
          fmt::format("{} holds {} value{}, expected {}", att, v.size(), v.size() == 1 ? "" : "s", expected));
    const bool on_unpacked = d.scaled && *type == d.unpacked && d.unpacked != info.type;
    if (d.has_range && on_unpacked != d.range_on_unpacked)
      unsupported("valid_min and valid_max have different types (one packed, one unpacked)");
    d.range_on_unpacked = on_unpacked;
    d.has_range = true;
    if (*type == info.type && d.is_unsigned)
      for (double& x : v)
        if (x < 0) x += unsigned_shift(info.type);
    if (*type == NC_FLOAT)
      for (double& x : v)
        x = static_cast<double>(static_cast<float>(x));
    return v;
  };
  if (const auto r = range_value("valid_range", 2)) {
    d.valid_min = (*r)[0];
    d.valid_max = (*r)[1];
    if (d.valid_min > d.valid_max)
      unsupported(fmt::format("valid_range [{}, {}] is empty (min > max)", d.valid_min, d.valid_max));
  } else {
    if (const auto lo = range_value("valid_min", 1)) d.valid_min = lo->front();
    if (const auto hi = range_value("valid_max", 1)) d.valid_max = hi->front();
  }
  return d;
}

template <class T>
std::vector<T> File::read_as(std::string_view name, std::span<const std::size_t> start,
                             std::span<const std::size_t> count) const {
  const VarInfo info = var(name);
  const int id = varid(name);
  const Decoding decode = decoding(name, info);
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
  // T is the variable's type or wider (see read_float), so raw values arrive exactly.
  check(get_vara(ncid_, id, s.data(), c.data(), out.data()), path_, name, "read");
  for (auto& x : out)
    x = static_cast<T>(decode.decode(static_cast<double>(x)));
  return out;
}

std::vector<float> File::read_float(std::string_view var, std::span<const std::size_t> start,
                                    std::span<const std::size_t> count) const {
  // Raw values are read exactly and decoded in double: a float variable whose data values are float (not
  // packed, or packed with float attributes) can be read as float; anything else (double, integers, float
  // packed with double attributes) is read and decoded as double, then narrowed.
  const VarInfo info = this->var(var);
  const auto scale = attribute_type(varid(var), "scale_factor");
  const auto offset = attribute_type(varid(var), "add_offset");
  const bool float_data =
      info.type == NC_FLOAT && (!scale || *scale == NC_FLOAT) && (!offset || *offset == NC_FLOAT);
  if (float_data) return read_as<float>(var, start, count);
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

void Writer::put_att(std::string_view var, std::string_view name, std::span<const std::int32_t> values) {
  check(nc_put_att_int(ncid_, varid(var), std::string(name).c_str(), NC_INT, values.size(), values.data()),
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
