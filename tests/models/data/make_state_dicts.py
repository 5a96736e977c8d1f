#!/usr/bin/python3
"""Writes the PyTorch state-dict test files read by tests/models/test_pytorch_state_dict.cpp.

Run with Debian's python3-torch (1.13): /usr/bin/python3 tests/models/data/make_state_dicts.py
The files are committed; re-running with the same torch rewrites them identically (except legacy.pt, whose
storage keys are memory addresses).

For the readable <name>.pt there is <name>.expected (mlp_protocol4.pt and mlp_zip64.pt share mlp.expected),
one line per state-dict entry in file order:
    key|dtype|shape|values
shape and values are space-separated; values are the entries converted to float32, row-major, printed as the
shortest decimal that reads back to the same float32 (strtof). A 0-d tensor has an empty shape.
The other files are for the error tests.
"""

import collections
import os
import struct
import zipfile

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def expected_line(key, value):
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        shape = list(value.shape)
        values = value.detach().to(torch.float32).contiguous().flatten().tolist()
    else:  # a Python number
        dtype = {bool: "bool", int: "int64", float: "float64"}[type(value)]
        shape = []
        values = [float(np.float32(value))]
    text = [str(np.float32(v)) for v in values]
    for s, v in zip(text, values):
        assert np.float32(s) == np.float32(v), (key, s, v)
    return "{}|{}|{}|{}".format(key, dtype, " ".join(map(str, shape)), " ".join(text))


def save(obj, name, expected=True, **kwargs):
    torch.save(obj, path(name + ".pt"), **kwargs)
    if expected:
        with open(path(name + ".expected"), "w") as f:
            for key, value in obj.items():
                f.write(expected_line(key, value) + "\n")
    check_round_trip(name + ".pt", obj)


def check_round_trip(file, obj):
    loaded = torch.load(path(file))
    assert list(loaded.keys()) == list(obj.keys()), file
    for key, value in obj.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(loaded[key], value), (file, key)
        else:
            assert loaded[key] == value, (file, key)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 5), nn.Linear(5, 3)])
        self.output_layer = nn.Linear(3, 1)


class LstmModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True)
        self.fc1 = nn.Linear(4, 1)


class Attention(nn.Module):
    def __init__(self, hidden, features):
        super().__init__()
        self.W = nn.Linear(hidden, hidden)
        self.U = nn.Linear(features, hidden)
        self.V = nn.Linear(hidden, 1)


class AttentionLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm_cell = nn.LSTMCell(3, 4)
        self.attention = Attention(4, 3)
        self.lstm_layer = nn.LSTM(3, 4, batch_first=True)  # unused in forward, still in the state dict
        self.fc = nn.Linear(4, 1)


def fixed_info(name, compression=zipfile.ZIP_STORED):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible files
    info.compress_type = compression
    return info


def rezip(src, dst, keep=lambda name: True, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path(src)) as zin, zipfile.ZipFile(path(dst), "w", compression) as zout:
        for info in zin.infolist():
            if keep(info.filename):
                zout.writestr(fixed_info(info.filename, compression), zin.read(info.filename))


def write_zip64(src, dst):
    """Rewrites src with ZIP64 records everywhere (what miniz writes for archives over 4 GiB)."""
    out, central = bytearray(), bytearray()
    with zipfile.ZipFile(path(src)) as zin:
        infos = zin.infolist()
        for info in infos:
            data = zin.read(info.filename)
            name = info.filename.encode()
            offset = len(out)
            extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, info.CRC, 0xFFFFFFFF,
                               0xFFFFFFFF, len(name), len(extra)) + name + extra + data
            cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, info.CRC,
                                   0xFFFFFFFF, 0xFFFFFFFF, len(name), len(cextra), 0, 0, 0, 0,
                                   0xFFFFFFFF) + name + cextra
    cd_offset = len(out)
    out += central
    zip64_end = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(infos), len(infos), len(central),
                       cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path(dst), "wb") as f:
        f.write(out)
    with zipfile.ZipFile(path(dst)) as z:
        assert z.testzip() is None


