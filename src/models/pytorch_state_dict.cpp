// PyTorch state-dict files (torch.save, zip format since torch 1.6) read without libtorch.
//
// Layout of such a file: a zip archive whose entries are stored (not compressed), 64-byte aligned by padding
// in the local extra field, with data descriptors (the local headers carry no sizes, the central directory
// does):
//   <name>/data.pkl     pickle (protocol 2 by default) of the dict
//   <name>/data/<key>   raw little-endian bytes of each storage
//   <name>/version      "3"
// In the pickle every tensor is `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks)` where `storage` comes from BINPERSID of the tuple
// ('storage', torch.FloatStorage, key, location, numel).
//
// Only the subset of pickle that torch.save emits for a state dict is interpreted; anything else (other
// globals, sets, bytes, ...) is an error naming the construct, so nothing from the file is ever executed.
#include "fluxkit/models/pytorch_state_dict.hpp"

#include <algorithm>
#include <any>
#include <array>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"
#include "models/pickle.hpp"

namespace fluxkit {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

std::uint16_t le16(const unsigned char* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t le32(const unsigned char* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}
std::uint64_t le64(const unsigned char* p) {
  return std::uint64_t{le32(p)} | std::uint64_t{le32(p + 4)} << 32;
}

std::uint32_t crc32(const unsigned char* data, std::size_t n) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFU;
  for (std::size_t i = 0; i < n; ++i)
    c = table[(c ^ data[i]) & 0xFFU] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

// ---------------------------------------------------------------------------------------------------------
// Zip: central directory, local headers, stored entries only.

constexpr std::uint32_t kLocalHeaderSig = 0x04034b50;
constexpr std::uint32_t kCentralHeaderSig = 0x02014b50;
constexpr std::uint32_t kEndSig = 0x06054b50;
constexpr std::uint32_t kZip64EndSig = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::size_t kEndSize = 22;
constexpr std::size_t kZip64EndSize = 56;
constexpr std::size_t kZip64LocatorSize = 20;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kLocalHeaderSize = 30;

struct ZipEntry {
  std::string name;
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t size = 0;
  std::uint64_t local_offset = 0;
};

class ZipArchive {
 public:
  explicit ZipArchive(const fs::path& path) : file_(path.string()) {
    std::error_code ec;
    if (!fs::exists(path, ec)) fail(ec ? fmt::format("cannot access: {}", ec.message()) : "file not found");
    file_size_ = fs::file_size(path, ec);
    if (ec) fail(fmt::format("cannot access: {}", ec.message()));
    in_.open(path, std::ios::binary);
    if (!in_) fail("cannot open for reading");
    check_signature();
    read_central_directory();
  }

  const std::string& file() const { return file_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  Bytes read(const ZipEntry& e) {
    if ((e.flags & 1U) != 0) fail(fmt::format("zip entry '{}' is encrypted", e.name));
    if (e.method != 0) {
      fail(fmt::format(
          "zip entry '{}' is compressed ({}); torch.save stores entries uncompressed: was the file "
          "re-zipped? Re-save it with torch.save",
          e.name, e.method == 8 ? "deflate" : fmt::format("method {}", e.method)));
    }
    if (e.compressed_size != e.size) {
      fail(fmt::format("zip entry '{}' is stored but its sizes differ ({} vs {}): corrupt file", e.name,
                       e.compressed_size, e.size));
    }
    unsigned char local[kLocalHeaderSize];
    if (e.local_offset > file_size_ || file_size_ - e.local_offset < kLocalHeaderSize) truncated(e.name);
    read_at(e.local_offset, local, kLocalHeaderSize);
    if (le32(local) != kLocalHeaderSig) {
      fail(fmt::format("zip entry '{}': bad local header: corrupt file", e.name));
    }
    const std::uint64_t data_offset = e.local_offset + kLocalHeaderSize + le16(local + 26) + le16(local + 28);
    if (data_offset > file_size_ || file_size_ - data_offset < e.size) truncated(e.name);
    Bytes data(static_cast<std::size_t>(e.size));
    read_at(data_offset, data.data(), data.size());
    if (crc32(data.data(), data.size()) != e.crc) {
      fail(fmt::format("zip entry '{}': CRC mismatch: corrupt file", e.name));
    }
    return data;
  }

  [[noreturn]] void fail(const std::string& problem) const { throw FileError(file_, "", problem); }

 private:
  [[noreturn]] void truncated(const std::string& entry) const {
    fail(fmt::format("truncated file: zip entry '{}' extends past the end ({} bytes)", entry, file_size_));
  }

  void read_at(std::uint64_t offset, unsigned char* out, std::size_t n) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n));
    if (!in_ || static_cast<std::size_t>(in_.gcount()) != n) {
      fail(fmt::format("read error at byte {} ({} bytes)", offset, n));
    }
  }

