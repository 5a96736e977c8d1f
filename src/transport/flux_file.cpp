// The LUMIA flux file  (docs/transport.md; lumia/formatters/lagrange.py ReadStruct/WriteStruct), netCDF-4:
//   dimension time_components = 6 (root)
//   group <category>: dimensions nt, nlat, nlon
//     double emis(nt, nlat, nlon)            [umol m-2 s-1]
//     int    times_start(nt, time_components), times_end(nt, time_components)   (Y, M, D, h, m, s)
//     float  lats(nlat), lons(nlon)           cell centres
//     double area_m2(nlat, nlon)              optional (written when present, never needed by LUMIA)
// Groups are read in the order netCDF lists them and written in the order of `categories`. The netCDF wrapper
// (io/netcdf.hpp) has no group support, so this file uses the netCDF-C API directly; writes go to a temp file
// that replaces the target on success (AtomicFile).
#include "fluxkit/transport/flux_file.hpp"

#include <netcdf.h>

#include <algorithm>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "fluxkit/core/atomic_file.hpp"
#include "fluxkit/core/error.hpp"
#include "fluxkit/core/provenance.hpp"

namespace fluxkit::transport {

// ---------------------------------------------------------------------------------------------------------------
// Reading

namespace {

void nc_check(int status, const std::string& file, const std::string& var, std::string_view what) {
  if (status != NC_NOERR) throw FileError(file, var, fmt::format("{}: {}", what, nc_strerror(status)));
}

struct NcClose {
  int id = -1;
  ~NcClose() {
    if (id >= 0) nc_close(id);
  }
};

struct Var {
  int id = -1;
  std::vector<std::size_t> shape;
};

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t k = 0; k < shape.size(); ++k)
    s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// The variable and its shape; nullopt when absent.
std::optional<Var> find_var(int grp, const char* name, const std::string& file, const std::string& where) {
  Var v;
  const int st = nc_inq_varid(grp, name, &v.id);
  if (st == NC_ENOTVAR) return std::nullopt;
  nc_check(st, file, where, "cannot look up the variable");
  int ndims = 0;
  nc_check(nc_inq_varndims(grp, v.id, &ndims), file, where, "cannot read the variable");
  std::vector<int> dims(static_cast<std::size_t>(ndims));
  nc_check(nc_inq_vardimid(grp, v.id, dims.data()), file, where, "cannot read the variable");
  for (int d : dims) {
    std::size_t len = 0;
    nc_check(nc_inq_dimlen(grp, d, &len), file, where, "cannot read a dimension");
    v.shape.push_back(len);
  }
  return v;
}

Var require_var(int grp, const char* name, const std::string& file, const std::string& where,
                const std::vector<std::size_t>& expected, const char* expected_text) {
  auto v = find_var(grp, name, file, where);
  if (!v) throw FileError(file, where, "missing variable");
  if (!expected.empty() && v->shape != expected)
    throw FileError(
        file, where,
        fmt::format("shape {}, expected {} = {}", shape_text(v->shape), expected_text, shape_text(expected)));
  return *v;
}

std::vector<TimeStamp> read_times(int grp, const char* name, std::size_t nt, const std::string& file,
                                  const std::string& group) {
  const std::string where = group + "/" + name;
  const Var v = require_var(grp, name, file, where, {nt, 6}, "(nt, time_components)");
  std::vector<int> raw(nt * 6);
  if (nt > 0) nc_check(nc_get_var_int(grp, v.id, raw.data()), file, where, "cannot read");
  std::vector<TimeStamp> out(nt);
  for (std::size_t k = 0; k < nt; ++k) {
    std::copy_n(raw.begin() + static_cast<std::ptrdiff_t>(6 * k), 6, out[k].begin());
    if (!fluxkit::cftime::valid_civil(out[k]))
      throw FileError(file, where,
                      fmt::format("step {} is not a valid (Y, M, D, h, m, s) time: ({}, {}, {}, {}, {}, {})",
                                  k, out[k][0], out[k][1], out[k][2], out[k][3], out[k][4], out[k][5]));
  }
  return out;
}

FluxCategory read_category(int grp, const std::string& name, const std::string& file) {
  FluxCategory c;
  c.name = name;
  const Var emis = require_var(grp, "emis", file, name + "/emis", {}, "");
  if (emis.shape.size() != 3)
    throw FileError(file, name + "/emis",
                    fmt::format("shape {}, expected (nt, nlat, nlon)", shape_text(emis.shape)));
  c.nt = emis.shape[0];
  c.nlat = emis.shape[1];
  c.nlon = emis.shape[2];
  c.emis.resize(c.nt * c.nlat * c.nlon);
  if (!c.emis.empty())
    nc_check(nc_get_var_double(grp, emis.id, c.emis.data()), file, name + "/emis", "cannot read");
  c.times_start = read_times(grp, "times_start", c.nt, file, name);
  c.times_end = read_times(grp, "times_end", c.nt, file, name);
  const Var lats = require_var(grp, "lats", file, name + "/lats", {c.nlat}, "(nlat,)");
  c.lats.resize(c.nlat);
  if (c.nlat > 0)
    nc_check(nc_get_var_float(grp, lats.id, c.lats.data()), file, name + "/lats", "cannot read");
  const Var lons = require_var(grp, "lons", file, name + "/lons", {c.nlon}, "(nlon,)");
  c.lons.resize(c.nlon);
  if (c.nlon > 0)
    nc_check(nc_get_var_float(grp, lons.id, c.lons.data()), file, name + "/lons", "cannot read");
  if (auto area = find_var(grp, "area_m2", file, name + "/area_m2")) {
    if (area->shape != std::vector<std::size_t>{c.nlat, c.nlon})
      throw FileError(file, name + "/area_m2",
                      fmt::format("shape {}, expected (nlat, nlon) = {}", shape_text(area->shape),
                                  shape_text({c.nlat, c.nlon})));
    c.area_m2.resize(c.nlat * c.nlon);
    if (!c.area_m2.empty())
      nc_check(nc_get_var_double(grp, area->id, c.area_m2.data()), file, name + "/area_m2", "cannot read");
  }
  return c;
}

}  // namespace

