#!/usr/bin/python3
"""The Python pipeline's models run in fluxkit with the pipeline's numbers (`fluxkit import-weights`).

A tiny model of each type is made in Debian's python3-torch / python3-xgboost and saved exactly as the
pipeline's train scripts save them (torch.save(model.state_dict()), pickle.dump(XGBRegressor)), with the
statistics pickle as its preprocessing script writes it (pandas mean/std over the training rows, NaN skipped,
pickle.dump of the dict). The XGBRegressor pickle goes through python/fluxkit/convert_pickles.py --xgboost;
a UBJ model is imported directly. `fluxkit prepare` builds a test store with `[prepare] statistics` = that
pickle, `fluxkit reconstruct` runs every imported model over it, and the reconstruction is compared with the
Python models' predictions on the same normalised inputs, to 1e-5 (normalised units). Then the bad inputs: each
fails naming the file and the cause, and writes nothing.

Usage: test_import_weights.py <fluxkit binary> <work dir>
"""
import os
import pickle
import shutil
import subprocess
import sys
import unittest

import netCDF4
import numpy as np
import pandas as pd
import torch
import xgboost as xgb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_models import LSTMModel, LSTMModelAttentionTemporal, MLPModel  # noqa: E402

FLUXKIT, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "fluxkit",
                    "convert_pickles.py")
FEATURES = ["SST", "SAL", "ice_frac", "mixed_layer_depth", "heat_flux_down", "water_flux_up", "stress_X",
            "stress_Y", "currents_X", "currents_Y", "sin_lat", "cos_lat", "sin_lon", "cos_lon"]
PREFIX = "ORCA025.L46.LIM2vp.CFCSF6.MOPS.JRA.LP04-KLP002"
CONFIG = """
[data]
root = "data"
[prepare]
output_dir = "samples"
splits = ["test"]
test_experiments = ["experiment_1"]
test_years = [2001, 2001]
test_regions = ["global"]
statistics = "training_stats.pkl"
[model.mlp]
hidden_dims = [12, 9]
[model.lstm]
hidden_dim = 8
num_layers = 2
[model.attention_lstm]
hidden_dim = 8
[train]
output_dir = "models"
[reconstruct]
models = ["mlp", "lstm", "attention_lstm", "xgboost", "xgboost_ubj"]
experiments = ["experiment_1"]
regions = ["global"]
years = [2001, 2001]
output_dir = "reconstruction"
"""
TOLERANCE = 1e-5


def path(*p):
    return os.path.join(WORK, *p)


