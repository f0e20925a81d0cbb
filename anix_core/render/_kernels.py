"""Numba kernels of the CPU rasteriser: gsplat's classic 3DGS forward pass, stage by stage.

Every constant and rule follows gsplat 1.5.3 (`ProjectionEWA3DGSFused.cu`, `IntersectTile.cu`,
`RasterizeToPixels3DGSFwd.cu`, `SphericalHarmonicsCUDA.cu`):
- projection: world -> camera, near/far culling, EWA with the clamped Jacobian (x/z and y/z
  limited to the image edge plus 0.3 half-FoV tangents), eps2d low-pass on the 2D covariance,
  optional antialiasing compensation of the opacity, opacity-aware extent
  `min(3.33, sqrt(2 ln(255 opacity)))` sigma per axis, radius rounded up to whole pixels;
- binning: 16x16 tiles, each tile's list sorted front to back by camera-space z (ties by index);
- blending: alpha = min(0.999, opacity exp(-sigma)), skipped under 1/255, a pixel stops before
  the splat that would bring its transmittance to 1e-4 or below.
On top of gsplat's per-tile loop, each splat visits only the pixels of its tile that lie inside
the bounding box of its alpha >= 1/255 ellipse: pixels outside it are skipped by the rules above
anyway, so this changes the speed, not the image.

All kernels compile once and are cached on disk (`cache=True`).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

TILE = 16
ALPHA_THRESHOLD = 1.0 / 255.0
TRANSMITTANCE_MIN = 1e-4
ALPHA_MAX = 0.999
MAX_EXTEND = 3.33

# Per-splat record read by the rasteriser: one row of REC float32 (64 bytes, one cache line).
R_X, R_Y, R_CA, R_CB, R_CC, R_OPACITY, R_RGB, R_DEPTH, R_BOX_X, R_BOX_Y, R_SIGMA_MAX = 0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12
REC = 16
# sigma <= ln(255 opacity) is where alpha >= 1/255; the margin keeps row spans conservative.
SIGMA_MARGIN = 1e-3

# gsplat's SH constants (Sloan, "Efficient Spherical Harmonic Evaluation", JCGT 2013).
SH_C0 = 0.2820947917738781
SH_C1 = 0.48860251190292


@nb.njit(parallel=True, cache=True)
def activate(quats, log_scales, logit_opacities, cov_out, opacity_out):
    """World-space 3D covariance (upper triangle xx,xy,xz,yy,yz,zz) and sigmoid opacity per splat."""
    n = quats.shape[0]
    for i in nb.prange(n):
        w = np.float64(quats[i, 0])
        x = np.float64(quats[i, 1])
        y = np.float64(quats[i, 2])
        z = np.float64(quats[i, 3])
        inv = 1.0 / math.sqrt(w * w + x * x + y * y + z * z)
        w *= inv
        x *= inv
        y *= inv
        z *= inv
        r00 = 1.0 - 2.0 * (y * y + z * z)
        r01 = 2.0 * (x * y - w * z)
        r02 = 2.0 * (x * z + w * y)
        r10 = 2.0 * (x * y + w * z)
        r11 = 1.0 - 2.0 * (x * x + z * z)
        r12 = 2.0 * (y * z - w * x)
        r20 = 2.0 * (x * z - w * y)
        r21 = 2.0 * (y * z + w * x)
        r22 = 1.0 - 2.0 * (x * x + y * y)
        s0 = math.exp(np.float64(log_scales[i, 0]))
        s1 = math.exp(np.float64(log_scales[i, 1]))
        s2 = math.exp(np.float64(log_scales[i, 2]))
        # M = R S, covariance = M M^T
        m00 = r00 * s0
        m01 = r01 * s1
        m02 = r02 * s2
        m10 = r10 * s0
        m11 = r11 * s1
        m12 = r12 * s2
        m20 = r20 * s0
        m21 = r21 * s1
        m22 = r22 * s2
        cov_out[i, 0] = m00 * m00 + m01 * m01 + m02 * m02
        cov_out[i, 1] = m00 * m10 + m01 * m11 + m02 * m12
        cov_out[i, 2] = m00 * m20 + m01 * m21 + m02 * m22
        cov_out[i, 3] = m10 * m10 + m11 * m11 + m12 * m12
        cov_out[i, 4] = m10 * m20 + m11 * m21 + m12 * m22
        cov_out[i, 5] = m20 * m20 + m21 * m21 + m22 * m22
        opacity_out[i] = 1.0 / (1.0 + math.exp(-np.float64(logit_opacities[i])))


@nb.njit(cache=True, inline="always")
def _sh_channel(c, degree, x, y, z, sh0, shN, i):
    """gsplat's `sh_coeffs_to_color_fast` for channel c of splat i; (x,y,z) is a unit direction."""
    result = SH_C0 * sh0[i, c]
    if degree >= 1:
        result += SH_C1 * (-y * shN[i, 0, c] + z * shN[i, 1, c] - x * shN[i, 2, c])
        if degree >= 2:
            z2 = z * z
            fTmp0B = -1.092548430592079 * z
            fC1 = x * x - y * y
            fS1 = 2.0 * x * y
            pSH6 = 0.9461746957575601 * z2 - 0.3153915652525201
            pSH7 = fTmp0B * x
            pSH5 = fTmp0B * y
            pSH8 = 0.5462742152960395 * fC1
            pSH4 = 0.5462742152960395 * fS1
            result += (pSH4 * shN[i, 3, c] + pSH5 * shN[i, 4, c] + pSH6 * shN[i, 5, c]
                       + pSH7 * shN[i, 6, c] + pSH8 * shN[i, 7, c])
            if degree >= 3:
                fTmp0C = -2.285228997322329 * z2 + 0.4570457994644658
                fTmp1B = 1.445305721320277 * z
                fC2 = x * fC1 - y * fS1
                fS2 = x * fS1 + y * fC1
                pSH12 = z * (1.865881662950577 * z2 - 1.119528997770346)
                pSH13 = fTmp0C * x
                pSH11 = fTmp0C * y
                pSH14 = fTmp1B * fC1
                pSH10 = fTmp1B * fS1
                pSH15 = -0.5900435899266435 * fC2
                pSH9 = -0.5900435899266435 * fS2
                result += (pSH9 * shN[i, 8, c] + pSH10 * shN[i, 9, c] + pSH11 * shN[i, 10, c]
                           + pSH12 * shN[i, 11, c] + pSH13 * shN[i, 12, c]
                           + pSH14 * shN[i, 13, c] + pSH15 * shN[i, 14, c])
    return result