const FluxCategory* FluxFile::find(const std::string& name) const {
  for (const auto& c : categories)
    if (c.name == name) return &c;
  return nullptr;
}

const FluxCategory& FluxFile::require(const std::string& name, const std::filesystem::path& file) const {
  if (const FluxCategory* c = find(name)) return *c;
  std::string have;
  for (const auto& c : categories)
    have += (have.empty() ? "" : ", ") + c.name;
  throw FileError(file.string(), name, fmt::format("missing category group (the file has: {})", have));
}

FluxFile FluxFile::read(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw FileError(file, "", "no such flux file");
  NcClose nc;
  nc_check(nc_open(file.c_str(), NC_NOWRITE, &nc.id), file, "", "cannot open as netCDF");
  int ngrps = 0;
  nc_check(nc_inq_grps(nc.id, &ngrps, nullptr), file, "", "cannot list the groups");
  if (ngrps == 0)
    throw FileError(file, "", "no category groups (a LUMIA flux file has one group per category)");
  std::vector<int> grps(static_cast<std::size_t>(ngrps));
  nc_check(nc_inq_grps(nc.id, nullptr, grps.data()), file, "", "cannot list the groups");
  FluxFile out;
  out.categories.reserve(grps.size());
  for (int g : grps) {
    char name[NC_MAX_NAME + 1] = {0};
    nc_check(nc_inq_grpname(g, name), file, "", "cannot read a group name");
    out.categories.push_back(read_category(g, name, file));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

namespace {

void validate(const FluxFile& f, const std::string& file) {
  if (f.categories.empty()) throw FileError(file, "", "no categories to write");
  std::set<std::string> seen;
  for (const auto& c : f.categories) {
    if (c.name.empty()) throw FileError(file, "", "a category has an empty name");
    if (!seen.insert(c.name).second) throw FileError(file, c.name, "duplicate category");
    if (c.nt == 0 || c.nlat == 0 || c.nlon == 0)
      throw FileError(file, c.name + "/emis",
                      fmt::format("empty dimension: nt {}, nlat {}, nlon {}", c.nt, c.nlat, c.nlon));
    auto expect = [&](const char* var, std::size_t have, std::size_t want) {
      if (have != want)
        throw FileError(file, c.name + "/" + var, fmt::format("{} values, expected {}", have, want));
    };
    expect("emis", c.emis.size(), c.nt * c.nlat * c.nlon);
    expect("times_start", c.times_start.size(), c.nt);
    expect("times_end", c.times_end.size(), c.nt);
    expect("lats", c.lats.size(), c.nlat);
    expect("lons", c.lons.size(), c.nlon);
    if (!c.area_m2.empty()) expect("area_m2", c.area_m2.size(), c.nlat * c.nlon);
  }
}

void write_impl(const FluxFile& f, const std::filesystem::path& path, const Provenance* provenance) {
  const std::string file = path.string();
  validate(f, file);
  AtomicFile out(path);
  const std::string tmp = out.temp_path().string();
  {
    NcClose nc;
    nc_check(nc_create(tmp.c_str(), NC_NETCDF4 | NC_CLOBBER, &nc.id), file, "", "cannot create the file");
    int tc = -1;
    nc_check(nc_def_dim(nc.id, "time_components", 6, &tc), file, "", "cannot define time_components");
    if (provenance != nullptr) {
      auto att = [&](const char* name, const std::string& value) {
        nc_check(nc_put_att_text(nc.id, NC_GLOBAL, name, value.size(), value.data()), file, "",
                 fmt::format("cannot write attribute {}", name));
      };
      att("source", provenance->software);
      att("fluxkit_version", provenance->software);
      att("fluxkit_git_commit", provenance->git_commit);
      att("fluxkit_config_hash", provenance->config_hash);
      att("date_created", provenance->creation_date);
      att("history", fmt::format("{} {}", provenance->creation_date, provenance->command_line));
    }
    struct Ids {
      int grp, emis, ts, te, lats, lons, area;
    };
    std::vector<Ids> ids;
    for (const auto& c : f.categories) {
      Ids v{-1, -1, -1, -1, -1, -1, -1};
      const std::string& g = c.name;
      nc_check(nc_def_grp(nc.id, g.c_str(), &v.grp), file, g, "cannot create the group");
      int dt = -1, dlat = -1, dlon = -1;
      for (const auto& [name, value] : c.attributes)
        nc_check(nc_put_att_text(v.grp, NC_GLOBAL, name.c_str(), value.size(), value.data()), file, g,
                 fmt::format("cannot write attribute {}", name));
      nc_check(nc_def_dim(v.grp, "nt", c.nt, &dt), file, g, "cannot define nt");
      nc_check(nc_def_dim(v.grp, "nlat", c.nlat, &dlat), file, g, "cannot define nlat");
      nc_check(nc_def_dim(v.grp, "nlon", c.nlon, &dlon), file, g, "cannot define nlon");
      auto def = [&](const char* name, nc_type type, std::vector<int> dims, int& id) {
        nc_check(nc_def_var(v.grp, name, type, static_cast<int>(dims.size()), dims.data(), &id), file,
                 g + "/" + name, "cannot define the variable");
        nc_check(nc_def_var_fill(v.grp, id, NC_NOFILL, nullptr), file, g + "/" + name, "cannot set no-fill");
      };
      def("emis", NC_DOUBLE, {dt, dlat, dlon}, v.emis);
      if (!c.area_m2.empty()) def("area_m2", NC_DOUBLE, {dlat, dlon}, v.area);
      def("times_start", NC_INT, {dt, tc}, v.ts);
      def("times_end", NC_INT, {dt, tc}, v.te);
      def("lats", NC_FLOAT, {dlat}, v.lats);
      def("lons", NC_FLOAT, {dlon}, v.lons);
      ids.push_back(v);
    }
    nc_check(nc_enddef(nc.id), file, "", "cannot leave define mode");
    std::vector<int> stamps;
    for (std::size_t k = 0; k < f.categories.size(); ++k) {
      const auto& c = f.categories[k];
      const Ids& v = ids[k];
      const std::string& g = c.name;
      nc_check(nc_put_var_double(v.grp, v.emis, c.emis.data()), file, g + "/emis", "cannot write");
      if (v.area >= 0)
        nc_check(nc_put_var_double(v.grp, v.area, c.area_m2.data()), file, g + "/area_m2", "cannot write");
      auto put_times = [&](const std::vector<TimeStamp>& ts, int id, const char* var) {
        stamps.resize(6 * ts.size());
        for (std::size_t t = 0; t < ts.size(); ++t)
          std::copy(ts[t].begin(), ts[t].end(), stamps.begin() + 6 * t);
        nc_check(nc_put_var_int(v.grp, id, stamps.data()), file, g + "/" + var, "cannot write");
      };
      put_times(c.times_start, v.ts, "times_start");
      put_times(c.times_end, v.te, "times_end");
      nc_check(nc_put_var_float(v.grp, v.lats, c.lats.data()), file, g + "/lats", "cannot write");
      nc_check(nc_put_var_float(v.grp, v.lons, c.lons.data()), file, g + "/lons", "cannot write");
    }
    const int st = nc_close(nc.id);
    nc.id = -1;
    nc_check(st, file, "", "cannot finish the file");
  }
  out.commit();
}

}  // namespace

void FluxFile::write(const std::filesystem::path& path) const {
  write_impl(*this, path, nullptr);
}

void FluxFile::write(const std::filesystem::path& path, const Provenance& provenance) const {
  write_impl(*this, path, &provenance);
}

}  // namespace fluxkit::transport
