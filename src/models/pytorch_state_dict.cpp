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
// Pickle values: only what a state dict needs.

enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::Tuple:
      return "tuple";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Global:
      return "global";
    case Kind::Storage:
      return "storage";
    case Kind::Tensor:
      return "tensor";
  }
  return "?";
}

enum class Callable {
  None,
  OrderedDict,
  RebuildTensorV2,
  RebuildParameter,
  RebuildParameterWithState,
  Storage
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  Kind kind = Kind::None;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0;
  std::string text;                                         // String; Global: "module.name"; Storage: key
  std::vector<ValuePtr> items;                              // Tuple, List
  std::vector<std::pair<ValuePtr, ValuePtr>> dict;          // Dict, insertion order
  std::unordered_map<std::string, std::size_t> dict_index;  // Dict: position of each str key
  Callable callable = Callable::None;                       // Global
  const DtypeInfo* dtype = nullptr;                         // Global (storage class), Storage
  std::int64_t numel = 0;                                   // Storage
  ValuePtr storage;                                         // Tensor
  std::int64_t offset = 0;                                  // Tensor
  std::vector<std::int64_t> shape, stride;                  // Tensor

  explicit Value(Kind k) : kind(k) {}
};

ValuePtr make(Kind k) {
  return std::make_shared<Value>(k);
}

std::string_view opcode_name(unsigned char op) {
  switch (op) {
    // clang-format off
    case '(': return "MARK";          case '.': return "STOP";         case '0': return "POP";
    case '1': return "POP_MARK";      case '2': return "DUP";          case 'F': return "FLOAT";
    case 'I': return "INT";           case 'J': return "BININT";       case 'K': return "BININT1";
    case 'L': return "LONG";          case 'M': return "BININT2";      case 'N': return "NONE";
    case 'P': return "PERSID";        case 'Q': return "BINPERSID";    case 'R': return "REDUCE";
    case 'S': return "STRING";        case 'T': return "BINSTRING";    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";       case 'X': return "BINUNICODE";   case 'a': return "APPEND";
    case 'b': return "BUILD";         case 'c': return "GLOBAL";       case 'd': return "DICT";
    case '}': return "EMPTY_DICT";    case 'e': return "APPENDS";      case 'g': return "GET";
    case 'h': return "BINGET";        case 'i': return "INST";         case 'j': return "LONG_BINGET";
    case 'l': return "LIST";          case ']': return "EMPTY_LIST";   case 'o': return "OBJ";
    case 'p': return "PUT";           case 'q': return "BINPUT";       case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";       case 't': return "TUPLE";        case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";      case 'G': return "BINFLOAT";     case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";       case 0x82: return "EXT1";        case 0x83: return "EXT2";
    case 0x84: return "EXT4";         case 0x85: return "TUPLE1";      case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";       case 0x88: return "NEWTRUE";     case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";        case 0x8b: return "LONG4";       case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES"; case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";    case 0x8f: return "EMPTY_SET";   case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";    case 0x92: return "NEWOBJ_EX";   case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";      case 0x95: return "FRAME";       case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";  case 0x98: return "READONLY_BUFFER";
    // clang-format on
    default:
      return "unknown";
  }
}

class Unpickler {
 public:
  Unpickler(const Bytes& data, std::string file, std::string entry)
      : data_(data), file_(std::move(file)), entry_(std::move(entry)) {}

