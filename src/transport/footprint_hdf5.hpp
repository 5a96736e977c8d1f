// Internal to the footprint readers (src/transport/footprint*.cpp): RAII HDF5 handles, attribute and dataset
// helpers, time-name parsing, and the constructors of the built-in formats from an already open file (so that
// auto-detection opens a file once).
//
// HDF5 errors: the automatic error printing of the HDF5 library is switched off (per thread, on the first use
// of these helpers in a thread); every failure is turned into a FileError naming the file and the object.
// Thread safety: Debian's serial libhdf5 is built thread-safe (one global lock), so the readers may be used
// from several threads; their HDF5 calls are serialized by that lock.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fluxkit/transport/footprint.hpp"

namespace fluxkit::transport::detail {

// Switches off HDF5's automatic error printing for the calling thread (once per thread).
void quiet_hdf5();

// An owned HDF5 identifier with its close function.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer close) : id_(id), close_(close) {}
  ~Hid() { reset(); }
  Hid(Hid&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  explicit operator bool() const { return valid(); }
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

inline Hid group_hid(hid_t id) {
  return Hid(id, &H5Gclose);
}
inline Hid dataset_hid(hid_t id) {
  return Hid(id, &H5Dclose);
}
inline Hid space_hid(hid_t id) {
  return Hid(id, &H5Sclose);
}
inline Hid attr_hid(hid_t id) {
  return Hid(id, &H5Aclose);
}
inline Hid type_hid(hid_t id) {
  return Hid(id, &H5Tclose);
}

// Opens an HDF5 file read-only. FileError naming the file when it is missing, not HDF5 (corrupt, truncated,
// netCDF-3 classic) or unreadable.
Hid open_hdf5_file(const std::filesystem::path& path);

// Names of the links of a group, in one H5Literate pass (name order).
std::vector<std::string> link_names(hid_t group, const std::string& file, const std::string& where);

// A scalar attribute of an object as text (fixed- or variable-length string, or a number formatted), or as a
// number (numeric attribute, first element; or a string holding a number). nullopt when absent; FileError
// when present but unreadable.
std::optional<std::string> string_attribute(hid_t obj, const char* name, const std::string& file);
std::optional<double> number_attribute(hid_t obj, const char* name, const std::string& file);

// Reads the dataset `name` of `loc` whole (any rank, flattened), converted to `memtype`, with one H5Dread
// into `out` (resized; its capacity is reused). Returns false (out untouched) when the dataset does not
// exist; FileError naming "<where>/<name>" (`where`: the path of `loc`, "" for the root) when it cannot be
// read.
bool read_dataset(hid_t loc, const char* name, hid_t memtype, std::vector<std::int32_t>& out,
                  const std::string& file, const std::string& where);
bool read_dataset(hid_t loc, const char* name, hid_t memtype, std::vector<float>& out,
                  const std::string& file, const std::string& where);
bool read_dataset(hid_t loc, const char* name, hid_t memtype, std::vector<double>& out,
                  const std::string& file, const std::string& where);

// "YYYYmmddHHMMSS" (digits == 14) or "YYYYmmddHH" (digits == 10) -> seconds since 1970; nullopt when the text
// is not exactly that many digits or not a valid date/time.
std::optional<std::int64_t> parse_compact_time(std::string_view text, std::size_t digits);

// The built-in readers, from a file opened by open_hdf5_file. `root_names` (legacy) are the root link names
// when the caller already listed them (auto-detection), else empty and listed by the reader.
std::unique_ptr<FootprintFile> make_legacy_file(const std::filesystem::path& path, Hid file,
                                                std::optional<std::vector<std::string>> root_names);
std::unique_ptr<FootprintFile> make_lumia_v2_file(const std::filesystem::path& path, Hid file);
std::unique_ptr<FootprintFile> make_stilt_file(const std::filesystem::path& path, Hid file);

// Whether root link names and the first footprint group look like the legacy layout.
bool looks_like_legacy(hid_t file, const std::vector<std::string>& root_names);

}  // namespace fluxkit::transport::detail