  // A torch.save zip starts with a local header; recognise the other things people pass instead.
  void check_signature() {
    if (file_size_ == 0) fail("empty file, not a torch.save archive");
    unsigned char head[32] = {};
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(file_size_, sizeof head));
    read_at(0, head, n);
    if (n >= 4 && (le32(head) == kLocalHeaderSig || le32(head) == kEndSig)) return;
    // The legacy format is a sequence of pickles, the first being the magic number 0x1950a86a20f9469cfc6c.
    static constexpr unsigned char kLegacyMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                                     0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    if (head[0] == 0x80 &&
        std::search(head, head + n, std::begin(kLegacyMagic), std::end(kLegacyMagic)) != head + n) {
      fail(
          "legacy torch.save format, saved with _use_new_zipfile_serialization=False: re-save with a current "
          "torch.save");
    }
    if (head[0] == 0x80) fail("a bare pickle, not a torch.save zip archive (saved with pickle.dump?)");
    fail("not a zip archive, so not a file written by torch.save (PyTorch >= 1.6)");
  }

  void read_central_directory() {
    // End of central directory: the last 22 bytes plus an optional comment of up to 65535 bytes.
    const std::size_t tail_size =
        static_cast<std::size_t>(std::min<std::uint64_t>(file_size_, kEndSize + 65535));
    Bytes tail(tail_size);
    const std::uint64_t tail_offset = file_size_ - tail_size;
    read_at(tail_offset, tail.data(), tail.size());
    std::size_t end = tail_size;
    for (std::size_t i = tail_size >= kEndSize ? tail_size - kEndSize + 1 : 0; i-- > 0;) {
      if (le32(&tail[i]) == kEndSig && i + kEndSize + le16(&tail[i + 20]) <= tail_size) {
        end = i;
        break;
      }
    }
    if (end == tail_size) {
      fail(
          "truncated file: the zip end-of-central-directory record is missing (file cut short or not a zip)");
    }
    const unsigned char* e = &tail[end];
    const std::uint64_t end_offset = tail_offset + end;
    if (le16(e + 4) != 0 || le16(e + 6) != 0) fail("multi-disk zip archives are not supported");
    std::uint64_t count = le16(e + 10);
    std::uint64_t cd_size = le32(e + 12);
    std::uint64_t cd_offset = le32(e + 16);

    // ZIP64 (miniz, which torch uses, writes it for archives over 4 GiB): a locator right before the record.
    unsigned char locator[kZip64LocatorSize];
    bool zip64 = false;
    if (end_offset >= kZip64LocatorSize) {
      read_at(end_offset - kZip64LocatorSize, locator, kZip64LocatorSize);
      zip64 = le32(locator) == kZip64LocatorSig;
    }
    if (zip64) {
      const std::uint64_t z_offset = le64(locator + 8);
      if (z_offset > end_offset || end_offset - z_offset < kZip64EndSize) {
        fail("corrupt ZIP64 end-of-central-directory locator");
      }
      unsigned char z[kZip64EndSize];
      read_at(z_offset, z, kZip64EndSize);
      if (le32(z) != kZip64EndSig) fail("corrupt ZIP64 end-of-central-directory record");
      count = le64(z + 32);
      cd_size = le64(z + 40);
      cd_offset = le64(z + 48);
    } else if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
      fail("ZIP64 archive without its ZIP64 end-of-central-directory record: corrupt file");
    }
    if (cd_offset > end_offset || end_offset - cd_offset < cd_size) {
      fail("truncated or corrupt file: the zip central directory lies outside the file");
    }
    if (count > cd_size / kCentralHeaderSize) fail("corrupt zip central directory (entry count)");

    Bytes cd(static_cast<std::size_t>(cd_size));
    read_at(cd_offset, cd.data(), cd.size());
    std::size_t pos = 0;
    entries_.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t k = 0; k < count; ++k) {
      if (cd.size() - pos < kCentralHeaderSize || le32(&cd[pos]) != kCentralHeaderSig) {
        fail("corrupt zip central directory");
      }
      const unsigned char* h = &cd[pos];
      const std::size_t name_len = le16(h + 28), extra_len = le16(h + 30), comment_len = le16(h + 32);
      if (cd.size() - pos - kCentralHeaderSize < name_len + extra_len + comment_len) {
        fail("corrupt zip central directory");
      }
      ZipEntry entry;
      entry.flags = le16(h + 8);
      entry.method = le16(h + 10);
      entry.crc = le32(h + 16);
      entry.compressed_size = le32(h + 20);
      entry.size = le32(h + 24);
      entry.local_offset = le32(h + 42);
      entry.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);
      // ZIP64 extended information (header id 1): 8-byte values for the fields saturated above, in order.
      const unsigned char* x = h + kCentralHeaderSize + name_len;
      for (std::size_t xp = 0; xp + 4 <= extra_len;) {
        const std::uint16_t id = le16(x + xp), len = le16(x + xp + 2);
        if (xp + 4 + len > extra_len) break;
        if (id == 1) {
          const unsigned char* f = x + xp + 4;
          std::size_t used = 0;
          for (std::uint64_t* field : {&entry.size, &entry.compressed_size, &entry.local_offset}) {
            if (*field != 0xFFFFFFFF) continue;
            if (used + 8 > len) fail(fmt::format("zip entry '{}': corrupt ZIP64 extra field", entry.name));
            *field = le64(f + used);
            used += 8;
          }
        }
        xp += 4 + len;
      }
      pos += kCentralHeaderSize + name_len + extra_len + comment_len;
      index_.emplace(entry.name, entries_.size());
      entries_.push_back(std::move(entry));
    }
  }

  std::string file_;
  std::ifstream in_;
  std::uint64_t file_size_ = 0;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

