// Atomic file replacement: write to a hidden temp file in the target's directory, rename over the target on
// commit(). An interrupted or failed write leaves the previous target (if any) untouched and no file that
// looks complete: the destructor deletes an uncommitted temp file.
#pragma once

#include <filesystem>
#include <string>

namespace fluxkit {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);  // creates the parent directories
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  bool committed() const { return committed_; }

  // Renames the temp file over the target (the temp file must be closed). Throws FileError on failure.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  bool committed_ = false;
};

// Writes text atomically (CSV tables, reports).
void write_text_atomic(const std::filesystem::path& target, const std::string& text);

}  // namespace fluxkit