@nb.njit(parallel=True, cache=True)
def project(means, cov3d, opacities, sh0, shN, sh_degree,
            viewmat, fx, fy, cx, cy, width, height, near, far, eps2d, antialiased,
            tile_width, tile_height, rec, depth, rect):
    """Project every splat for one camera.

    Outputs per splat i: rec [REC] the record the rasteriser reads (see R_* indices: mean in
    pixels, conic = inverse 2D covariance (a, b, c) for a dx^2 + 2 b dx dy + c dy^2, blending
    opacity, rgb = max(SH + 0.5, 0), camera z, half extents in pixels of the alpha >= 1/255
    box); depth camera z; rect [4] = tile x0, x1, y0, y1 (end exclusive), zero when culled.
    """
    n = means.shape[0]
    campos_x = -(viewmat[0, 0] * viewmat[0, 3] + viewmat[1, 0] * viewmat[1, 3] + viewmat[2, 0] * viewmat[2, 3])
    campos_y = -(viewmat[0, 1] * viewmat[0, 3] + viewmat[1, 1] * viewmat[1, 3] + viewmat[2, 1] * viewmat[2, 3])
    campos_z = -(viewmat[0, 2] * viewmat[0, 3] + viewmat[1, 2] * viewmat[1, 3] + viewmat[2, 2] * viewmat[2, 3])
    tan_fovx = 0.5 * width / fx
    tan_fovy = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    for i in nb.prange(n):
        rect[i, 0] = 0
        rect[i, 1] = 0
        rect[i, 2] = 0
        rect[i, 3] = 0
        px = np.float64(means[i, 0])
        py = np.float64(means[i, 1])
        pz = np.float64(means[i, 2])
        z = viewmat[2, 0] * px + viewmat[2, 1] * py + viewmat[2, 2] * pz + viewmat[2, 3]
        if z < near or z > far:
            continue
        x = viewmat[0, 0] * px + viewmat[0, 1] * py + viewmat[0, 2] * pz + viewmat[0, 3]
        y = viewmat[1, 0] * px + viewmat[1, 1] * py + viewmat[1, 2] * pz + viewmat[1, 3]

        # camera-space covariance W C W^T (C symmetric, stored as its upper triangle)
        c00 = np.float64(cov3d[i, 0])
        c01 = np.float64(cov3d[i, 1])
        c02 = np.float64(cov3d[i, 2])
        c11 = np.float64(cov3d[i, 3])
        c12 = np.float64(cov3d[i, 4])
        c22 = np.float64(cov3d[i, 5])
        # A = W C (rows of W times C)
        a00 = viewmat[0, 0] * c00 + viewmat[0, 1] * c01 + viewmat[0, 2] * c02
        a01 = viewmat[0, 0] * c01 + viewmat[0, 1] * c11 + viewmat[0, 2] * c12
        a02 = viewmat[0, 0] * c02 + viewmat[0, 1] * c12 + viewmat[0, 2] * c22
        a10 = viewmat[1, 0] * c00 + viewmat[1, 1] * c01 + viewmat[1, 2] * c02
        a11 = viewmat[1, 0] * c01 + viewmat[1, 1] * c11 + viewmat[1, 2] * c12
        a12 = viewmat[1, 0] * c02 + viewmat[1, 1] * c12 + viewmat[1, 2] * c22
        a20 = viewmat[2, 0] * c00 + viewmat[2, 1] * c01 + viewmat[2, 2] * c02
        a21 = viewmat[2, 0] * c01 + viewmat[2, 1] * c11 + viewmat[2, 2] * c12
        a22 = viewmat[2, 0] * c02 + viewmat[2, 1] * c12 + viewmat[2, 2] * c22
        v00 = a00 * viewmat[0, 0] + a01 * viewmat[0, 1] + a02 * viewmat[0, 2]
        v01 = a00 * viewmat[1, 0] + a01 * viewmat[1, 1] + a02 * viewmat[1, 2]
        v02 = a00 * viewmat[2, 0] + a01 * viewmat[2, 1] + a02 * viewmat[2, 2]
        v11 = a10 * viewmat[1, 0] + a11 * viewmat[1, 1] + a12 * viewmat[1, 2]
        v12 = a10 * viewmat[2, 0] + a11 * viewmat[2, 1] + a12 * viewmat[2, 2]
        v22 = a20 * viewmat[2, 0] + a21 * viewmat[2, 1] + a22 * viewmat[2, 2]

        # EWA: J = [[fx/z, 0, -fx tx/z^2], [0, fy/z, -fy ty/z^2]] with the clamped tx, ty
        rz = 1.0 / z
        rz2 = rz * rz
        tx = z * min(lim_x_pos, max(-lim_x_neg, x * rz))
        ty = z * min(lim_y_pos, max(-lim_y_neg, y * rz))
        j00 = fx * rz
        j02 = -fx * tx * rz2
        j11 = fy * rz
        j12 = -fy * ty * rz2
        # cov2d = J V J^T
        s00 = j00 * (j00 * v00 + j02 * v02) + j02 * (j00 * v02 + j02 * v22)
        s01 = j00 * (j11 * v01 + j12 * v02) + j02 * (j11 * v12 + j12 * v22)
        s11 = j11 * (j11 * v11 + j12 * v12) + j12 * (j11 * v12 + j12 * v22)
        mx = fx * x * rz + cx
        my = fy * y * rz + cy

        det_orig = s00 * s11 - s01 * s01
        s00 += eps2d
        s11 += eps2d
        det = s00 * s11 - s01 * s01
        if det <= 0.0:
            continue
        o = np.float64(opacities[i])
        if antialiased:
            o *= math.sqrt(max(0.0, det_orig / det))
        if o < ALPHA_THRESHOLD:
            continue
        extend = min(MAX_EXTEND, math.sqrt(2.0 * math.log(o / ALPHA_THRESHOLD)))
        radius_x = math.ceil(extend * math.sqrt(s00))
        radius_y = math.ceil(extend * math.sqrt(s11))
        if radius_x <= 0.0 and radius_y <= 0.0:
            continue
        if mx + radius_x <= 0 or mx - radius_x >= width or my + radius_y <= 0 or my - radius_y >= height:
            continue
        if radius_x <= 0.0 or radius_y <= 0.0:
            continue  # gsplat's tile intersection drops these too
        tx0 = min(max(0, int(math.floor((mx - radius_x) / TILE))), tile_width)
        ty0 = min(max(0, int(math.floor((my - radius_y) / TILE))), tile_height)
        tx1 = min(max(0, int(math.ceil((mx + radius_x) / TILE))), tile_width)
        ty1 = min(max(0, int(math.ceil((my + radius_y) / TILE))), tile_height)
        if tx1 <= tx0 or ty1 <= ty0:
            continue

        inv_det = 1.0 / det
        rec[i, R_X] = mx
        rec[i, R_Y] = my
        rec[i, R_CA] = s11 * inv_det
        rec[i, R_CB] = -s01 * inv_det
        rec[i, R_CC] = s00 * inv_det
        rec[i, R_OPACITY] = o
        rec[i, R_DEPTH] = z
        depth[i] = z
        # alpha >= 1/255 needs 0.5 d^T conic d <= ln(255 o): a box of sqrt(2 ln(255 o) cov_xx);
        # a small margin keeps it conservative under rounding.
        reach = 2.0 * math.log(o / ALPHA_THRESHOLD)
        rec[i, R_SIGMA_MAX] = 0.5 * reach + SIGMA_MARGIN
        rec[i, R_BOX_X] = math.sqrt(reach * s00) * 1.001 + 0.01
        rec[i, R_BOX_Y] = math.sqrt(reach * s11) * 1.001 + 0.01

        dx = px - campos_x
        dy = py - campos_y
        dz = pz - campos_z
        norm = math.sqrt(dx * dx + dy * dy + dz * dz)
        if norm > 0.0:
            dx /= norm
            dy /= norm
            dz /= norm
        for c in range(3):
            rec[i, R_RGB + c] = max(_sh_channel(c, sh_degree, dx, dy, dz, sh0, shN, i) + 0.5, 0.0)

        rect[i, 0] = tx0
        rect[i, 1] = tx1
        rect[i, 2] = ty0
        rect[i, 3] = ty1