// ---------------------------------------------------------------------------------------------------------
// Dtypes: the storage classes torch.save names.

enum class Dtype { Float32, Float64, Float16, BFloat16, Int64, Int32, Int16, Int8, UInt8, Bool };

struct DtypeInfo {
  std::string_view storage;  // torch.<storage>
  Dtype dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DtypeInfo, 10> kDtypes{{
    {"FloatStorage", Dtype::Float32, "float32", 4},
    {"DoubleStorage", Dtype::Float64, "float64", 8},
    {"HalfStorage", Dtype::Float16, "float16", 2},
    {"BFloat16Storage", Dtype::BFloat16, "bfloat16", 2},
    {"LongStorage", Dtype::Int64, "int64", 8},
    {"IntStorage", Dtype::Int32, "int32", 4},
    {"ShortStorage", Dtype::Int16, "int16", 2},
    {"CharStorage", Dtype::Int8, "int8", 1},
    {"ByteStorage", Dtype::UInt8, "uint8", 1},
    {"BoolStorage", Dtype::Bool, "bool", 1},
}};

const DtypeInfo* storage_dtype(std::string_view storage_class) {
  for (const auto& d : kDtypes) {
    if (d.storage == storage_class) return &d;
  }
  return nullptr;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t{h & 0x8000U} << 16;
  std::uint32_t exponent = (h >> 10) & 0x1FU;
  std::uint32_t mantissa = h & 0x3FFU;
  std::uint32_t bits = 0;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000U | (mantissa << 13);  // inf, nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa != 0) {  // subnormal: normalise
    exponent = 113;
    while ((mantissa & 0x400U) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3FFU) << 13);
  } else {
    bits = sign;
  }
  return std::bit_cast<float>(bits);
}

