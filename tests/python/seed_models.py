"""The Python pipeline's networks, declared exactly as its modules (models/mlp.py, models/lstm.py,
models/attention_lstm.py), including the attention model's unused `lstm_layer`, so that their state dicts
have the pipeline's keys. Shared by the import tests (tests/python/test_import_weights.py) and the generator of
the unit tests' parity data (tests/models/data/make_import_parity.py). Needs Debian's python3-torch.
"""

import torch
from torch import nn


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