def main():
    # (a) MLP 4 -> 5 -> 3 -> 1.
    torch.manual_seed(0)
    mlp = Mlp().state_dict()
    save(mlp, "mlp")
    # The same with pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL), checked against
    # mlp.expected.
    save(mlp, "mlp_protocol4", expected=False, pickle_protocol=4)
    # (e) A plain dict instead of the OrderedDict.
    save({k: v for k, v in mlp.items()}, "plain_dict")

    # (b) Two-layer LSTM and a linear head.
    torch.manual_seed(1)
    save(LstmModel().state_dict(), "lstm")

    # (c) Attention LSTM.
    torch.manual_seed(2)
    save(AttentionLstm().state_dict(), "attention_lstm")

    # (d) Dtypes, views sharing a storage, BatchNorm buffers, a Parameter, Python numbers.
    torch.manual_seed(3)
    base = torch.randn(4, 3)
    bn = nn.BatchNorm1d(2)
    bn.train()
    bn(torch.randn(5, 2))  # num_batches_tracked = 1, running stats move
    d = collections.OrderedDict()
    d["float64"] = torch.randn(2, 3, dtype=torch.float64)
    d["int64"] = torch.tensor([[-3, 0], [7, 2**40]], dtype=torch.int64)
    d["int32"] = torch.tensor([-5, 6], dtype=torch.int32)
    d["int16"] = torch.tensor([-300], dtype=torch.int16)
    d["int8"] = torch.tensor([-128, 127], dtype=torch.int8)
    d["uint8"] = torch.tensor([0, 255], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["float16"] = torch.tensor([1.5, -2.0e-6, 65504.0, 0.1], dtype=torch.float16)
    d["bfloat16"] = torch.tensor([1.5, -3.1e-20, 0.1], dtype=torch.bfloat16)
    d["base"] = base
    d["row_view"] = base[2]  # storage offset 6 into base's storage
    d["tail_view"] = base[1:]  # offset 3, contiguous
    d["scalar"] = torch.tensor(2.5)
    d["empty"] = torch.zeros(0, 3)
    d["parameter"] = nn.Parameter(torch.tensor([0.25, -0.75]))
    for k, v in bn.state_dict().items():
        d["bn." + k] = v
    d["py_int"] = 7
    d["py_big_int"] = 2**40
    d["py_float"] = 0.1
    d["py_bool"] = True
    save(d, "dtypes_views")

    # Error cases.
    # A transposed view: torch.save keeps the storage and the strides (1, 3); fluxkit rejects it.
    torch.save({"ok": torch.ones(2), "transposed": torch.arange(6.0).reshape(2, 3).t()},
               path("noncontiguous.pt"))
    # (f) The legacy (pre-1.6) format.
    torch.save(mlp, path("legacy.pt"), _use_new_zipfile_serialization=False)
    # Readers of the archive itself.
    write_zip64("mlp.pt", "mlp_zip64.pt")
    check_round_trip("mlp_zip64.pt", mlp)
    rezip("mlp.pt", "compressed.pt", compression=zipfile.ZIP_DEFLATED)
    rezip("mlp.pt", "missing_storage.pt", keep=lambda name: name != "mlp/data/1")
    with zipfile.ZipFile(path("no_data_pkl.zip"), "w") as z:
        z.writestr(fixed_info("archive/version"), "3\n")
    # Outside the supported pickle subset.
    torch.save({"w": torch.ones(2), "sparse": torch.eye(2).to_sparse()}, path("unsupported_global.pt"))
    torch.save({"w": torch.ones(2), "complex": torch.ones(2, dtype=torch.complex64)},
               path("unsupported_dtype.pt"))
    torch.save({"w": torch.ones(2), "classes": {1, 2}}, path("unsupported_opcode.pt"), pickle_protocol=4)
    torch.save({"model": mlp, "epoch": 3}, path("checkpoint.pt"))


if __name__ == "__main__":
    main()