@nb.njit(cache=True)
def sort_visible_by_depth(rect, depth):
    """Indices of splats with a non-empty tile rect, sorted by depth (stable: ties keep index order).

    depth: float32 [N], positive wherever rect is non-empty.

    LSD radix sort on the float bits of the (positive) depths, as gsplat sorts its keys.
    """
    n = rect.shape[0]
    count = 0
    for i in range(n):
        if rect[i, 1] > rect[i, 0]:
            count += 1
    idx = np.empty(count, np.int32)
    keys = np.empty(count, np.uint32)
    bits = depth.view(np.uint32)
    k = 0
    for i in range(n):
        if rect[i, 1] > rect[i, 0]:
            idx[k] = i
            keys[k] = bits[i]
            k += 1
    idx_tmp = np.empty_like(idx)
    keys_tmp = np.empty_like(keys)
    hist = np.empty(256, np.int64)
    for shift in range(0, 32, 8):
        hist[:] = 0
        for j in range(count):
            hist[(keys[j] >> shift) & 255] += 1
        total = 0
        for b in range(256):
            c = hist[b]
            hist[b] = total
            total += c
        for j in range(count):
            b = (keys[j] >> shift) & 255
            pos = hist[b]
            hist[b] = pos + 1
            keys_tmp[pos] = keys[j]
            idx_tmp[pos] = idx[j]
        keys, keys_tmp = keys_tmp, keys
        idx, idx_tmp = idx_tmp, idx
    return idx


