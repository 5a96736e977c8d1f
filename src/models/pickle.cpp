#include "models/pickle.hpp"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

#include "fluxkit/core/error.hpp"

namespace fluxkit::pickle {

namespace {

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

}  // namespace

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
    case Kind::Binary:
      return "bytes";
    case Kind::Tuple:
      return "tuple";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Global:
      return "global";
    case Kind::Object:
      return "object";
    case Kind::Opaque:
      return "object";
  }
  return "?";
}

const Value* Value::get(std::string_view key) const {
  if (kind != Kind::Dict) return nullptr;
  const auto it = dict_index.find(std::string(key));
  return it == dict_index.end() ? nullptr : dict[it->second].second;
}

bool Value::made_by(std::string_view global) const {
  return kind == Kind::Object && callable != nullptr && callable->text == global;
}

Unpickler::Unpickler(const Bytes& data, std::string file, std::string entry)
    : data_(data), file_(std::move(file)), entry_(std::move(entry)) {}

ValuePtr Unpickler::make(Kind k) {
  arena_.push_back(std::make_unique<Value>(k));
  return arena_.back().get();
}

void Unpickler::fail(const std::string& problem) const {
  throw FileError(file_, "", fmt::format("{}: byte {}: {}", entry_, op_pos_, problem));
}

ValuePtr Unpickler::run() {
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
        auto* v = make(Kind::Bool);
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
        auto* v = make(Kind::Float);
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
      case 'C':
        push_bytes(*take(1));
        break;
      case 'B':
        push_bytes(le32(take(4)));
        break;
      case 0x8e:  // BINBYTES8
      case 0x96:  // BYTEARRAY8 (protocol 5, in-band buffers such as a NumPy array's data)
        push_bytes(le64(take(8)));
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
        auto* v = pop();
        list_top()->items.push_back(v);
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
        auto* value = pop();
        auto* key = pop();
        set_items({key, value});
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
        auto* name = pop();
        auto* module = pop();
        if (name->kind != Kind::String || module->kind != Kind::String)
          fail("STACK_GLOBAL needs two strings");
        push(global(module->text, name->text));
        break;
      }
      case 'Q':
        push(persistent_load(pop()));
        break;
      case 'R': {
        auto* args = pop();
        auto* callable = pop();
        if (callable->kind != Kind::Global) fail(fmt::format("REDUCE of a {}", kind_name(callable->kind)));
        if (args->kind != Kind::Tuple)
          fail(fmt::format("REDUCE of {} with {} arguments", callable->text, kind_name(args->kind)));
        push(reduce(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
        auto* args = pop();
        auto* cls = pop();
        if (cls->kind != Kind::Global) fail(fmt::format("NEWOBJ of a {}", kind_name(cls->kind)));
        if (args->kind != Kind::Tuple)
          fail(fmt::format("NEWOBJ of {} with {} arguments", cls->text, kind_name(args->kind)));
        push(newobj(cls, args));
        break;
      }
      case 'b': {
        auto* state = pop();
        build(top(), state);
        break;
      }
      default:
        fail(fmt::format("unsupported pickle opcode {} (0x{:02x})", opcode_name(op_), op_));
    }
  }
}

ValuePtr Unpickler::global(const std::string& module, const std::string& name) {
  fail(fmt::format("unsupported pickle global '{}.{}'", module, name));
}

ValuePtr Unpickler::global_value(const std::string& module, const std::string& name) {
  auto* v = make(Kind::Global);
  v->text = module + "." + name;
  return v;
}

ValuePtr Unpickler::reduce(ValuePtr callable, ValuePtr args) {
  auto* v = make(Kind::Object);
  v->callable = callable;
  v->items = args->items;
  return v;
}

ValuePtr Unpickler::newobj(ValuePtr cls, ValuePtr args) {
  return Unpickler::reduce(cls, args);
}

void Unpickler::build(ValuePtr object, ValuePtr state) {
  if (object->kind != Kind::Object)
    fail(fmt::format("BUILD of a {} with a {} state is not supported", kind_name(object->kind),
                     kind_name(state->kind)));
  object->state = state;
}

ValuePtr Unpickler::persistent_load(ValuePtr) {
  fail("persistent ids are not supported in this file");
}