float element_to_float(Dtype dtype, const unsigned char* p) {
  switch (dtype) {
    case Dtype::Float32:
      return std::bit_cast<float>(le32(p));
    case Dtype::Float64:
      return static_cast<float>(std::bit_cast<double>(le64(p)));
    case Dtype::Float16:
      return half_to_float(le16(p));
    case Dtype::BFloat16:
      return std::bit_cast<float>(std::uint32_t{le16(p)} << 16);
    case Dtype::Int64:
      return static_cast<float>(static_cast<std::int64_t>(le64(p)));
    case Dtype::Int32:
      return static_cast<float>(static_cast<std::int32_t>(le32(p)));
    case Dtype::Int16:
      return static_cast<float>(static_cast<std::int16_t>(le16(p)));
    case Dtype::Int8:
      return static_cast<float>(static_cast<std::int8_t>(p[0]));
    case Dtype::UInt8:
      return static_cast<float>(p[0]);
    case Dtype::Bool:
      return p[0] != 0 ? 1.0F : 0.0F;
  }
  return 0.0F;
}

// ---------------------------------------------------------------------------------------------------------
// The pickle of a state dict: only the globals torch.save uses for one (models/pickle.hpp runs the opcodes).

using pickle::Kind;
using pickle::kind_name;
using pickle::Value;
using pickle::ValuePtr;

// BINPERSID ('storage', torch.FloatStorage, key, location, numel): the data is in <archive>/data/<key>.
struct StorageRef {
  const DtypeInfo* dtype = nullptr;
  std::string key;
  std::int64_t numel = 0;
};
struct TensorRef {
  StorageRef storage;
  std::int64_t offset = 0;
  std::vector<std::int64_t> shape, stride;
};

const StorageRef* storage_of(const Value& v) {
  return v.kind == Kind::Opaque ? std::any_cast<StorageRef>(&v.opaque) : nullptr;
}
const TensorRef* tensor_of(const Value& v) {
  return v.kind == Kind::Opaque ? std::any_cast<TensorRef>(&v.opaque) : nullptr;
}

std::string_view value_kind(const Value& v) {
  if (tensor_of(v) != nullptr) return "tensor";
  if (storage_of(v) != nullptr) return "storage";
  return kind_name(v.kind);
}

class StateDictUnpickler final : public pickle::Unpickler {
 public:
  using Unpickler::Unpickler;

