// A Python pickle reader that executes nothing: the opcodes build a tree of plain values, and every call the
// pickle asks for (GLOBAL + REDUCE, NEWOBJ, BUILD, persistent ids) goes to hooks of the reader, which accept
// only the globals they know and say which one they do not. Used for the files the Python pipeline wrote:
// PyTorch state dicts (pytorch_state_dict.cpp) and the pandas/NumPy statistics pickle (seed_stats.cpp).
// Internal to the library.
#pragma once

#include <any>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fluxkit::pickle {

using Bytes = std::vector<unsigned char>;

enum class Kind {
  None,
  Bool,
  Int,
  Float,
  String,
  Binary,  // bytes, bytearray
  Tuple,
  List,
  Dict,
  Global,  // a module attribute named by GLOBAL / STACK_GLOBAL: text = "module.name"
  Object,  // the result of calling a global (REDUCE, NEWOBJ): callable, items = arguments, state (BUILD)
  Opaque,  // what a reader's hook made (e.g. a tensor): `opaque`
};

std::string_view kind_name(Kind k);

struct Value;
// Values live in their Unpickler's arena (a pickle may build cycles, e.g. a list appended to itself): they
// stay valid as long as the Unpickler that made them.
using ValuePtr = Value*;

struct Value {
  Kind kind = Kind::None;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0;
  std::string text;                                         // String; Global: "module.name"
  Bytes bytes;                                              // Binary
  std::vector<ValuePtr> items;                              // Tuple, List; Object: the call's arguments
  std::vector<std::pair<ValuePtr, ValuePtr>> dict;          // Dict, insertion order
  std::unordered_map<std::string, std::size_t> dict_index;  // Dict: position of each str key
  ValuePtr callable = nullptr;                              // Object: the global that was called
  ValuePtr state = nullptr;                                 // Object: the BUILD state (null without BUILD)
  std::any opaque;                                          // Opaque

  explicit Value(Kind k) : kind(k) {}

  // Dict lookup by str key; nullptr when absent.
  const Value* get(std::string_view key) const;
  // Object: whether it was made by calling `module.name`.
  bool made_by(std::string_view global) const;
};

// Runs a pickle. Subclasses decide what the globals mean. The default hooks: global() fails (no global
// known), reduce() and newobj() make an Object, build() stores the state in an Object (and fails for other
// values), persistent_load() fails. Errors are fluxkit::FileErrors naming the file, the entry (e.g. the zip
// member) and the byte of the opcode.
class Unpickler {
 public:
  Unpickler(const Bytes& data, std::string file, std::string entry);
  virtual ~Unpickler() = default;
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  ValuePtr run();

  [[noreturn]] void fail(const std::string& problem) const;
  // A new value in the arena.
  ValuePtr make(Kind k);

 protected:
  virtual ValuePtr global(const std::string& module, const std::string& name);
  // callable / cls: a Global; args: a Tuple.
  virtual ValuePtr reduce(ValuePtr callable, ValuePtr args);
  virtual ValuePtr newobj(ValuePtr cls, ValuePtr args);
  virtual void build(ValuePtr object, ValuePtr state);
  virtual ValuePtr persistent_load(ValuePtr pid);

  // A Global value for module.name (for global() overrides).
  ValuePtr global_value(const std::string& module, const std::string& name);

 private:
  const unsigned char* take(std::uint64_t n);
  std::string line();
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  void push_int(std::int64_t i);
  void push_long(std::uint64_t n);
  void push_string(std::uint64_t n);
  void push_bytes(std::uint64_t n);
  void push_sequence(Kind kind, std::vector<ValuePtr> items);
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  ValuePtr pop();
  const ValuePtr& top() const;
  std::vector<ValuePtr> pop_mark();
  const ValuePtr& list_top() const;
  ValuePtr memo_get(std::uint32_t index) const;
  void set_items(std::vector<ValuePtr> items);

  const Bytes& data_;
  std::string file_;
  std::string entry_;
  std::size_t pos_ = 0;
  std::size_t op_pos_ = 0;
  unsigned char op_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint32_t, ValuePtr> memo_;
  std::vector<std::unique_ptr<Value>> arena_;
};

}  // namespace fluxkit::pickle
