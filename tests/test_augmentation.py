"""random_shift against a per-image numpy reference."""
import numpy as np
import pytest

from numbanet.augmentation import random_shift


def _shifted(image, dy, dx):
    # The reference: one image moved by (dy, dx) with a plain double loop.
    out = np.zeros_like(image)
    H, W = image.shape[:2]
    for y in range(H):
        for x in range(W):
            if 0 <= y - dy < H and 0 <= x - dx < W:
                out[y, x] = image[y - dy, x - dx]
    return out


def _offsets(images, out, r):
    # The offset each output image was moved by; each must be exactly one shift of its input.
    found = []
    for image, moved in zip(images, out):
        hits = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)
                if np.array_equal(_shifted(image, dy, dx), moved)]
        assert len(hits) == 1, hits
        found.append(hits[0])
    return found


@pytest.mark.parametrize('shape,r', [((300, 7, 9), 2), ((200, 5, 6, 3), 1), ((400, 3, 3), 2)])
def test_random_shift_moves_each_image_by_one_offset(rng, shape, r):
    images = rng.integers(1, 255, shape).astype(np.uint8)  # no zero pixels: every offset is distinguishable
    out = random_shift(images, r, rng)
    assert out.shape == images.shape and out.dtype == images.dtype
    offsets = _offsets(images, out, r)
    assert len(set(offsets)) == (2 * r + 1) ** 2  # every offset is drawn at these sizes


def test_random_shift_repeats_from_a_seed_and_leaves_its_input(rng):
    images = rng.random((40, 6, 5)).astype(np.float32)
    before = images.copy()
    np.testing.assert_array_equal(random_shift(images, 1, 7), random_shift(images, 1, 7))
    assert not np.array_equal(random_shift(images, 1, 7), random_shift(images, 1, 8))
    np.testing.assert_array_equal(random_shift(images, 0, 7), images)
    np.testing.assert_array_equal(images, before)


@pytest.mark.parametrize('images,r,match', [
    (np.zeros((4, 16)), 1, 'shaped'), (np.zeros((4, 5, 5)), -1, 'non-negative'), (np.zeros((4, 5, 5)), 1.5, 'int'),
    (np.zeros((4, 5, 5)), True, 'int'), (np.zeros((4, 3, 8)), 3, 'smaller than the image')])
def test_random_shift_refuses_bad_arguments(images, r, match):
    with pytest.raises(ValueError, match=match):
        random_shift(images, r)
