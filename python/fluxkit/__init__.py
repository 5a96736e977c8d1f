"""fluxkit's Python layer.

The science runs in the C++ `fluxkit` program; Python is used only where the ecosystem has no C++ equal:
the Optuna tuning driver, matplotlib/cartopy figures and, later, pybind11 bindings. Every file fluxkit
writes is CF-1.8 netCDF or CSV, so it opens directly in xarray/pandas.
"""

__all__ = []
