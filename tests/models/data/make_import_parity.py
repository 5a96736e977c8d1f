#!/usr/bin/python3
"""Writes the weight-import parity cases read by tests/models/test_torch_models.cpp (ImportWeights tests).

Run with Debian's python3-torch: /usr/bin/python3 tests/models/data/make_import_parity.py
For each of the Python pipeline's architectures (tests/python/seed_models.py), at reduced sizes: a state dict
saved with torch.save(model.state_dict(), "<name>_seed.pt") and "<name>_seed.io" with the inputs and the
outputs of the Python model in eval mode, one window per line: "x1 x2 ... | y" (float32, shortest repr).
Inputs are [W=4, F=14] windows (flat: 44 columns = 10 dynamic features x 4 steps + 4 static).
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from seed_models import LSTMModel, LSTMModelAttentionTemporal, MLPModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(1234)


def write(name, model, x):
    model.eval()
    with torch.no_grad():
        y = model(x)
    torch.save(model.state_dict(), os.path.join(HERE, f"{name}_seed.pt"))
    with open(os.path.join(HERE, f"{name}_seed.io"), "w") as f:
        for xi, yi in zip(x.reshape(x.shape[0], -1).numpy(), y.numpy()):
            f.write(" ".join(repr(float(np.float32(v))) for v in xi) + " | " + repr(float(np.float32(yi))) + "\n")


seq = torch.randn(16, 4, 14)
static = seq[:, 0, 10:]
flat = torch.cat([seq[:, :, :10].reshape(16, 40), static], dim=1)
write("mlp", MLPModel(44, [12, 9], 0.0), flat)
write("lstm", LSTMModel(14, 8, 2, 0.0), seq)
write("attention_lstm", LSTMModelAttentionTemporal(14, 8, 0.4), seq)