  ValuePtr run() {
    while (true) {
      op_pos_ = pos_;
      op_ = *take(1);
      switch (op_) {
        case 0x80: {  // PROTO
          const unsigned proto = *take(1);
          if (proto > 5) fail(fmt::format("unsupported pickle protocol {}", proto));
          break;
        }
        case 0x95:  // FRAME: a length prefix only
          take(8);
          break;
        case '.':  // STOP
          return pop();
        case '(':
          marks_.push_back(stack_.size());
          break;
        case '0':
          pop();
          break;
        case '1':
          pop_mark();
          break;
        case '2':
          push(top());
          break;
        case 'N':
          push(make(Kind::None));
          break;
        case 0x88:
        case 0x89: {
          auto v = make(Kind::Bool);
          v->boolean = op_ == 0x88;
          push(v);
          break;
        }
        case 'J':
          push_int(static_cast<std::int32_t>(le32(take(4))));
          break;
        case 'K':
          push_int(*take(1));
          break;
        case 'M':
          push_int(le16(take(2)));
          break;
        case 0x8a:
          push_long(*take(1));
          break;
        case 0x8b:
          push_long(le32(take(4)));
          break;
        case 'G': {  // BINFLOAT: big-endian double
          const unsigned char* p = take(8);
          std::uint64_t bits = 0;
          for (int i = 0; i < 8; ++i)
            bits = (bits << 8) | p[i];
          auto v = make(Kind::Float);
          v->real = std::bit_cast<double>(bits);
          push(v);
          break;
        }
        case 'X':
          push_string(le32(take(4)));
          break;
        case 0x8c:
          push_string(*take(1));
          break;
        case 0x8d:
          push_string(le64(take(8)));
          break;
        case ')':
          push(make(Kind::Tuple));
          break;
        case 't':
          push_sequence(Kind::Tuple, pop_mark());
          break;
        case 0x85:
        case 0x86:
        case 0x87: {
          const std::size_t n = op_ - 0x84U;
          std::vector<ValuePtr> items(n);
          for (std::size_t i = n; i-- > 0;)
            items[i] = pop();
          push_sequence(Kind::Tuple, std::move(items));
          break;
        }
        case ']':
          push(make(Kind::List));
          break;
        case 'l':
          push_sequence(Kind::List, pop_mark());
          break;
        case 'a': {
          auto v = pop();
          list_top()->items.push_back(std::move(v));
          break;
        }
        case 'e': {
          auto items = pop_mark();
          auto& list = list_top()->items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case '}':
          push(make(Kind::Dict));
          break;
        case 'd': {
          auto items = pop_mark();
          push(make(Kind::Dict));
          set_items(std::move(items));
          break;
        }
        case 's': {
          auto value = pop();
          auto key = pop();
          set_items({std::move(key), std::move(value)});
          break;
        }
        case 'u':
          set_items(pop_mark());
          break;
        case 'q':
          memo_[*take(1)] = top();
          break;
        case 'r':
          memo_[le32(take(4))] = top();
          break;
        case 0x94:
          memo_[static_cast<std::uint32_t>(memo_.size())] = top();
          break;
        case 'h':
          push(memo_get(*take(1)));
          break;
        case 'j':
          push(memo_get(le32(take(4))));
          break;
        case 'c': {
          std::string module = line();
          std::string name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {
          auto name = pop();
          auto module = pop();
          if (name->kind != Kind::String || module->kind != Kind::String) {
            fail("STACK_GLOBAL needs two strings");
          }
          push(global(module->text, name->text));
          break;
        }
        case 'Q':
          push(persistent_load(pop()));
          break;
        case 'R': {
          auto args = pop();
          auto callable = pop();
          push(reduce(*callable, *args));
          break;
        }
        case 'b': {
          auto state = pop();
          const auto& obj = top();
          // OrderedDict.__reduce__ passes its __dict__ (torch: {'_metadata': ...}) as state: ignored.
          if (obj->kind != Kind::Dict || (state->kind != Kind::Dict && state->kind != Kind::None)) {
            fail(fmt::format("BUILD of a {} with a {} state is not supported", kind_name(obj->kind),
                             kind_name(state->kind)));
          }
          break;
        }
        default:
          fail(fmt::format("unsupported pickle opcode {} (0x{:02x})", opcode_name(op_), op_));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw FileError(file_, "", fmt::format("{}: byte {}: {}", entry_, op_pos_, problem));
  }

  const unsigned char* take(std::uint64_t n) {
    if (data_.size() - pos_ < n) {
      fail(pos_ == op_pos_ ? std::string("truncated pickle (no STOP)")
                           : fmt::format("truncated pickle: {} needs {} more bytes", opcode_name(op_), n));
    }
    const unsigned char* p = data_.data() + pos_;
    pos_ += static_cast<std::size_t>(n);
    return p;
  }

  std::string line() {
    const auto begin = data_.begin() + static_cast<std::ptrdiff_t>(pos_);
    const auto nl = std::find(begin, data_.end(), '\n');
    if (nl == data_.end()) fail("truncated pickle: GLOBAL without end of line");
    std::string s(begin, nl);
    pos_ += s.size() + 1;
    return s;
  }

  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  void push_int(std::int64_t i) {
    auto v = make(Kind::Int);
    v->integer = i;
    push(v);
  }
  // LONG1/LONG4: little-endian two's complement of n bytes.
  void push_long(std::uint64_t n) {
    if (n > 8) fail(fmt::format("integer of {} bytes does not fit 64 bits", n));
    const unsigned char* p = take(n);
    std::uint64_t bits = 0;
    for (std::uint64_t i = n; i-- > 0;)
      bits = (bits << 8) | p[i];
    if (n > 0 && n < 8 && (p[n - 1] & 0x80U) != 0) bits |= ~std::uint64_t{0} << (8 * n);  // sign-extend
    push_int(static_cast<std::int64_t>(bits));
  }
  void push_string(std::uint64_t n) {
    const unsigned char* p = take(n);
    auto v = make(Kind::String);
    v->text.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    push(v);
  }
  void push_sequence(Kind kind, std::vector<ValuePtr> items) {
    auto v = make(kind);
    v->items = std::move(items);
    push(v);
  }

  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  ValuePtr pop() {
    if (stack_.size() <= floor()) fail(fmt::format("{} on an empty stack", opcode_name(op_)));
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const ValuePtr& top() const {
    if (stack_.size() <= floor()) fail(fmt::format("{} on an empty stack", opcode_name(op_)));
    return stack_.back();
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) fail(fmt::format("{} without MARK", opcode_name(op_)));
    const auto mark = static_cast<std::ptrdiff_t>(marks_.back());
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + mark),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(static_cast<std::size_t>(mark));
    return items;
  }
  const ValuePtr& list_top() const {
    const auto& v = top();
    if (v->kind != Kind::List) fail(fmt::format("{} to a {}", opcode_name(op_), kind_name(v->kind)));
    return v;
  }
  ValuePtr memo_get(std::uint32_t index) const {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail(fmt::format("memo entry {} was never stored", index));
    return it->second;
  }

  void set_items(std::vector<ValuePtr> items) {
    const auto& d = top();
    if (d->kind != Kind::Dict) fail(fmt::format("{} on a {}", opcode_name(op_), kind_name(d->kind)));
    if (items.size() % 2 != 0) fail(fmt::format("{} with an odd number of items", opcode_name(op_)));
    for (std::size_t i = 0; i < items.size(); i += 2) {
      if (items[i]->kind == Kind::String) {
        const auto [it, inserted] = d->dict_index.emplace(items[i]->text, d->dict.size());
        if (!inserted) {
          d->dict[it->second].second = std::move(items[i + 1]);
          continue;
        }
      }
      d->dict.emplace_back(std::move(items[i]), std::move(items[i + 1]));
    }
  }

  ValuePtr global(const std::string& module, const std::string& name) {
    auto v = make(Kind::Global);
    v->text = module + "." + name;
    if (module == "collections" && name == "OrderedDict") {
      v->callable = Callable::OrderedDict;
    } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
      v->callable = Callable::RebuildTensorV2;
    } else if (module == "torch._utils" && name == "_rebuild_parameter") {
      v->callable = Callable::RebuildParameter;
    } else if (module == "torch._utils" && name == "_rebuild_parameter_with_state") {
      v->callable = Callable::RebuildParameterWithState;
    } else if (module == "torch" && name.ends_with("Storage")) {
      v->callable = Callable::Storage;
      v->dtype = storage_dtype(name);
      if (v->dtype == nullptr) fail(fmt::format("unsupported dtype: storage type torch.{}", name));
    } else {
      fail(
          fmt::format("unsupported pickle global '{}' (a state dict holds only tensors in a dict)", v->text));
    }
    return v;
  }

  // ('storage', torch.FloatStorage, key, location, numel): the data is in <archive>/data/<key>.
  ValuePtr persistent_load(const ValuePtr& pid) {
    const auto& t = pid->items;
    if (pid->kind != Kind::Tuple || t.size() != 5 || t[0]->kind != Kind::String || t[0]->text != "storage" ||
        t[1]->kind != Kind::Global || t[1]->callable != Callable::Storage || t[2]->kind != Kind::String ||
        t[3]->kind != Kind::String || t[4]->kind != Kind::Int || t[4]->integer < 0) {
      fail("persistent id is not ('storage', <storage type>, key, location, numel)");
    }
    auto v = make(Kind::Storage);
    v->dtype = t[1]->dtype;
    v->text = t[2]->text;
    v->numel = t[4]->integer;
    return v;
  }

  static bool int_tuple(const Value& v) {
    return v.kind == Kind::Tuple && std::all_of(v.items.begin(), v.items.end(),
                                                [](const ValuePtr& i) { return i->kind == Kind::Int; });
  }

  ValuePtr reduce(const Value& callable, const Value& args) {
    if (callable.kind != Kind::Global) fail(fmt::format("REDUCE of a {}", kind_name(callable.kind)));
    if (args.kind != Kind::Tuple) {
      fail(fmt::format("REDUCE of {} with {} arguments", callable.text, kind_name(args.kind)));
    }
    const auto& a = args.items;
    switch (callable.callable) {
      case Callable::OrderedDict:
        if (!a.empty()) fail("OrderedDict with constructor arguments is not supported");
        return make(Kind::Dict);
      case Callable::RebuildTensorV2: {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a.size() < 6 || a.size() > 7 || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int ||
            !int_tuple(*a[2]) || !int_tuple(*a[3]) || a[2]->items.size() != a[3]->items.size()) {
          fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, requires_grad, hooks)");
        }
        auto v = make(Kind::Tensor);
        v->storage = a[0];
        v->offset = a[1]->integer;
        for (const auto& s : a[2]->items)
          v->shape.push_back(s->integer);
        for (const auto& s : a[3]->items)
          v->stride.push_back(s->integer);
        return v;
      }
      case Callable::RebuildParameter:
      case Callable::RebuildParameterWithState:  // (data, requires_grad, hooks[, state]): the data
        if (a.empty() || a[0]->kind != Kind::Tensor) fail(fmt::format("{} without a tensor", callable.text));
        return a[0];
      case Callable::Storage:
      case Callable::None:
        break;
    }
    fail(fmt::format("calling {} is not supported", callable.text));
  }

