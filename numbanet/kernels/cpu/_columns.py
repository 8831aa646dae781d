"""The copies behind im2col and col2im (conv2d.py), one image at a time, for the convolution kernels that
share them (conv2d.py, conv2d_pool.py). `geometry` as in conv2d.py: (sh, sw, pt, pl, dh, dw) spelt out."""
from numbanet.kernels.cpu._jit import njit


@njit(cache=True)
def im2col_rows(col, inp, n, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw):
    # Flat offsets rather than slices: a first layer (C = 1) copies single values, and a slice per value
    # cost more than the copy.
    H, W, C = inp.shape[1], inp.shape[2], inp.shape[3]
    src = inp.reshape(inp.size)
    dst = col.reshape(col.size)
    span = KW * C
    depth = KH * span
    for y in range(Ho):
        for x in range(Wo):
            base = ((n * Ho + y) * Wo + x) * depth
            ix0 = x * sw - pl
            inside = ix0 >= 0 and ix0 + (KW - 1) * dw < W
            for ky in range(KH):
                iy = y * sh - pt + ky * dh
                at = base + ky * span
                if iy < 0 or iy >= H:
                    for j in range(span):
                        dst[at + j] = 0.0
                elif inside and dw == 1:
                    # The whole kernel row lies in the image: KW * C adjacent values.
                    start = ((n * H + iy) * W + ix0) * C
                    d = dst[at:at + span]
                    v = src[start:start + span]
                    for j in range(span):
                        d[j] = v[j]
                else:
                    for kx in range(KW):
                        ix = ix0 + kx * dw
                        if 0 <= ix < W:
                            start = ((n * H + iy) * W + ix) * C
                            for c in range(C):
                                dst[at + kx * C + c] = src[start + c]
                        else:
                            for c in range(C):
                                dst[at + kx * C + c] = 0.0


@njit(cache=True)
def col2im_image(img, cols, Ho, Wo, KH, KW, sh, sw, pt, pl, dh, dw):
    # img (H,W,C) = the sum of one image's column values cols (Ho*Wo, KH*KW*C) over the cells they came from.
    # Flat offsets, as in im2col_rows, and a kernel row that lies inside the image as one run of KW * C
    # values: a slice per tap cost more than its C additions. Each cell adds in (y, x, ky, kx) order.
    H, W, C = img.shape
    dst = img.reshape(img.size)
    for i in range(dst.size):
        dst[i] = 0.0
    span = KW * C
    for y in range(Ho):
        for x in range(Wo):
            row = cols[y * Wo + x]
            ix0 = x * sw - pl
            inside = ix0 >= 0 and ix0 + (KW - 1) * dw < W
            for ky in range(KH):
                iy = y * sh - pt + ky * dh
                if iy < 0 or iy >= H:
                    continue
                at = ky * span
                if inside and dw == 1:
                    start = (iy * W + ix0) * C
                    d = dst[start:start + span]
                    v = row[at:at + span]
                    for j in range(span):
                        d[j] += v[j]
                else:
                    for kx in range(KW):
                        ix = ix0 + kx * dw
                        if 0 <= ix < W:
                            start = (iy * W + ix) * C
                            for c in range(C):
                                dst[start + c] += row[at + kx * C + c]