 private:
  ValuePtr global(const std::string& module, const std::string& name) override {
    const bool known =
        (module == "collections" && name == "OrderedDict") ||
        (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_parameter" ||
                                      name == "_rebuild_parameter_with_state"));
    if (module == "torch" && name.ends_with("Storage")) {
      if (storage_dtype(name) == nullptr) fail(fmt::format("unsupported dtype: storage type torch.{}", name));
    } else if (!known) {
      fail(fmt::format("unsupported pickle global '{}.{}' (a state dict holds only tensors in a dict)",
                       module, name));
    }
    return global_value(module, name);
  }

  // OrderedDict.__reduce__ passes its __dict__ (torch: {'_metadata': ...}) as state: ignored.
  void build(ValuePtr object, ValuePtr state) override {
    if (object->kind != Kind::Dict || (state->kind != Kind::Dict && state->kind != Kind::None))
      fail(fmt::format("BUILD of a {} with a {} state is not supported", value_kind(*object),
                       value_kind(*state)));
  }

  ValuePtr newobj(ValuePtr cls, ValuePtr) override {
    fail(fmt::format("NEWOBJ of {} is not supported in a state dict", cls->text));
  }

  ValuePtr persistent_load(ValuePtr pid) override {
    const auto& t = pid->items;
    if (pid->kind != Kind::Tuple || t.size() != 5 || t[0]->kind != Kind::String || t[0]->text != "storage" ||
        t[1]->kind != Kind::Global || !t[1]->text.starts_with("torch.") || t[2]->kind != Kind::String ||
        t[3]->kind != Kind::String || t[4]->kind != Kind::Int || t[4]->integer < 0) {
      fail("persistent id is not ('storage', <storage type>, key, location, numel)");
    }
    const DtypeInfo* dtype = storage_dtype(std::string_view(t[1]->text).substr(6));
    if (dtype == nullptr) fail("persistent id is not ('storage', <storage type>, key, location, numel)");
    auto* v = make(Kind::Opaque);
    v->opaque = StorageRef{dtype, t[2]->text, t[4]->integer};
    return v;
  }

  static bool int_tuple(const Value& v) {
    return v.kind == Kind::Tuple &&
           std::all_of(v.items.begin(), v.items.end(), [](ValuePtr i) { return i->kind == Kind::Int; });
  }

  ValuePtr reduce(ValuePtr callable, ValuePtr args) override {
    const std::string& f = callable->text;
    const auto& a = args->items;
    if (f == "collections.OrderedDict") {
      if (!a.empty()) fail("OrderedDict with constructor arguments is not supported");
      return make(Kind::Dict);
    }
    if (f == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.size() < 6 || a.size() > 7 || storage_of(*a[0]) == nullptr || a[1]->kind != Kind::Int ||
          !int_tuple(*a[2]) || !int_tuple(*a[3]) || a[2]->items.size() != a[3]->items.size()) {
        fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, requires_grad, hooks)");
      }
      TensorRef t;
      t.storage = *storage_of(*a[0]);
      t.offset = a[1]->integer;
      for (const auto* s : a[2]->items)
        t.shape.push_back(s->integer);
      for (const auto* s : a[3]->items)
        t.stride.push_back(s->integer);
      auto* v = make(Kind::Opaque);
      v->opaque = std::move(t);
      return v;
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      // (data, requires_grad, hooks[, state]): the data
      if (a.empty() || tensor_of(*a[0]) == nullptr) fail(fmt::format("{} without a tensor", f));
      return a[0];
    }
    fail(fmt::format("calling {} is not supported", f));
  }
};

std::string dims(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    s += (i == 0 ? "" : ", ") + std::to_string(v[i]);
  }
  return s + "]";
}

