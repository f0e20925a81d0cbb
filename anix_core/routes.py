"""Routes around obstacles: A* over an occupancy grid, then shortened by line of sight, so a
character sent to the fountain walks around the bench instead of stopping at it. Numpy only."""
from __future__ import annotations

import heapq
import math

import numpy as np

ROUTE_CELL_M = 0.2          # the search grid (coarser than the occupancy grid: 4x fewer cells)
_NEIGHBOURS = [(di, dj, math.hypot(di, dj)) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]


def line_is_free(grid, a, b, clearance_m: float, ignore=None, step_m: float = 0.05) -> bool:
    """Whether a body of radius `clearance_m` can move straight from xy `a` to xy `b`."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = max(2, int(math.ceil(np.hypot(*(b - a)) / step_m)) + 1)
    samples = a[None] + np.linspace(0.0, 1.0, n)[:, None] * (b - a)[None]
    return not grid.blocked(samples, clearance_m, ignore).any()


def find_route(grid, start_xy, goal_xy, clearance_m: float, ignore=None, goal_radius_m: float = 0.0,
               max_cells: int = 200_000) -> np.ndarray | None:
    """Waypoints [K,2] from `start_xy` (excluded) to `goal_xy` (the last point) whose legs keep a
    body of radius `clearance_m` off obstacles (cells in `ignore` do not count); the search ends
    at any free cell within `goal_radius_m` of the goal. None when no route exists."""
    start = np.asarray(start_xy, np.float64)[:2]
    goal = np.asarray(goal_xy, np.float64)[:2]
    if line_is_free(grid, start, goal_stop(start, goal, goal_radius_m), clearance_m, ignore):
        return goal[None].copy()
    blocked = _coarse_blocked(grid, clearance_m, ignore)
    origin = grid.origin
    nx, ny = blocked.shape

    def cell(p):
        i, j = np.floor((p - origin) / ROUTE_CELL_M).astype(int)
        return int(np.clip(i, 0, nx - 1)), int(np.clip(j, 0, ny - 1))

    def centre(c):
        return origin + (np.asarray(c) + 0.5) * ROUTE_CELL_M

    s, g = cell(start), cell(goal)
    reach = max(goal_radius_m, ROUTE_CELL_M) / ROUTE_CELL_M

    def at_goal(c):
        return math.hypot(c[0] - g[0], c[1] - g[1]) <= reach and not blocked[c]

    # A body that starts inside the dilated obstacles may step out of them first.
    frontier = [(0.0, 0.0, s)]
    came = {s: None}
    cost = {s: 0.0}
    end = None
    while frontier and len(came) < max_cells:
        _, c_cost, c = heapq.heappop(frontier)
        if c_cost > cost.get(c, math.inf):
            continue
        if at_goal(c):
            end = c
            break
        for di, dj, step in _NEIGHBOURS:
            n = (c[0] + di, c[1] + dj)
            if not (0 <= n[0] < nx and 0 <= n[1] < ny) or (blocked[n] and not blocked[c]):
                continue
            new = c_cost + step
            if new < cost.get(n, math.inf):
                cost[n] = new
                came[n] = c
                heapq.heappush(frontier, (new + math.hypot(n[0] - g[0], n[1] - g[1]), new, n))
    if end is None:
        return None
    cells = []
    while end is not None:
        cells.append(end)
        end = came[end]
    points = [centre(c) for c in reversed(cells)][1:] + [goal]
    return _shortcut(grid, start, points, clearance_m, ignore)


def goal_stop(start, goal, goal_radius_m: float) -> np.ndarray:
    """The point `goal_radius_m` short of the goal on the straight line from start."""
    d = goal - start
    dist = float(np.hypot(*d))
    if dist <= goal_radius_m or dist == 0.0:
        return start.copy()
    return goal - d / dist * goal_radius_m


def route_length(start_xy, waypoints) -> float:
    pts = np.vstack([np.asarray(start_xy, np.float64)[None, :2], np.asarray(waypoints, np.float64)])
    return float(np.hypot(*np.diff(pts, axis=0).T).sum())


def _coarse_blocked(grid, clearance_m: float, ignore) -> np.ndarray:
    """The dilated occupancy pooled to ROUTE_CELL_M cells (a coarse cell is blocked when any
    fine cell in it is)."""
    fine = grid.blocked_grid(clearance_m, ignore)
    k = max(1, int(round(ROUTE_CELL_M / grid.cell_m)))
    nx, ny = fine.shape[0] // k, fine.shape[1] // k
    return fine[:nx * k, :ny * k].reshape(nx, k, ny, k).any(axis=(1, 3))


def _shortcut(grid, start, points, clearance_m: float, ignore) -> np.ndarray:
    """Keep only the waypoints needed: from each kept point, jump to the farthest visible one."""
    out, here, i = [], start, 0
    while i < len(points):
        j = len(points) - 1
        while j > i and not line_is_free(grid, here, points[j], clearance_m, ignore):
            j -= 1
        out.append(points[j])
        here, i = points[j], j + 1
    return np.array(out)
