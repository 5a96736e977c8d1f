"""Maps on the model grid: cells drawn as quadrilaterals (pcolormesh on nav_lon/nav_lat corners), correct across
the dateline and on curvilinear ORCA grids, with land from data installed by Debian packages. Never downloads.

Longitudes are first made continuous over the grid box (unwrapped along the first row, then up every column), so
no cell spans the globe; cell corners are the means of the four surrounding centres (extrapolated at the box
edge). The mesh is drawn in the projection's own coordinates (PlateCarree centred on the region) once per
360-degree copy that overlaps the map, and the axes clip it: a cell crossing the map edge shows on both sides.
Cells whose corners still spread over more than 90 degrees of longitude (grid singularities, the ORCA north
fold) are left out.

Land: the GSHHS coarse shoreline (level 1) that Debian's python-cartopy-data installs under
/usr/share/cartopy/data, read directly from the shapefile (cartopy's own feature interface would download
Natural Earth data). Without that package, land is drawn from the grid box: cells that are no samples.
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

GSHHS_DIRS = [
    os.environ.get("FLUXKIT_GSHHS_DIR", ""),
    "/usr/share/cartopy/data/shapefiles/gshhs",
]
LAND_COLOR = "#d9d9d9"
COAST_COLOR = "#4d4d4d"


def _no_downloads():
    """Makes any cartopy download attempt an error (offline guarantee)."""
    import cartopy

    cartopy.config["downloaders"] = {}
    cartopy.config["pre_existing_data_dir"] = "/usr/share/cartopy/data"


def continuous_longitudes(lon: np.ndarray) -> np.ndarray:
    """Longitudes (degrees, 2-D) made continuous: the fullest row is unwrapped along x, then every column is
    unwrapped along y and shifted by a multiple of 360 to start within 180 degrees of that row. NaN stays NaN."""
    lon = np.asarray(lon, dtype=float)
    out = lon.copy()
    if out.ndim != 2 or out.size == 0 or not np.isfinite(out).any():
        return out
    r = int(np.argmax(np.isfinite(out).sum(axis=1)))
    ref = out[r].copy()
    ok = np.isfinite(ref)
    ref[ok] = np.rad2deg(np.unwrap(np.deg2rad(ref[ok])))
    if not ok.all():  # columns without a value in the reference row: nearest reference value
        idx = np.arange(ref.size)
        ref = np.interp(idx, idx[ok], ref[ok])
    for j in range(out.shape[1]):
        col = out[:, j]
        okc = np.isfinite(col)
        if not okc.any():
            continue
        c = np.rad2deg(np.unwrap(np.deg2rad(col[okc])))
        at = int(np.count_nonzero(okc[:r])) if okc[r] else 0  # the reference row's value, else the first
        c += 360.0 * np.round((ref[j] - c[at]) / 360.0)
        col[okc] = c
    return out


def corners(center: np.ndarray) -> np.ndarray:
    """(ny+1, nx+1) cell corners from (ny, nx) centres (ny, nx >= 2): the mean of the four centres around each
    inner corner, linear extrapolation at the edges."""
    c = np.asarray(center, dtype=float)
    p = np.empty((c.shape[0] + 2, c.shape[1] + 2))
    p[1:-1, 1:-1] = c
    p[0, 1:-1] = 2 * c[0] - c[1]
    p[-1, 1:-1] = 2 * c[-1] - c[-2]
    p[:, 0] = 2 * p[:, 1] - p[:, 2]
    p[:, -1] = 2 * p[:, -2] - p[:, -3]
    return 0.25 * (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:])


def cell_corners(lat: np.ndarray, lon: np.ndarray):
    """Corner longitudes (continuous) and latitudes, a mask of cells too distorted to draw (or without
    coordinates), and the continuous centre longitudes."""
    lat = np.asarray(lat, dtype=float)
    lon_c = continuous_longitudes(lon)
    lat_f = _fill_nan(lat)
    lon_f = _fill_nan(lon_c)
    ny, nx = lat.shape
    # A box one cell high or wide: pretend square cells to get a second row/column.
    if ny == 1 or nx == 1:
        step_x = np.nanmedian(np.abs(np.diff(lon_f, axis=1))) if nx > 1 else np.nan
        step_y = np.nanmedian(np.abs(np.diff(lat_f, axis=0))) if ny > 1 else np.nan
        step = step_x if np.isfinite(step_x) and step_x > 0 else (step_y if np.isfinite(step_y) else 1.0)
        if ny == 1:
            lat_f = np.vstack([lat_f - step, lat_f, lat_f + step])
            lon_f = np.vstack([lon_f, lon_f, lon_f])
        if nx == 1:
            lat_f = np.hstack([lat_f, lat_f, lat_f])
            lon_f = np.hstack([lon_f - step, lon_f, lon_f + step])
        clon, clat = corners(lon_f), corners(lat_f)
        ys = slice(1, 3) if ny == 1 else slice(None)
        xs = slice(1, 3) if nx == 1 else slice(None)
        clon, clat = clon[ys, xs], clat[ys, xs]
    else:
        clon, clat = corners(lon_f), corners(lat_f)
    clat = np.clip(clat, -90.0, 90.0)
    quad = [clon[:-1, :-1], clon[1:, :-1], clon[:-1, 1:], clon[1:, 1:]]
    spread = np.maximum.reduce(quad) - np.minimum.reduce(quad)
    bad = ~(spread < 90.0) | ~np.isfinite(lat) | ~np.isfinite(lon_c)
    return clon, clat, bad, lon_c


def _fill_nan(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    if np.isfinite(a).all():
        return a
    if not np.isfinite(a).any():
        return np.zeros_like(a)
    # nearest finite along rows, then columns
    for axis in (1, 0):
        b = np.moveaxis(a, axis, 0)
        n = b.shape[0]
        idx = np.where(np.isfinite(b), np.arange(n)[:, None], 0)
        np.maximum.accumulate(idx, axis=0, out=idx)
        filled = np.take_along_axis(b, idx, axis=0)
        b[:] = np.where(np.isfinite(b), b, filled)
        rev = b[::-1]
        idx = np.where(np.isfinite(rev), np.arange(n)[:, None], 0)
        np.maximum.accumulate(idx, axis=0, out=idx)
        rev[:] = np.where(np.isfinite(rev), rev, np.take_along_axis(rev, idx, axis=0))
    return np.where(np.isfinite(a), a, np.nanmean(a))


def circular_center(lon_deg: np.ndarray) -> float:
    """The longitude at the middle of the largest gap's opposite side: the centre of the cells' longitudes."""
    lon = np.sort(np.mod(np.asarray(lon_deg, dtype=float)[np.isfinite(lon_deg)], 360.0))
    if lon.size == 0:
        return 0.0
    gaps = np.diff(np.concatenate([lon, [lon[0] + 360.0]]))
    k = int(np.argmax(gaps))
    if gaps[k] < 30.0:  # nearly all longitudes: a global map centred on Greenwich
        return 0.0
    start = lon[(k + 1) % lon.size]
    end = lon[k]
    span = (end - start) % 360.0
    c = (start + span / 2.0) % 360.0
    return float(((c + 180.0) % 360.0) - 180.0)


class MapFrame:
    """The map of one region: projection, extent (in projected degrees) and the cells' geometry."""

    def __init__(self, lat: np.ndarray, lon: np.ndarray, mask: np.ndarray, pad_degrees: float = 1.5):
        import cartopy.crs as ccrs

        _no_downloads()
        self.lat = np.asarray(lat, dtype=float)
        self.lon = np.asarray(lon, dtype=float)
        self.mask = np.asarray(mask, dtype=bool)  # cells with data
        self.clon, self.clat, self.bad, self.lon_c = cell_corners(self.lat, self.lon)
        sel = self.mask & ~self.bad
        if not sel.any():
            sel = np.isfinite(self.lat) & np.isfinite(self.lon)
        self.central = circular_center(self.lon[sel])
        self.geodetic = ccrs.PlateCarree()
        x = ((self.lon[sel] - self.central + 180.0) % 360.0) - 180.0
        y = self.lat[sel]
        global_span = (np.nanmax(x) - np.nanmin(x)) > 300.0 if x.size else True
        y0, y1 = max(-90.0, np.nanmin(y) - pad_degrees), min(90.0, np.nanmax(y) + pad_degrees)
        # Polar caps (the Southern Ocean, the Arctic): a polar stereographic map, which has no dateline.
        self.polar = None
        self._polar_xy = None
        self._land_paths = None
        if global_span and y.size and np.nanmax(y) <= -30.0:  # every longitude, south of 30 S
            self.polar, self.crs = "south", ccrs.SouthPolarStereo()
            self.extent = (-180.0, 180.0, -90.0, float(y1))
        elif global_span and y.size and np.nanmin(y) >= 30.0:
            self.polar, self.crs = "north", ccrs.NorthPolarStereo()
            self.extent = (-180.0, 180.0, float(y0), 90.0)
        else:
            self.crs = ccrs.PlateCarree(central_longitude=self.central)
            if global_span:
                x0, x1 = -180.0, 180.0
            else:
                x0, x1 = max(-180.0, np.nanmin(x) - pad_degrees), min(180.0, np.nanmax(x) + pad_degrees)
            self.extent = (float(x0), float(x1), float(y0), float(y1))
            # corners in projected x (continuous; copies shifted by 360 cover the map)
            self.px = self.clon - self.central
            lo, hi = np.nanmin(self.px), np.nanmax(self.px)
            self.shifts = [k * 360.0 for k in range(-3, 4) if hi + k * 360.0 > x0 and lo + k * 360.0 < x1]

    @property
    def aspect(self) -> float:
        if self.polar:
            return 1.0
        x0, x1, y0, y1 = self.extent
        return (x1 - x0) / max(y1 - y0, 1e-6)

    def _set_extent(self, ax):
        if self.polar:
            ax.set_extent(self.extent, crs=self.geodetic)
            import matplotlib.path as mpath

            theta = np.linspace(0, 2 * np.pi, 200)
            circle = mpath.Path(np.vstack([np.sin(theta), np.cos(theta)]).T * 0.5 + 0.5)
            ax.set_boundary(circle, transform=ax.transAxes)
        else:
            ax.set_extent(self.extent, crs=self.crs)

    def pcolormesh(self, ax, values: np.ndarray, **kw):
        """Draws `values` (ny, nx) as cells; NaN and undrawable cells are transparent. Returns the mesh."""
        v = np.ma.masked_invalid(np.where(self.bad, np.nan, np.asarray(values, dtype=float)))
        if self.polar:
            if self._polar_xy is None:
                xyz = self.crs.transform_points(self.geodetic, self.clon, self.clat)
                self._polar_xy = (xyz[..., 0], xyz[..., 1])
            m = _plain_pcolormesh(ax, *self._polar_xy, v, **kw)
            self._set_extent(ax)
            return m
        first = None
        for s in self.shifts:
            m = _plain_pcolormesh(ax, self.px + s, self.clat, v, **kw)
            first = first or m
        self._set_extent(ax)
        return first

    def add_land(self, ax, fallback_mask: np.ndarray | None = None):
        """GSHHS land and shoreline; without the shapefile, the box's non-sample cells in grey."""
        from matplotlib.collections import PathCollection
        from matplotlib.transforms import Affine2D

        paths = self._land()
        if paths is not None:
            polys, lines = paths
            # Polar maps: paths in map coordinates. PlateCarree: paths in degrees, drawn shifted by -central and by
            # whole turns, like the cells (the map is linear in longitude, so no geometry is cut or projected).
            shifts = [0.0] if self.polar else [s - self.central for s in (-360.0, 0.0, 360.0)
                                                if self._overlaps(s - self.central)]
            for sh in shifts:
                tr = Affine2D().translate(sh, 0) + ax.transData
                ax.add_collection(PathCollection(polys, facecolor=LAND_COLOR, edgecolor="none", zorder=2,
                                                 transform=tr))
                ax.add_collection(PathCollection(lines, facecolor="none", edgecolor=COAST_COLOR, linewidth=0.3,
                                                 zorder=2.1, transform=tr))
        elif fallback_mask is not None:
            grey = np.where(fallback_mask, 1.0, np.nan)
            from matplotlib.colors import ListedColormap

            self.pcolormesh(ax, grey, cmap=ListedColormap([LAND_COLOR]), vmin=0, vmax=1, zorder=0)
        self._set_extent(ax)

    def _overlaps(self, shift: float) -> bool:
        x0, x1 = self.extent[0], self.extent[1]
        return -180.0 + shift < x1 and 180.0 + shift > x0

    def _land(self):
        """Land polygons and shorelines as matplotlib paths, made once per process: in degrees for PlateCarree
        maps, projected (per latitude window) for polar maps."""
        if self._land_paths is None:
            if not self.polar:
                key = ("degrees",)
                if key not in _PROJECTED_LAND:
                    _PROJECTED_LAND[key] = _land_paths_degrees()
            else:
                x0, x1, y0, y1 = self.extent
                key = (self.polar, np.floor(y0) - 2, np.ceil(y1) + 2)
                if key not in _PROJECTED_LAND:
                    _PROJECTED_LAND[key] = _project_land(self.crs, self.geodetic, key[1], key[2])
            self._land_paths = _PROJECTED_LAND[key]
        return self._land_paths

    def gridlines(self, ax, left: bool, bottom: bool):
        """Faint graticule; longitude and latitude labels as ordinary ticks on the left column and bottom row
        (PlateCarree maps; cartopy's label placement is slow and polar maps need none)."""
        import matplotlib.ticker as mticker

        style = dict(linewidth=0.3, color="#888888", alpha=0.6, linestyle=":")
        if self.polar:
            return ax.gridlines(crs=self.geodetic, draw_labels=False, **style)
        from cartopy.mpl.ticker import LatitudeFormatter, LongitudeFormatter

        x0, x1, y0, y1 = self.extent
        degree_steps = [1, 1.5, 2, 3, 4.5, 6, 10]  # 10, 15, 20, 30, 45, 60 degrees and their decades
        c = self.central
        xs = [lon - c for lon in mticker.MaxNLocator(nbins=6, steps=degree_steps).tick_values(x0 + c, x1 + c)
              if x0 <= lon - c <= x1]
        ys = [y for y in mticker.MaxNLocator(nbins=4, steps=degree_steps).tick_values(y0, y1) if y0 <= y <= y1]
        ax.set_xticks(xs)  # map coordinates: longitude - central
        ax.set_yticks(ys)
        central = self.central
        lon_fmt = LongitudeFormatter()
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(
            lambda x, pos: lon_fmt(((x + central + 180.0) % 360.0) - 180.0, pos)))
        ax.yaxis.set_major_formatter(LatitudeFormatter())
        ax.tick_params(labelsize=7, length=2, pad=1.5, labelleft=left, labelbottom=bottom)
        ax.grid(True, **style)
        self._set_extent(ax)
        return None


