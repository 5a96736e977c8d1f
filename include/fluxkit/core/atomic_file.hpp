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

// Removes what killed runs left next to `target`: the hidden ".<name>.tmp-<pid>..." and ".<name>.old-<pid>"
// files and directories of processes that no longer run. AtomicFile::commit() and save_artifact() call it
// after they put a target in place, so a rerun of a killed command leaves its directories as an uninterrupted
// run does. Process ids are this machine's: a temporary file of a process on another machine sharing the
// directory counts as stale, which matters only when two machines write the same target at the same time.
void remove_stale_temporaries(const std::filesystem::path& target);

// Writes text atomically (CSV tables, reports).
void write_text_atomic(const std::filesystem::path& target, const std::string& text);

}  // namespace fluxkit
