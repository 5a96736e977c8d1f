// The model registry: one built-in list of types, whose plugins load only when a model is made.
#include <dlfcn.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "fluxkit/core/error.hpp"
#include "fluxkit/core/plugin.hpp"
#include "fluxkit/models/import.hpp"
#include "fluxkit/models/model.hpp"

namespace fluxkit {
namespace {

bool torch_loaded() {
  // RTLD_NOLOAD: a handle only when the library is already in the process.
  void* h = ::dlopen("libtorch_cpu.so.1.13", RTLD_NOW | RTLD_NOLOAD);
  if (h != nullptr) ::dlclose(h);
  return h != nullptr;
}

TEST(ModelRegistry, ListsEveryBuiltinTypeWithoutLoadingLibtorch) {
  const std::vector<std::string> types = registered_models();
  for (const char* t : {"attention_lstm", "lstm", "mlp", "xgboost"})
    EXPECT_NE(std::find(types.begin(), types.end(), t), types.end()) << t;
  EXPECT_FALSE(torch_loaded()) << "listing the model types must not load libtorch";
}

// Which types import weights is a property of each type in the registry, readable without loading a plugin.
TEST(ModelRegistry, ImportFormatsComeFromTheRegistry) {
  EXPECT_EQ(importable_models(), (std::vector<std::string>{"attention_lstm", "lstm", "mlp", "xgboost"}));
  EXPECT_NE(model_info("lstm").import_format.find("PyTorch state dict"), std::string::npos);
  EXPECT_NE(model_info("xgboost").import_format.find("convert_pickles.py --xgboost"), std::string::npos);
  // A type registered without an import format imports nothing.
  register_model({"constant_for_test", "a test type", WindowLayout::Flat, {}, "", ""});
  const auto types = importable_models();
  EXPECT_EQ(std::find(types.begin(), types.end(), "constant_for_test"), types.end());
  const auto all = registered_models();
  EXPECT_NE(std::find(all.begin(), all.end(), "constant_for_test"), all.end());
  EXPECT_THROW((void)model_info("random_forest"), Error);
  EXPECT_FALSE(torch_loaded()) << "reading import formats must not load libtorch";
}

TEST(ModelRegistry, UnknownTypeNamesTheKnownOnes) {
  try {
    (void)find_model("random_forest");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("random_forest"), std::string::npos) << m;
    EXPECT_NE(m.find("attention_lstm"), std::string::npos) << m;
    EXPECT_NE(m.find("xgboost"), std::string::npos) << m;
  }
}

TEST(ModelRegistry, XGBoostComesFromItsPlugin) {
  const ModelInfo& info = find_model("xgboost");
  EXPECT_EQ(info.plugin, "xgboost");
  EXPECT_TRUE(static_cast<bool>(info.factory));
  EXPECT_EQ(info.layout, WindowLayout::Flat);
  EXPECT_FALSE(torch_loaded()) << "an XGBoost model must not load libtorch";
}

TEST(Plugins, AMissingPluginIsAnErrorNamingItsFile) {
  try {
    load_plugin("no_such_plugin");
    FAIL() << "expected a FileError";
  } catch (const FileError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("libfluxkit_no_such_plugin.so"), std::string::npos) << m;
    EXPECT_NE(m.find("not installed"), std::string::npos) << m;
  }
  EXPECT_FALSE(plugin_available("no_such_plugin"));
  EXPECT_TRUE(plugin_available("xgboost"));
}

}  // namespace
}  // namespace fluxkit