  const Bytes& data_;
  std::string file_;
  std::string entry_;
  std::size_t pos_ = 0;
  std::size_t op_pos_ = 0;
  unsigned char op_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint32_t, ValuePtr> memo_;
};

std::string dims(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    s += (i == 0 ? "" : ", ") + std::to_string(v[i]);
  }
  return s + "]";
}

// Checks the tensor against its storage (contiguous, inside) and converts its elements to float32.
StateTensor materialize(const Value& t, const Bytes& storage, const std::string& file,
                        const std::string& key) {
  const Value& s = *t.storage;
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
                      numel, t.offset, s.text, s.numel));
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

  const Bytes pickle = zip.read(*pkl);
  const ValuePtr root = Unpickler(pickle, file, pkl->name).run();
  if (root->kind != Kind::Dict) {
    zip.fail(fmt::format("{} holds a {}, not a state dict", pkl->name, kind_name(root->kind)));
  }

  // Storages are read once, kept while a later tensor still uses them.
  std::unordered_map<std::string, int> uses;
  for (const auto& [k, v] : root->dict) {
    if (v->kind == Kind::Tensor) ++uses[v->storage->text];
  }
  std::unordered_map<std::string, Bytes> storages;

  std::vector<std::pair<std::string, StateTensor>> out;
  out.reserve(root->dict.size());
  for (const auto& [k, v] : root->dict) {
    if (k->kind != Kind::String) {
      zip.fail(fmt::format("state dict key is a {}, not a str", kind_name(k->kind)));
    }
    const std::string& key = k->text;
    StateTensor t;
    switch (v->kind) {
      case Kind::Tensor: {
        const Value& s = *v->storage;
        auto it = storages.find(s.text);
        if (it == storages.end()) {
          const std::string name = prefix + "data/" + s.text;
          const ZipEntry* entry = zip.find(name);
          if (entry == nullptr) {
            throw FileError(file, key, fmt::format("storage '{}' is missing from the archive", name));
          }
          it = storages.emplace(s.text, zip.read(*entry)).first;
        }
        // Checked per tensor: each persistent id states the storage's dtype and element count.
        if (static_cast<std::uint64_t>(s.numel) > it->second.size() / s.dtype->size) {
          throw FileError(file, key,
                          fmt::format("storage '{}data/{}' has {} bytes, {} {} elements need {}", prefix,
                                      s.text, it->second.size(), s.numel, s.dtype->name,
                                      static_cast<std::uint64_t>(s.numel) * s.dtype->size));
        }
        t = materialize(*v, it->second, file, key);
        if (--uses[s.text] == 0) storages.erase(it);
        break;
      }
      case Kind::Int:
        t = {{}, {static_cast<float>(v->integer)}, "int64"};
        break;
      case Kind::Float:
        t = {{}, {static_cast<float>(v->real)}, "float64"};
        break;
      case Kind::Bool:
        t = {{}, {v->boolean ? 1.0F : 0.0F}, "bool"};
        break;
      default:
        throw FileError(file, key,
                        fmt::format("value is a {}, not a tensor (a checkpoint holding a state dict? save "
                                    "model.state_dict() itself)",
                                    kind_name(v->kind)));
    }
    out.emplace_back(key, std::move(t));
  }
  return out;
}

}  // namespace fluxkit
