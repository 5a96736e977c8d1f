#!/usr/bin/python3
"""One training epoch of the thesis code's own `training.train_model`, on a fluxkit training store.

Imports the thesis checkout given by --seed-dir (its `training.py`, `dataset.py`, `models/` and `configs/`),
turns the windows of a fluxkit training and validation store into its `Sample(features, target, meta)` lists
(normalised with the stores' statistics, as its preprocessing does), builds its datasets, loaders, model,
criterion and optimiser exactly as its `train_<model>.py` scripts do, and times `train_model` for one epoch
(training pass plus validation pass). Nothing of the thesis code is changed; only the epoch count, the batch
size and the thread count are set from the command line.

Prints one JSON line: model, batch, windows, wall seconds of the epoch, user and system CPU seconds of it.

    /usr/bin/python3 bench/seed_train_epoch.py --seed-dir DIR --train train.nc --validation validation.nc \\
        --model lstm --batch 32 --threads 2
"""
import argparse
import json
import resource
import sys
import time
from collections import namedtuple

import netCDF4
import numpy as np


def windows(path):
    """Normalised [N, W, F] float32 windows and [N] targets of a fluxkit store, cell by cell."""
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_mask(False)
        inputs = np.asarray(ds["inputs"][:], dtype=np.float64)
        target = np.asarray(ds["target"][:], dtype=np.float64)
        fm, fs = np.asarray(ds["feature_mean"][:]), np.asarray(ds["feature_std"][:])
        tm, ts = float(ds["target_mean"][...]), float(ds["target_std"][...])
        w, lead, start = int(ds.window), int(ds.lead), int(ds.target_start)
    x = ((inputs - fm) / fs).astype(np.float32)
    y = ((target - tm) / ts).astype(np.float32)
    cells, months = y.shape
    ts_ = np.arange(start, months)
    idx = ts_[:, None] - lead - w + 1 + np.arange(w)[None, :]  # [T', W] input months per target month
    xs = x[:, idx, :].reshape(cells * len(ts_), w, x.shape[2])
    ys = y[:, ts_].reshape(-1)
    return xs, ys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed-dir", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--validation", required=True)
    ap.add_argument("--model", required=True, choices=["mlp", "lstm", "attention_lstm"])
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.seed_dir)

    import torch
    import torch.nn as nn
    import torch.optim as optim
    from torch.utils.data import DataLoader

    import dataset
    from training import train_model

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    Sample = namedtuple("Sample", ["features", "target", "meta"])
    sets = []
    for path in (a.train, a.validation):
        xs, ys = windows(path)
        sets.append([Sample(xs[i], np.float32(ys[i]), {}) for i in range(len(ys))])
    train_samples, val_samples = sets

    if a.model == "mlp":
        from configs.mlp_config import HPARAMS_MLP as hp
        from models.mlp import MLPModel
        make_set = dataset.MLPDatasetWithPos
        model = MLPModel(input_dim=hp["input_dim"], hidden_dims=hp["hidden_dims"], dropout=hp["dropout"])
    elif a.model == "lstm":
        from configs.lstm_config import HPARAMS_LSTM as hp
        from models.lstm import LSTMModel
        make_set = dataset.PointwiseSampleDataset
        model = LSTMModel(input_size=hp["input_size"], hidden_dim=hp["hidden_dim"],
                          num_layers=hp["num_layers"], dropout=hp["dropout"])
    else:
        from configs.attention_lstm_config import HPARAMS_Attention_LSTM as hp
        from models.attention_lstm import LSTMModelAttentionTemporal
        make_set = dataset.PointwiseSampleDataset
        model = LSTMModelAttentionTemporal(input_size=hp["input_size"], hidden_dim=hp["hidden_dim"], dropout=hp["dropout"])

    train_loader = DataLoader(make_set(train_samples), batch_size=a.batch, shuffle=True)
    val_loader = DataLoader(make_set(val_samples), batch_size=a.batch, shuffle=False)
    optimizer = optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])

    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    train_model(model=model, train_loader=train_loader, val_loader=val_loader, criterion=nn.MSELoss(),
                optimizer=optimizer, num_epochs=1, patience=1, device=torch.device("cpu"))
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"model": a.model, "batch": a.batch, "windows": len(train_samples),
                      "wall_s": t1 - t0, "user_s": r1.ru_utime - r0.ru_utime,
                      "sys_s": r1.ru_stime - r0.ru_stime}))


if __name__ == "__main__":
    main()