// Checks the tensor against its storage (contiguous, inside) and converts its elements to float32.
StateTensor materialize(const TensorRef& t, const Bytes& storage, const std::string& file,
                        const std::string& key) {
  const StorageRef& s = t.storage;
  const auto bad = [&](const std::string& problem) { throw FileError(file, key, problem); };
  std::int64_t numel = 1;
  for (const auto n : t.shape) {
    if (n < 0) bad(fmt::format("negative size {}", dims(t.shape)));
    if (n != 0 && numel > std::numeric_limits<std::int64_t>::max() / n) bad("element count overflows");
    numel *= n;
  }
  if (numel > 0) {
    std::int64_t expected = 1;
    for (std::size_t d = t.shape.size(); d-- > 0;) {
      if (t.shape[d] != 1 && t.stride[d] != expected) {
        bad(fmt::format("tensor is not contiguous (size {}, stride {}): save t.contiguous() instead",
                        dims(t.shape), dims(t.stride)));
      }
      expected *= t.shape[d];
    }
    if (t.offset < 0 || t.offset > s.numel || s.numel - t.offset < numel) {
      bad(fmt::format("tensor of {} elements at offset {} lies outside its storage '{}' of {} elements",
                      numel, t.offset, s.key, s.numel));
    }
  }
  StateTensor out;
  out.shape = t.shape;
  out.dtype = std::string(s.dtype->name);
  out.values.resize(static_cast<std::size_t>(numel));
  if (numel == 0) return out;
  const std::size_t size = s.dtype->size;
  const unsigned char* p = storage.data() + static_cast<std::size_t>(t.offset) * size;
  for (std::size_t i = 0; i < out.values.size(); ++i) {
    out.values[i] = element_to_float(s.dtype->dtype, p + i * size);
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, StateTensor>> read_pytorch_state_dict(const std::filesystem::path& path) {
  ZipArchive zip(path);
  const std::string& file = zip.file();

  // The archive's records live under one top-level directory: <name>/data.pkl.
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip.entries()) {
    const auto slash = e.name.find('/');
    if (slash != std::string::npos && slash > 0 && e.name.substr(slash + 1) == "data.pkl") {
      pkl = &e;
      break;
    }
  }
  if (pkl == nullptr) zip.fail("no <name>/data.pkl in the zip archive: not a file written by torch.save");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string_view("data.pkl").size());
  if (zip.find(prefix + "constants.pkl") != nullptr) {
    zip.fail(
        "a TorchScript archive (torch.jit.save), not a state dict: save model.state_dict() with torch.save");
  }
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const Bytes b = zip.read(*order);
    if (std::string(b.begin(), b.end()) != "little") {
      zip.fail(fmt::format("byte order '{}' is not supported (only little-endian archives)",
                           std::string(b.begin(), b.end())));
    }
  }

  const Bytes data = zip.read(*pkl);
  StateDictUnpickler unpickler(data, file, pkl->name);
  const Value* root = unpickler.run();
  if (root->kind != Kind::Dict) {
    zip.fail(fmt::format("{} holds a {}, not a state dict", pkl->name, value_kind(*root)));
  }

  // Storages are read once, kept while a later tensor still uses them.
  std::unordered_map<std::string, int> uses;
  for (const auto& [k, v] : root->dict) {
    if (const TensorRef* t = tensor_of(*v)) ++uses[t->storage.key];
  }
  std::unordered_map<std::string, Bytes> storages;

  std::vector<std::pair<std::string, StateTensor>> out;
  out.reserve(root->dict.size());
  for (const auto& [k, v] : root->dict) {
    if (k->kind != Kind::String) {
      zip.fail(fmt::format("state dict key is a {}, not a str", value_kind(*k)));
    }
    const std::string& key = k->text;
    StateTensor t;
    if (const TensorRef* tensor = tensor_of(*v)) {
      const StorageRef& s = tensor->storage;
      auto it = storages.find(s.key);
      if (it == storages.end()) {
        const std::string name = prefix + "data/" + s.key;
        const ZipEntry* entry = zip.find(name);
        if (entry == nullptr) {
          throw FileError(file, key, fmt::format("storage '{}' is missing from the archive", name));
        }
        it = storages.emplace(s.key, zip.read(*entry)).first;
      }
      // Checked per tensor: each persistent id states the storage's dtype and element count.
      if (static_cast<std::uint64_t>(s.numel) > it->second.size() / s.dtype->size) {
        throw FileError(file, key,
                        fmt::format("storage '{}data/{}' has {} bytes, {} {} elements need {}", prefix, s.key,
                                    it->second.size(), s.numel, s.dtype->name,
                                    static_cast<std::uint64_t>(s.numel) * s.dtype->size));
      }
      t = materialize(*tensor, it->second, file, key);
      if (--uses[s.key] == 0) storages.erase(it);
    } else if (v->kind == Kind::Int) {
      t = {{}, {static_cast<float>(v->integer)}, "int64"};
    } else if (v->kind == Kind::Float) {
      t = {{}, {static_cast<float>(v->real)}, "float64"};
    } else if (v->kind == Kind::Bool) {
      t = {{}, {v->boolean ? 1.0F : 0.0F}, "bool"};
    } else {
      throw FileError(file, key,
                      fmt::format("value is a {}, not a tensor (a checkpoint holding a state dict? save "
                                  "model.state_dict() itself)",
                                  value_kind(*v)));
    }
    out.emplace_back(key, std::move(t));
  }
  return out;
}

}  // namespace fluxkit