def fluxkit(*args, check=True):
    r = subprocess.run([FLUXKIT, "--config", path("fluxkit.toml"), "--threads", "2", *args], cwd=WORK,
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"fluxkit {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r


def seed_statistics():
    """training_stats.pkl as data_preprocessing_training_validation_sets.py computes it: pandas mean and std
    (ddof 1, NaN skipped) over every ocean row (tmask == 1) of the training years, position encodings included."""
    frames = []
    for year in (2000, 2001):
        with netCDF4.Dataset(path("data", "experiment_5", f"{PREFIX}.wind_{year}.nc")) as nc:
            ocean = np.asarray(nc["tmask"][:]).astype(bool).ravel()
            lat = np.asarray(nc["nav_lat"][:], dtype=np.float64).ravel()[ocean]
            lon = np.asarray(nc["nav_lon"][:], dtype=np.float64).ravel()[ocean]
            for t in range(len(nc.dimensions["time_counter"])):
                row = {}
                for v in FEATURES[:10] + ["co2flux_pre"]:
                    row[v] = np.ma.filled(nc[v][t], np.nan).astype(np.float64).ravel()[ocean]
                row["sin_lat"], row["cos_lat"] = np.sin(np.deg2rad(lat)), np.cos(np.deg2rad(lat))
                row["sin_lon"], row["cos_lon"] = np.sin(np.deg2rad(lon)), np.cos(np.deg2rad(lon))
                frames.append(pd.DataFrame(row))
    df = pd.concat(frames, ignore_index=True)
    df.loc[5, "SST"] = np.nan  # a missing value: pandas skips it (fluxkit's own statistics drop the cell)
    return {"feature_mean": df[FEATURES].mean(), "feature_std": df[FEATURES].std(),
            "target_mean": df["co2flux_pre"].mean(), "target_std": df["co2flux_pre"].std()}


class ImportWeights(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(WORK)
        with open(path("fluxkit.toml"), "w") as f:
            f.write(CONFIG)
        subprocess.run([FLUXKIT, "synth", "ocean", "--output-dir", path("data"), "--resolution", "10",
                        "--start-year", "2000", "--end-year", "2001", "--threads", "2", "--verbosity", "warn"],
                       check=True)
        cls.stats = seed_statistics()
        with open(path("training_stats.pkl"), "wb") as f:
            pickle.dump(cls.stats, f)

        torch.manual_seed(7)
        cls.nets = {"mlp": MLPModel(44, [12, 9], 0.0), "lstm": LSTMModel(14, 8, 2, 0.0),
                    "attention_lstm": LSTMModelAttentionTemporal(14, 8, 0.4)}
        for name, net in cls.nets.items():
            net.eval()
            torch.save(net.state_dict(), path(f"{name}.pt"))

        # train_xgboost.py: XGBRegressor with the pipeline's settings (fewer, shallower trees) on float64
        # 44-column vectors, saved with pickle.dump.
        rng = np.random.default_rng(3)
        x = rng.normal(size=(400, 44))
        y = x[:, 0] - 0.5 * x[:, 13] + 0.3 * x[:, 40] + 0.1 * rng.normal(size=400)
        cls.regressor = xgb.XGBRegressor(booster="dart", n_estimators=30, max_depth=5,
                                         learning_rate=0.04292980473318146, subsample=0.5459662212041141,
                                         colsample_bytree=0.5336910753872645, gamma=0.016137253371362736,
                                         reg_lambda=0.00023498796241233066, reg_alpha=0.010524060361037127,
                                         min_child_weight=4)
        cls.regressor.fit(x, y)
        with open(path("xg_boost_with_pos_model.pkl"), "wb") as f:
            pickle.dump(cls.regressor, f)
        cls.regressor.get_booster().save_model(path("xgboost_direct.ubj"))
        r = subprocess.run([sys.executable, TOOL, "--xgboost", path("xg_boost_with_pos_model.pkl")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "44 input columns, 30 boosting rounds" in r.stdout, r.stdout

        for name, weights in (("mlp", "mlp.pt"), ("lstm", "lstm.pt"), ("attention_lstm", "attention_lstm.pt"),
                              ("xgboost", "xg_boost_with_pos_model.json"), ("xgboost_ubj", "xgboost_direct.ubj")):
            fluxkit("import-weights", "--type", name.replace("_ubj", ""), "--weights", weights, "--stats",
                    "training_stats.pkl", "--output", os.path.join("models", name))
        fluxkit("prepare")
        fluxkit("reconstruct")

    def python_predictions(self, name):
        """The Python model's normalised predictions for every window of the test store, by (cell, month)."""
        s = self.stats
        mean = s["feature_mean"][FEATURES].to_numpy()
        std = s["feature_std"][FEATURES].to_numpy()
        with netCDF4.Dataset(path("samples", "test", "experiment_1", "global",
                                  "global_test_2001_experiment_1.nc")) as nc:
            inputs = np.asarray(nc["inputs"][:], dtype=np.float32)
            ys, xs = np.asarray(nc["y"][:]), np.asarray(nc["x"][:])
            start = int(nc.getncattr("target_start"))
        # The pipeline's normalisation: float64 (x - mean) / std, then float32 for the models.
        z = ((inputs.astype(np.float64) - mean) / std).astype(np.float32)
        windows = np.stack([z[:, t - 3:t + 1, :] for t in range(start, z.shape[1])], axis=1)  # cell, month, 4, 14
        seq = windows.reshape(-1, 4, 14)
        if name in ("mlp", "xgboost", "xgboost_ubj"):
            x = np.concatenate([seq[:, :, :10].reshape(len(seq), 40), seq[:, 0, 10:]], axis=1)
            if name == "mlp":
                with torch.no_grad():
                    pred = self.nets["mlp"](torch.from_numpy(x)).numpy()
            else:
                pred = self.regressor.predict(x)  # float32 inputs, as the reconstruction scripts
        else:
            with torch.no_grad():
                pred = self.nets[name](torch.from_numpy(seq)).numpy()
        return pred.reshape(windows.shape[0], windows.shape[1]), ys, xs

    def test_reconstruction_equals_python(self):
        s = self.stats
        for name in ("mlp", "lstm", "attention_lstm", "xgboost", "xgboost_ubj"):
            with self.subTest(model=name):
                pred, ys, xs = self.python_predictions(name)
                cache = path("reconstruction", "experiment_1", "global",
                             f"{name}_global_reconstruction_2001_experiment_1.nc")
                with netCDF4.Dataset(cache) as nc:
                    rec = np.ma.filled(nc["reconstructed_co2flux_pre"][:], np.nan).astype(np.float64)
                    y0, x0 = int(nc["y_index"][0]), int(nc["x_index"][0])
                got = rec[:, ys - y0, xs - x0].T  # cell, month
                z = (got - s["target_mean"]) / s["target_std"]
                self.assertEqual(z.shape, pred.shape)
                self.assertGreater(z.size, 1000)
                self.assertFalse(np.isnan(z).any())
                # float32 cache values: allow their rounding on top of the tolerance.
                allowed = TOLERANCE + np.abs(got) * 2.0 ** -23 / s["target_std"]
                worst = np.max(np.abs(z - pred) - allowed)
                self.assertLessEqual(worst, 0, f"{name}: max |fluxkit - python| = {np.max(np.abs(z - pred))}")

    def test_artifact_holds_the_pickles_statistics(self):
        import tomllib
        with open(path("models", "lstm", "model.toml"), "rb") as f:
            info = tomllib.load(f)
        n = info["normalisation"]
        self.assertEqual(n["feature_mean"], [float(v) for v in self.stats["feature_mean"][FEATURES]])
        self.assertEqual(n["feature_std"], [float(v) for v in self.stats["feature_std"][FEATURES]])
        self.assertEqual(n["target_mean"], float(self.stats["target_mean"]))
        self.assertEqual(n["target_std"], float(self.stats["target_std"]))
        self.assertEqual(info["input"]["features"], FEATURES)

    def test_store_with_other_statistics_is_refused(self):
        """Stores prepared with other statistics (here fluxkit's own would differ the same way) are refused."""
        other = dict(self.stats, target_std=self.stats["target_std"] * 1.01)
        with open(path("other_stats.pkl"), "wb") as f:
            pickle.dump(other, f)
        fluxkit("prepare", "--set", "prepare.output_dir=samples_other", "--set", "prepare.statistics=other_stats.pkl")
        r = fluxkit("reconstruct", "--set", "prepare.output_dir=samples_other", "--set",
                    "reconstruct.output_dir=reconstruction_other", "--set", 'reconstruct.models=["mlp"]',
                    check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("normalisation statistics differ from the model's", r.stderr)
        self.assertIn("samples_other", r.stderr)

    # ---- bad inputs: a clear error naming the file and the cause, nothing written ----------------------------

    def assert_refused(self, args, file, *fragments):
        out = os.path.join("models", "refused")
        r = fluxkit("import-weights", *args, "--output", out, check=False)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn(file, r.stderr)
        for f in fragments:
            self.assertIn(f, r.stderr)
        self.assertFalse(os.path.exists(path(out)), "an artifact was written")
        leftovers = [n for n in os.listdir(path("models")) if n.startswith(".")]
        self.assertEqual(leftovers, [], "temporary files left behind")

    def test_stats_with_another_feature_count(self):
        fewer = dict(self.stats, feature_mean=self.stats["feature_mean"].drop("cos_lon"),
                     feature_std=self.stats["feature_std"].drop("cos_lon"))
        with open(path("stats_13.pkl"), "wb") as f:
            pickle.dump(fewer, f)
        self.assert_refused(["--type", "mlp", "--weights", "mlp.pt", "--stats", "stats_13.pkl"], "stats_13.pkl",
                            "statistics of 13 features", "the inputs are 14 features")

    def test_state_dict_with_a_missing_tensor(self):
        sd = self.nets["lstm"].state_dict()
        del sd["fc1.bias"]
        torch.save(sd, path("lstm_missing.pt"))
        self.assert_refused(["--type", "lstm", "--weights", "lstm_missing.pt", "--stats", "training_stats.pkl"],
                            "lstm_missing.pt", "weight 'fc1.bias' missing from the state dict")

    def test_state_dict_with_a_misshaped_tensor(self):
        torch.manual_seed(1)
        torch.save(MLPModel(44, [16, 9], 0.0).state_dict(), path("mlp_wide.pt"))
        self.assert_refused(["--type", "mlp", "--weights", "mlp_wide.pt", "--stats", "training_stats.pkl"],
                            "mlp_wide.pt", "weight 'layers.0.weight' has shape [16, 44], the model's is [12, 44]")

    def test_xgboost_with_another_column_count(self):
        rng = np.random.default_rng(4)
        narrow = xgb.XGBRegressor(n_estimators=3, max_depth=2).fit(rng.normal(size=(50, 40)), rng.normal(size=50))
        narrow.get_booster().save_model(path("narrow.json"))
        self.assert_refused(["--type", "xgboost", "--weights", "narrow.json", "--stats", "training_stats.pkl"],
                            "narrow.json", "the model takes 40 input columns", "44 columns")

    def test_xgboost_pickle_names_the_converter(self):
        self.assert_refused(["--type", "xgboost", "--weights", "xg_boost_with_pos_model.pkl", "--stats",
                             "training_stats.pkl"], "xg_boost_with_pos_model.pkl", "convert_pickles.py --xgboost")

    def test_unknown_type_lists_the_registry(self):
        r = fluxkit("import-weights", "--type", "random_forest", "--weights", "mlp.pt", "--stats",
                    "training_stats.pkl", "--output", "models/refused", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown model type 'random_forest'", r.stderr)
        for t in ("attention_lstm", "lstm", "mlp", "xgboost"):
            self.assertIn(t, r.stderr)

    def test_help_lists_the_types_and_their_files(self):
        r = subprocess.run([FLUXKIT, "import-weights", "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("a PyTorch state dict", r.stdout)
        self.assertIn("convert_pickles.py --xgboost", r.stdout)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