@nb.njit(parallel=True, cache=True)
def gather(order, rec, rect, rec_out, rect_out):
    """rec_out[j] = rec[order[j]], rect_out[j] = rect[order[j]]: records in depth order."""
    for j in nb.prange(order.shape[0]):
        g = order[j]
        for k in range(REC):
            rec_out[j, k] = rec[g, k]
        for k in range(4):
            rect_out[j, k] = rect[g, k]


@nb.njit(parallel=True, cache=True)
def bin_tiles(rect, tile_width, n_tiles, n_chunks):
    """Counting sort of (splat, tile) pairs by tile, keeping the order of `rect`'s rows.

    rect [M,4]: tile rects of splats already in depth order. Returns (offsets [n_tiles + 1],
    ids): the rows of tile t, front to back, are ids[offsets[t]:offsets[t + 1]]. Chunks of rows
    are counted and written in parallel.
    """
    n = rect.shape[0]
    counts = np.zeros((n_chunks, n_tiles), np.int64)
    step = (n + n_chunks - 1) // n_chunks
    for c in nb.prange(n_chunks):
        for j in range(c * step, min(n, (c + 1) * step)):
            for ty in range(rect[j, 2], rect[j, 3]):
                row = ty * tile_width
                for tx in range(rect[j, 0], rect[j, 1]):
                    counts[c, row + tx] += 1
    offsets = np.empty(n_tiles + 1, np.int64)
    starts = np.empty((n_chunks, n_tiles), np.int64)
    total = 0
    for t in range(n_tiles):
        offsets[t] = total
        for c in range(n_chunks):
            starts[c, t] = total
            total += counts[c, t]
    offsets[n_tiles] = total
    ids = np.empty(total, np.int32)
    for c in nb.prange(n_chunks):
        pos = starts[c]
        for j in range(c * step, min(n, (c + 1) * step)):
            for ty in range(rect[j, 2], rect[j, 3]):
                row = ty * tile_width
                for tx in range(rect[j, 0], rect[j, 1]):
                    t = row + tx
                    ids[pos[t]] = j
                    pos[t] += 1
    return offsets, ids


