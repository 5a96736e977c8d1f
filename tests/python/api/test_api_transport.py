"""fluxkit.TransportOperator: layout, exact transposes, parity with `fluxkit transport`, a scipy inversion and
bad inputs."""
from __future__ import annotations

import csv
import io
import tarfile

import numpy as np
import pytest
import scipy.sparse.linalg as sla

import fluxkit

from conftest import fluxkit as run_fluxkit


@pytest.fixture()
def H(transport_case, chdir):
    chdir(transport_case)
    return fluxkit.TransportOperator("transport.rc", "observations.tar.gz", packed="operator.fkop", threads=2)


def test_shape_and_layout(H):
    c, t, i, j = H.fields_shape
    assert H.shape == (len(H.observations()), c * t * i * j)
    assert H.categories == ["biosphere"]
    assert (i, j) == (len(H.lats), len(H.lons))
    start, end = H.times
    assert len(start) == t and np.all(end > start)
    x = np.arange(H.shape[1], dtype=np.float64)
    f = H.to_fields(x)
    assert np.shares_memory(f, x)
    # x[((c * nt + t) * nlat + i) * nlon + j]
    assert f[0, 2, 3, 4] == ((0 * t + 2) * i + 3) * j + 4
    np.testing.assert_array_equal(H.from_fields(f), x)
    ds = H.to_dataset(x)
    assert ds["emis_biosphere"].shape == (t, i, j)


def test_adjoint_is_the_transpose(H):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, H.shape[1])
    y = rng.uniform(-1, 1, H.shape[0])
    lhs = H.matvec(x) @ y
    rhs = x @ H.rmatvec(y)
    assert abs(1 - lhs / rhs) < 1e-12
    # scipy's adjoint operator
    np.testing.assert_array_equal(H.H.matvec(y), H.rmatvec(y))
    assert H.transported.sum() > 0


def obs_table(path):
    with tarfile.open(path, "r:gz") as t:
        text = t.extractfile("observations.csv").read().decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_forward_equals_the_cli_bit_for_bit(transport_case, chdir, tmp_path):
    chdir(transport_case)
    db = tmp_path / "observations.tar.gz"
    db.write_bytes((transport_case / "observations.tar.gz").read_bytes())
    run_fluxkit("transport", "--forward", "--rc", "transport.rc", "--db", str(db), "--emis", "fluxes.nc",
                "--no-operator-cache", cwd=transport_case)
    rows = obs_table(db)
    for kwargs in ({"packed": "operator.fkop"}, {"use_cache": False}):
        H = fluxkit.TransportOperator("transport.rc", "observations.tar.gz", threads=2, **kwargs)
        x = H.vector_from_flux_file("fluxes.nc")
        y = H.forward(x)
        assert len(rows) == len(y)
        for r, v in zip(rows, y):
            expected = float(r["biosphere"]) if r["biosphere"] not in ("", "nan") else 0.0
            assert v == expected, (kwargs, r, v)


def test_results_do_not_depend_on_threads(transport_case, chdir):
    chdir(transport_case)
    a = fluxkit.TransportOperator("transport.rc", "observations.tar.gz", packed="operator.fkop", threads=1)
    b = fluxkit.TransportOperator("transport.rc", "observations.tar.gz", packed="operator.fkop", threads=2)
    x = np.random.default_rng(2).uniform(0, 1, a.shape[1])
    np.testing.assert_array_equal(a.matvec(x), b.matvec(x))
    y = np.random.default_rng(3).uniform(0, 1, a.shape[0])
    np.testing.assert_array_equal(a.rmatvec(y), b.rmatvec(y))


def test_lsqr_recovers_the_true_fluxes(H):
    """A small synthetic inversion: the fluxes are 6 unknown scaling factors of fixed patterns (two halves of
    the domain x three periods); observations made with them; lsqr on H B recovers them to 1e-6 (relative)."""
    c, t, i, j = H.fields_shape
    patterns = []
    for half in (slice(0, i // 2), slice(i // 2, i)):
        for period in np.array_split(np.arange(t), 3):
            f = np.zeros((c, t, i, j))
            f[:, period, half, :] = 1.0
            patterns.append(f.reshape(-1))
    B = np.stack(patterns, axis=1)  # [columns, 6]
    HB = sla.LinearOperator((H.shape[0], B.shape[1]), matvec=lambda z: H.matvec(B @ z),
                            rmatvec=lambda y: B.T @ H.rmatvec(y), dtype=np.float64)
    z_true = np.array([1.5, -0.3, 2.0, 0.7, 1.1, -1.2])
    y_obs = H.matvec(B @ z_true)
    # only the factors the observations see are determined
    seen = np.abs(HB.rmatvec(np.ones(H.shape[0]))) > 0
    assert seen.sum() >= 3
    z = sla.lsqr(HB, y_obs, atol=1e-14, btol=1e-14, iter_lim=500)[0]
    np.testing.assert_allclose(z[seen], z_true[seen], rtol=1e-6)
    x_hat = B[:, seen] @ z[seen]
    np.testing.assert_allclose(H.matvec(x_hat), y_obs, rtol=1e-8, atol=1e-12)


def test_bad_inputs(H):
    n, m = H.shape
    with pytest.raises(fluxkit.ShapeError, match=rf"expected shape \({m},\), got \({m - 1},\)"):
        H.forward(np.zeros(m - 1))
    with pytest.raises(ValueError, match=rf"expected shape \({n},\), got \({n + 1},\)"):
        H.adjoint(np.zeros(n + 1))
    with pytest.raises(fluxkit.ShapeError, match="expected a float64 array, got dtype int64"):
        H.forward(np.zeros(m, dtype=np.int64))
    with pytest.raises(fluxkit.ShapeError, match="not C-contiguous"):
        H.forward(np.zeros(m), out=np.zeros(2 * n)[::2])
    with pytest.raises(fluxkit.ShapeError, match=rf"expected {n} values, got shape \({n - 1},\)"):
        H.forward(np.zeros(m), out=np.zeros(n - 1))
    # a non-contiguous input is copied
    x = np.random.default_rng(4).uniform(0, 1, 2 * m)
    np.testing.assert_array_equal(H.forward(x[::2]), H.forward(np.ascontiguousarray(x[::2])))
    # into out
    out = np.empty(n)
    assert H.forward(x[:m], out=out) is not None
    np.testing.assert_array_equal(out, H.forward(x[:m]))
    with pytest.raises(fluxkit.ShapeError):
        H.to_fields(np.zeros(3))


def test_missing_files_are_file_errors(transport_case, chdir):
    chdir(transport_case)
    with pytest.raises(fluxkit.FileError, match="missing.fkop"):
        fluxkit.TransportOperator("transport.rc", "observations.tar.gz", packed="missing.fkop")
    with pytest.raises(fluxkit.Error, match="nope.rc"):
        fluxkit.TransportOperator("nope.rc", "observations.tar.gz")
