// Errors. Every failure a user can cause (bad config, bad input file) is reported as a fluxkit::Error whose
// message names where the problem is (file, variable or config key) and what was expected. The CLI prints the
// message and exits non-zero; library code never prints and continues.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace fluxkit {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A problem with an input or output file: "<file>: variable '<var>': <problem>".
class FileError : public Error {
 public:
  FileError(std::string file, std::string variable, const std::string& problem)
      : Error(compose(file, variable, problem)), file_(std::move(file)), variable_(std::move(variable)) {}
  const std::string& file() const { return file_; }
  const std::string& variable() const { return variable_; }

 private:
  static std::string compose(const std::string& file, const std::string& variable,
                             const std::string& problem) {
    if (variable.empty()) return fmt::format("{}: {}", file, problem);
    return fmt::format("{}: variable '{}': {}", file, variable, problem);
  }
  std::string file_;
  std::string variable_;
};

// A problem with the pipeline configuration: "config <source>: key '<section.key>': <problem>".
class ConfigError : public Error {
 public:
  ConfigError(std::string source, std::string key, const std::string& problem)
      : Error(fmt::format("config {}: key '{}': {}", source, key, problem)), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

// A training that produced no finite loss at all (diverged from its first epoch or boosting round). A tuning
// trial records it as failed and the study goes on; `fluxkit train` reports it like any error.
class DivergedError : public Error {
 public:
  using Error::Error;
};

}  // namespace fluxkit