const unsigned char* Unpickler::take(std::uint64_t n) {
  if (data_.size() - pos_ < n) {
    fail(pos_ == op_pos_ ? std::string("truncated pickle (no STOP)")
                         : fmt::format("truncated pickle: {} needs {} more bytes", opcode_name(op_), n));
  }
  const unsigned char* p = data_.data() + pos_;
  pos_ += static_cast<std::size_t>(n);
  return p;
}

std::string Unpickler::line() {
  const auto begin = data_.begin() + static_cast<std::ptrdiff_t>(pos_);
  const auto nl = std::find(begin, data_.end(), '\n');
  if (nl == data_.end()) fail("truncated pickle: GLOBAL without end of line");
  std::string s(begin, nl);
  pos_ += s.size() + 1;
  return s;
}

void Unpickler::push_int(std::int64_t i) {
  auto* v = make(Kind::Int);
  v->integer = i;
  push(v);
}

// LONG1/LONG4: little-endian two's complement of n bytes.
void Unpickler::push_long(std::uint64_t n) {
  if (n > 8) fail(fmt::format("integer of {} bytes does not fit 64 bits", n));
  const unsigned char* p = take(n);
  std::uint64_t bits = 0;
  for (std::uint64_t i = n; i-- > 0;)
    bits = (bits << 8) | p[i];
  if (n > 0 && n < 8 && (p[n - 1] & 0x80U) != 0) bits |= ~std::uint64_t{0} << (8 * n);  // sign-extend
  push_int(static_cast<std::int64_t>(bits));
}

void Unpickler::push_string(std::uint64_t n) {
  const unsigned char* p = take(n);
  auto* v = make(Kind::String);
  v->text.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  push(v);
}

void Unpickler::push_bytes(std::uint64_t n) {
  const unsigned char* p = take(n);
  auto* v = make(Kind::Binary);
  v->bytes.assign(p, p + n);
  push(v);
}

void Unpickler::push_sequence(Kind kind, std::vector<ValuePtr> items) {
  auto* v = make(kind);
  v->items = std::move(items);
  push(v);
}

ValuePtr Unpickler::pop() {
  if (stack_.size() <= floor()) fail(fmt::format("{} on an empty stack", opcode_name(op_)));
  auto* v = stack_.back();
  stack_.pop_back();
  return v;
}

const ValuePtr& Unpickler::top() const {
  if (stack_.size() <= floor()) fail(fmt::format("{} on an empty stack", opcode_name(op_)));
  return stack_.back();
}

std::vector<ValuePtr> Unpickler::pop_mark() {
  if (marks_.empty()) fail(fmt::format("{} without MARK", opcode_name(op_)));
  const auto mark = static_cast<std::ptrdiff_t>(marks_.back());
  marks_.pop_back();
  std::vector<ValuePtr> items(stack_.begin() + mark, stack_.end());
  stack_.resize(static_cast<std::size_t>(mark));
  return items;
}

const ValuePtr& Unpickler::list_top() const {
  const auto& v = top();
  if (v->kind != Kind::List) fail(fmt::format("{} to a {}", opcode_name(op_), kind_name(v->kind)));
  return v;
}

ValuePtr Unpickler::memo_get(std::uint32_t index) const {
  const auto it = memo_.find(index);
  if (it == memo_.end()) fail(fmt::format("memo entry {} was never stored", index));
  return it->second;
}

void Unpickler::set_items(std::vector<ValuePtr> items) {
  const auto& d = top();
  if (d->kind != Kind::Dict) fail(fmt::format("{} on a {}", opcode_name(op_), kind_name(d->kind)));
  if (items.size() % 2 != 0) fail(fmt::format("{} with an odd number of items", opcode_name(op_)));
  for (std::size_t i = 0; i < items.size(); i += 2) {
    if (items[i]->kind == Kind::String) {
      const auto [it, inserted] = d->dict_index.emplace(items[i]->text, d->dict.size());
      if (!inserted) {
        d->dict[it->second].second = items[i + 1];
        continue;
      }
    }
    d->dict.emplace_back(items[i], items[i + 1]);
  }
}

}  // namespace fluxkit::pickle
