"""Obstacles: an occupancy grid of the dense splats standing on the ground, and free spots in
it (routes around obstacles are in anix_core.routes). Numpy only."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .ground import Ground

BAND_MIN_M, BAND_MAX_M = 0.2, 2.0      # obstacles: dense splats this high above the ground


@dataclass
class OccupancyGrid:
    """Cells of `cell_m` metres in xy; `occupied[ix, iy]` where dense splats stand between
    BAND_MIN_M and BAND_MAX_M above the ground. `origin` is the xy of cell (0,0)'s corner.
    `band_points` [M,2] are the xy of the splats that made the occupied cells; `tops` [grid
    shape] the world z of the highest dense splat standing in each cell (a pillar's top, above
    the band too), -inf where none stands: what cameras must not enter or look through."""

    origin: np.ndarray
    cell_m: float
    occupied: np.ndarray
    band_points: np.ndarray
    tops: np.ndarray | None = None
    _dilated: dict = field(default_factory=dict, repr=False)

    def cell_of(self, xy) -> tuple[np.ndarray, np.ndarray]:
        ij = np.floor((np.asarray(xy, np.float64) - self.origin) / self.cell_m).astype(np.int64)
        return ij[..., 0], ij[..., 1]

    def _lookup(self, grid: np.ndarray, xy) -> np.ndarray:
        """A boolean per-cell `grid` at xy [...,2]; False beyond the grid."""
        return self.values_at(grid, xy, outside=False, dtype=bool)

    def values_at(self, values: np.ndarray, xy, outside: float = -np.inf, dtype=np.float64) -> np.ndarray:
        """The per-cell `values` [grid shape] (such as `tops`) at xy [...,2] as `dtype`; `outside`
        beyond the grid."""
        i, j = self.cell_of(xy)
        inside = (i >= 0) & (j >= 0) & (i < values.shape[0]) & (j < values.shape[1])
        out = np.full(np.shape(i), outside, dtype)
        out[inside] = values[i[inside], j[inside]]
        return out

    def is_occupied(self, xy) -> np.ndarray:
        return self._lookup(self.occupied, xy)

    def blocked(self, xy, clearance_m: float, ignore: np.ndarray | None = None) -> np.ndarray:
        """True where a body of radius `clearance_m` centred at xy [...,2] would touch an occupied
        cell (cells in the boolean grid `ignore` do not count)."""
        return self._lookup(self.blocked_grid(clearance_m, ignore), xy)

    def blocked_grid(self, clearance_m: float, ignore: np.ndarray | None = None) -> np.ndarray:
        """The occupied cells dilated by `clearance_m` (cached per clearance and `ignore`)."""
        key = (round(clearance_m, 3), id(ignore))
        if key not in self._dilated:
            base = self.occupied if ignore is None else self.occupied & ~ignore
            self._dilated[key] = dilate_cells(base, clearance_m / self.cell_m)
        return self._dilated[key]

    def tops_near(self, radius_m: float) -> np.ndarray:
        """`tops` with each cell taking the highest top within `radius_m` of it (cached)."""
        key = ("tops", round(radius_m, 3))
        if key not in self._dilated:
            self._dilated[key] = dilate_cells(self.tops, radius_m / self.cell_m, np.maximum)
        return self._dilated[key]

    def object_at(self, xy, search_m: float = 0.6, gap_m: float = 1.0, max_radius_m: float = 4.0) -> np.ndarray | None:
        """The occupied cells [grid shape] of the object at or nearest to xy (within `search_m`):
        its connected region, where parts closer than `gap_m` to each other (a fountain's column
        and its rim) count as connected, kept within `max_radius_m` of xy. None when nothing is
        there."""
        i, j = self.cell_of(xy)
        r = int(math.ceil(max_radius_m / self.cell_m))
        i0, j0 = max(0, int(i) - r), max(0, int(j) - r)
        window = self.occupied[i0:int(i) + r + 1, j0:int(j) + r + 1]
        if window.size == 0:
            return None
        closed = dilate_cells(window, 0.5 * gap_m / self.cell_m)
        sub = OccupancyGrid(self.origin + self.cell_m * np.array([i0, j0]), self.cell_m, closed, self.band_points)
        comp = sub.component_at(xy, search_m + 0.5 * gap_m)
        if comp is None:
            return None
        out = np.zeros_like(self.occupied)
        out[i0:i0 + window.shape[0], j0:j0 + window.shape[1]] = comp & window
        return out if out.any() else None

    def component_at(self, xy, search_m: float = 0.6) -> np.ndarray | None:
        """The connected occupied region [grid shape] at or nearest to xy (within `search_m`),
        or None."""
        i, j = self.cell_of(xy)
        r = int(math.ceil(search_m / self.cell_m))
        nx, ny = self.occupied.shape
        best = None
        for di in range(-r, r + 1):
            for dj in range(-r, r + 1):
                a, b = int(i) + di, int(j) + dj
                if 0 <= a < nx and 0 <= b < ny and self.occupied[a, b]:
                    d = di * di + dj * dj
                    if best is None or d < best[0]:
                        best = (d, a, b)
        if best is None:
            return None
        comp = np.zeros_like(self.occupied)
        comp[best[1], best[2]] = True
        while True:
            grown = dilate_cells(comp, 1.5) & self.occupied
            if grown.sum() == comp.sum():
                return comp
            comp = grown

    def footprint_radius(self, center_xy, component: np.ndarray) -> float:
        """Distance from center_xy to the farthest obstacle splat of `component`."""
        pts = self.band_points
        inside = self._lookup(component, pts)
        if not inside.any():
            return 0.0
        return float(np.hypot(*(pts[inside] - np.asarray(center_xy)[:2]).T).max())


def dilate_cells(grid: np.ndarray, radius_cells: float, combine=np.logical_or) -> np.ndarray:
    """Each cell combined (`combine`, in place: logical or for occupancy, maximum for heights)
    with every cell within `radius_cells` of it."""
    r = int(math.floor(radius_cells))
    out = grid.copy()
    nx, ny = grid.shape
    for di in range(-r, r + 1):
        for dj in range(-r, r + 1):
            if (di or dj) and di * di + dj * dj <= radius_cells * radius_cells:
                src = grid[max(0, -di):nx - max(0, di), max(0, -dj):ny - max(0, dj)]
                dst = out[max(0, di):nx - max(0, -di), max(0, dj):ny - max(0, -dj)]
                combine(dst, src, out=dst)
    return out


def occupancy_grid(scene, ground: Ground, center_xy, cell_m: float = 0.1, extent_m: float = 40.0,
                   min_count: int = 3, min_opacity: float = 0.3) -> OccupancyGrid:
    """Occupancy of dense splats between 0.2 m and 2 m above `ground`, within `extent_m` of
    `center_xy` (a cell needs `min_count` splats of opacity >= `min_opacity`)."""
    center = np.asarray(center_xy, np.float64)[:2]
    origin = center - extent_m
    n = int(math.ceil(2 * extent_m / cell_m))
    occupied = np.zeros((n, n), bool)
    pts = np.zeros((0, 2))
    if scene is not None and scene.count:
        means = scene.means.astype(np.float64)
        above = means[:, 2] - ground.height_at(means[:, :2])
        keep = (above >= BAND_MIN_M) & (above <= BAND_MAX_M) & (scene.opacities() >= min_opacity)
        pts = means[keep, :2]
        ij = np.floor((pts - origin) / cell_m).astype(np.int64)
        inside = np.all((ij >= 0) & (ij < n), axis=1)
        pts, ij = pts[inside], ij[inside]
        counts = np.zeros((n, n), np.int32)
        np.add.at(counts, (ij[:, 0], ij[:, 1]), 1)
        occupied = counts >= min_count
        pts = pts[occupied[ij[:, 0], ij[:, 1]]]
        tops = _tops(means, above, scene.opacities() >= min_opacity, origin, cell_m, n, min_count)
    else:
        tops = np.full((n, n), -np.inf)
    return OccupancyGrid(origin, cell_m, occupied, pts, tops)


def _tops(means, above, dense, origin, cell_m: float, n: int, min_count: int) -> np.ndarray:
    """Per cell, the world z of the highest of its dense splats standing at least BAND_MIN_M above
    the ground (cells with fewer than `min_count` of them: -inf)."""
    keep = dense & (above >= BAND_MIN_M)
    ij = np.floor((means[keep, :2] - origin) / cell_m).astype(np.int64)
    z = means[keep, 2]
    inside = np.all((ij >= 0) & (ij < n), axis=1)
    ij, z = ij[inside], z[inside]
    counts = np.zeros((n, n), np.int32)
    np.add.at(counts, (ij[:, 0], ij[:, 1]), 1)
    tops = np.full((n, n), -np.inf)
    np.maximum.at(tops, (ij[:, 0], ij[:, 1]), z)
    tops[counts < min_count] = -np.inf
    return tops


def nearest_free(grid: OccupancyGrid, xy, clearance_m: float = 0.3, max_search_m: float = 10.0) -> np.ndarray:
    """The point nearest to xy where a body of radius `clearance_m` touches no obstacle (xy itself
    when it is free or nothing free is found within `max_search_m`)."""
    xy = np.asarray(xy, np.float64)[:2]
    if not grid.blocked(xy, clearance_m):
        return xy
    for r in np.arange(grid.cell_m, max_search_m, grid.cell_m):
        n = max(8, int(2 * math.pi * r / grid.cell_m))
        a = np.linspace(0, 2 * math.pi, n, endpoint=False)
        ring = xy + r * np.stack([np.cos(a), np.sin(a)], 1)
        free = ~grid.blocked(ring, clearance_m)
        if free.any():
            return ring[int(np.argmax(free))]
    return xy