_PROJECTED_LAND: dict = {}


def _land_paths_degrees():
    land = land_geometries()
    if land is None:
        return None
    from cartopy.mpl.patch import geos_to_path

    polys, lines = land
    return [p for g in polys for p in geos_to_path(g)], [p for g in lines for p in geos_to_path(g)]


def _project_land(crs, geodetic, lat0, lat1):
    land = land_geometries()
    if land is None:
        return None
    from cartopy.mpl.patch import geos_to_path
    from shapely.geometry import box

    window = box(-180.0, max(-90.0, lat0), 180.0, min(90.0, lat1))
    polys, lines = land

    def project(geoms):
        out = []
        for g in geoms:
            if not g.intersects(window):
                continue
            pg = crs.project_geometry(g, geodetic)
            if not pg.is_empty:
                out += geos_to_path(pg)
        return out

    return project(polys), project(lines)


def _plain_pcolormesh(ax, x, y, v, **kw):
    """matplotlib's pcolormesh in the map's own coordinates (cartopy's version would re-check every cell for
    wrapping and redraw many polar cells one by one)."""
    from matplotlib.axes import Axes

    return Axes.pcolormesh(ax, x, y, v, shading="flat", rasterized=True, **kw)


def _shore_lines(polygon):
    """The polygon's rings without the artificial edges of the shapefile (along the dateline and the pole),
    as LineStrings."""
    from shapely.geometry import LineString

    out = []
    for ring in [polygon.exterior] + list(polygon.interiors):
        pts = np.asarray(ring.coords)
        on_dateline = np.abs(np.abs(pts[:, 0]) - 180.0) < 1e-6
        at_pole = pts[:, 1] < -89.9
        # segment k joins points k and k+1
        artificial = (on_dateline[:-1] & on_dateline[1:]) | at_pole[:-1] | at_pole[1:]
        run = [pts[0]]
        for k in range(len(pts) - 1):
            if artificial[k]:
                if len(run) >= 2:
                    out.append(LineString(run))
                run = [pts[k + 1]]
            else:
                run.append(pts[k + 1])
        if len(run) >= 2:
            out.append(LineString(run))
    return out


@lru_cache(maxsize=1)
def land_geometries():
    """(land polygons, shoreline lines) of GSHHS (coarse, level 1) from the installed shapefile, or None."""
    import logging

    logging.getLogger("shapefile").setLevel(logging.ERROR)
    for d in GSHHS_DIRS:
        if not d:
            continue
        shp = os.path.join(d, "c", "GSHHS_c_L1.shp")
        if os.path.exists(shp):
            from cartopy.io import shapereader

            polygons = []
            for g in shapereader.Reader(shp).geometries():
                polygons += list(getattr(g, "geoms", [g]))
            shores = [line for p in polygons for line in _shore_lines(p)]
            return polygons, shores
    return None
