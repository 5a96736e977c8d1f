#!/usr/bin/python3
"""Writes the weight-import parity cases read by tests/models/test_torch_models.cpp (ImportWeights tests).

Run with Debian's python3-torch: /usr/bin/python3 tests/models/data/make_import_parity.py
For each seed architecture (spec §4.1-§4.3, re-declared here exactly as the seed's modules, including the
attention model's unused `lstm_layer`), at reduced sizes: a state dict saved with
torch.save(model.state_dict(), "<name>_seed.pt") and "<name>_seed.io" with the inputs and the outputs of the
Python model in eval mode, one window per line: "x1 x2 ... | y" (float32, shortest repr).
Inputs are [W=4, F=14] windows (flat: 44 columns = 10 dynamic features x 4 steps + 4 static).
"""

import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(1234)


class MLPModel(nn.Module):  # models/mlp.py
    def __init__(self, input_dim, hidden_dims, dropout):
        super().__init__()
        self.layers = nn.ModuleList()
        prev = input_dim
        for h in hidden_dims:
            self.layers.append(nn.Linear(prev, h))
            prev = h
        self.dropout = nn.Dropout(dropout)
        self.output_layer = nn.Linear(prev, 1)

    def forward(self, x):
        for layer in self.layers:
            x = self.dropout(torch.relu(layer(x)))
        return self.output_layer(x).squeeze()


class LSTMModel(nn.Module):  # models/lstm.py
    def __init__(self, input_size, hidden_dim, num_layers, dropout):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_dim, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(hidden_dim, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc1(self.dropout(out[:, -1, :])).squeeze()


class InputAttention(nn.Module):
    def __init__(self, input_size, hidden_dim):
        super().__init__()
        self.W = nn.Linear(2 * hidden_dim, hidden_dim)
        self.U = nn.Linear(input_size, hidden_dim)
        self.V = nn.Linear(hidden_dim, input_size)

    def forward(self, x_t, h, c):
        e = self.V(torch.tanh(self.W(torch.cat([h, c], dim=1)) + self.U(x_t)))
        return torch.softmax(e, dim=1)


class LSTMModelAttentionTemporal(nn.Module):  # models/attention_lstm.py
    def __init__(self, input_size, hidden_dim, dropout):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.lstm_cell = nn.LSTMCell(input_size, hidden_dim)
        self.attention = InputAttention(input_size, hidden_dim)
        self.lstm_layer = nn.LSTM(hidden_dim, hidden_dim, batch_first=True)  # unused, as in the seed
        self.temporal_attention = nn.Linear(hidden_dim, 1)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(hidden_dim, 1)

    def forward(self, x):
        b, t, _ = x.shape
        h = torch.zeros(b, self.hidden_dim)
        c = torch.zeros(b, self.hidden_dim)
        hs = []
        for i in range(t):
            a = self.attention(x[:, i, :], h, c)
            h, c = self.lstm_cell(a * x[:, i, :], (h, c))
            hs.append(h)
        seq = torch.stack(hs, dim=1)
        beta = torch.softmax(self.temporal_attention(seq).squeeze(-1), dim=1)
        context = (beta.unsqueeze(-1) * seq).sum(dim=1)
        return self.fc1(self.dropout(context)).squeeze()


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