@nb.njit(parallel=True, cache=True, fastmath=True)
def rasterize(offsets, ids, tile_order, rec,
              width, height, tile_width, bg_r, bg_g, bg_b, out_rgb, out_alpha, out_depth):
    """Front-to-back blending per 16x16 tile; writes rgb (+ background, clamped to 1), alpha, depth."""
    for k in nb.prange(tile_order.shape[0]):
        t = tile_order[k]
        tile_y = t // tile_width
        tile_x = t - tile_y * tile_width
        x0 = tile_x * TILE
        y0 = tile_y * TILE
        x1 = min(x0 + TILE, width)
        y1 = min(y0 + TILE, height)
        tw = x1 - x0
        n_pix = tw * (y1 - y0)
        T = np.ones(TILE * TILE, np.float32)
        acc = np.zeros((TILE * TILE, 4), np.float32)
        done = np.zeros(TILE * TILE, np.bool_)
        n_done = 0
        for j in range(offsets[t], offsets[t + 1]):
            if n_done >= n_pix:
                break
            g = ids[j]
            gx = rec[g, R_X]
            gy = rec[g, R_Y]
            # pixel p has its centre at p + 0.5: keep |p + 0.5 - g| <= box
            px0 = max(x0, int(math.ceil(gx - rec[g, R_BOX_X] - 0.5)))
            px1 = min(x1 - 1, int(math.floor(gx + rec[g, R_BOX_X] - 0.5)))
            py0 = max(y0, int(math.ceil(gy - rec[g, R_BOX_Y] - 0.5)))
            py1 = min(y1 - 1, int(math.floor(gy + rec[g, R_BOX_Y] - 0.5)))
            if px1 < px0 or py1 < py0:
                continue
            ca = rec[g, R_CA]
            cb = rec[g, R_CB]
            cc = rec[g, R_CC]
            o = rec[g, R_OPACITY]
            r = rec[g, R_RGB]
            gg = rec[g, R_RGB + 1]
            b = rec[g, R_RGB + 2]
            d = rec[g, R_DEPTH]
            sigma_max = rec[g, R_SIGMA_MAX]
            inv_ca = np.float32(1.0) / ca
            for py in range(py0, py1 + 1):
                dy = gy - (np.float32(py) + np.float32(0.5))
                # the row's span of the ellipse sigma <= sigma_max, solved for dx = gx - (px + 0.5)
                disc = (cb * cb - ca * cc) * dy * dy + np.float32(2.0) * ca * sigma_max
                if disc < 0.0:
                    continue
                root = math.sqrt(disc)
                dx_lo = (-cb * dy - root) * inv_ca
                dx_hi = (-cb * dy + root) * inv_ca
                qx0 = max(px0, int(math.ceil(gx - dx_hi - np.float32(0.5) - np.float32(0.01))))
                qx1 = min(px1, int(math.floor(gx - dx_lo - np.float32(0.5) + np.float32(0.01))))
                base = (py - y0) * tw - x0
                for px in range(qx0, qx1 + 1):
                    p = base + px
                    if done[p]:
                        continue
                    dx = gx - (np.float32(px) + np.float32(0.5))
                    sigma = np.float32(0.5) * (ca * dx * dx + cc * dy * dy) + cb * dx * dy
                    alpha = min(np.float32(ALPHA_MAX), o * math.exp(-sigma))
                    if sigma < 0.0 or alpha < np.float32(ALPHA_THRESHOLD):
                        continue
                    tp = T[p]
                    next_t = tp * (np.float32(1.0) - alpha)
                    if next_t <= np.float32(TRANSMITTANCE_MIN):
                        done[p] = True
                        n_done += 1
                        continue
                    vis = alpha * tp
                    acc[p, 0] += r * vis
                    acc[p, 1] += gg * vis
                    acc[p, 2] += b * vis
                    acc[p, 3] += d * vis
                    T[p] = next_t
        for py in range(y0, y1):
            for px in range(x0, x1):
                p = (py - y0) * tw + (px - x0)
                tp = T[p]
                a = np.float32(1.0) - tp
                out_rgb[py, px, 0] = min(np.float32(1.0), acc[p, 0] + tp * bg_r)
                out_rgb[py, px, 1] = min(np.float32(1.0), acc[p, 1] + tp * bg_g)
                out_rgb[py, px, 2] = min(np.float32(1.0), acc[p, 2] + tp * bg_b)
                out_alpha[py, px] = a
                out_depth[py, px] = acc[p, 3] / max(a, np.float32(1e-10))
