#!/usr/bin/python3
"""The seed's LSTM and attention-LSTM trained in Python (Debian's python3-torch) the way the seed trains them
(training.py: TensorDataset + DataLoader(shuffle=True), Adam with weight decay, MSE), for one epoch on N windows
of [4, 14] float32, plus inference on all N. Prints samples/s as JSON lines.

    /usr/bin/python3 bench/train_throughput_torch.py --windows N --threads T
"""
import argparse
import json
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class LSTMModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(14, 128, num_layers=3, batch_first=True, dropout=0.0)
        self.dropout = nn.Dropout(0.0)
        self.fc1 = nn.Linear(128, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc1(self.dropout(out[:, -1, :])).squeeze(-1)


class InputAttention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.W = nn.Linear(2 * h, h)
        self.U = nn.Linear(d, h)
        self.V = nn.Linear(h, d)

    def forward(self, x_t, h, c):
        return torch.softmax(self.V(torch.tanh(self.W(torch.cat([h, c], 1)) + self.U(x_t))), dim=1)


class AttentionLSTM(nn.Module):  # without the seed's unused lstm_layer, which costs nothing at run time
    def __init__(self, d=14, h=256, p=0.4):
        super().__init__()
        self.h = h
        self.lstm_cell = nn.LSTMCell(d, h)
        self.attention = InputAttention(d, h)
        self.temporal_attention = nn.Linear(h, 1)
        self.dropout = nn.Dropout(p)
        self.fc1 = nn.Linear(h, 1)

    def forward(self, x):
        b, t, _ = x.shape
        h = torch.zeros(b, self.h)
        c = torch.zeros(b, self.h)
        hs = []
        for i in range(t):
            a = self.attention(x[:, i, :], h, c)
            h, c = self.lstm_cell(a * x[:, i, :], (h, c))
            hs.append(h)
        seq = torch.stack(hs, 1)
        beta = torch.softmax(self.temporal_attention(seq).squeeze(-1), 1)
        return self.fc1(self.dropout((beta.unsqueeze(-1) * seq).sum(1))).squeeze(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    x = torch.randn(args.windows, 4, 14)
    y = torch.randn(args.windows)
    for name, make, lr, wd in [("lstm", LSTMModel, 0.00015007036384757517, 2.939570672798765e-06),
                               ("attention_lstm", AttentionLSTM, 0.00040088682195429254, 1.0214569609572818e-05)]:
        for batch in (32, 256):
            model = make()
            opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
            loss_fn = nn.MSELoss()
            loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
            model.train()
            t0 = time.perf_counter()
            for xb, yb in loader:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
            dt = time.perf_counter() - t0
            print(json.dumps({"model": name, "batch": batch, "train_samples_per_s": args.windows / dt}), flush=True)
        model.eval()
        with torch.no_grad():
            t0 = time.perf_counter()
            for i in range(0, args.windows, 2000):  # the seed's reconstruction batch size
                model(x[i:i + 2000])
            dt = time.perf_counter() - t0
        print(json.dumps({"model": name, "predict_samples_per_s": args.windows / dt}), flush=True)


if __name__ == "__main__":
    main()
