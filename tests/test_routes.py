"""Routes around obstacles on an occupancy grid."""
import numpy as np

from anix_core.planning import OccupancyGrid
from anix_core.routes import find_route, line_is_free, route_length


def wall_grid(gap_at_y=None):
    """A 10 m square grid (0.1 m cells, origin at (-5, -5)) with a wall along x = 0 from
    y = -4 to 4, except a 1 m gap centred at `gap_at_y`."""
    occupied = np.zeros((100, 100), bool)
    occupied[49:51, 10:90] = True
    if gap_at_y is not None:
        j = int((gap_at_y + 5) / 0.1)
        occupied[49:51, j - 5:j + 5] = False
    return OccupancyGrid(np.array([-5.0, -5.0]), 0.1, occupied, np.zeros((0, 2)))


def test_a_clear_line_is_a_single_leg():
    route = find_route(wall_grid(), np.array([-2.0, 4.6]), np.array([2.0, 4.6]), 0.2)
    np.testing.assert_allclose(route, [[2.0, 4.6]])


def test_a_wall_is_walked_around_through_its_gap_with_clearance():
    grid = wall_grid(gap_at_y=2.0)
    start, goal = np.array([-2.0, -1.0]), np.array([2.0, -1.0])
    route = find_route(grid, start, goal, 0.2)
    assert route is not None
    np.testing.assert_allclose(route[-1], goal)
    legs = np.vstack([start, route])
    assert all(line_is_free(grid, a, b, 0.2) for a, b in zip(legs[:-1], legs[1:]))
    assert any(abs(p[0]) < 0.6 and 1.4 < p[1] < 2.6 for p in route[:-1])  # through the gap
    assert route_length(start, route) < 4.0 + 2 * 3.2  # no detour beyond the gap


def test_no_route_through_a_closed_wall_stops_at_a_goal_radius_or_is_none():
    grid = wall_grid()
    # around the ends of the wall is possible (it stops at y = +-4)
    route = find_route(grid, np.array([-2.0, 0.0]), np.array([2.0, 0.0]), 0.2)
    assert route is not None and np.abs(route[:, 1]).max() > 4.0
    # boxed in: nothing
    boxed = wall_grid()
    boxed.occupied[:, 10:12] = True
    boxed.occupied[:, 88:90] = True
    boxed.occupied[10:12, :] = True
    boxed.occupied[88:90, :] = True
    assert find_route(boxed, np.array([-2.0, 0.0]), np.array([2.0, 0.0]), 0.2) is None
