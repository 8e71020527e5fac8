"""Bad measurements get specific errors and the caller's data is never modified."""
import numpy as np
import pytest

from napari_diffpr.errors import InputError
from napari_diffpr.validation import as_hologram_stack, as_rgb_stack, check_background


def test_hologram_accepts_2d_and_stacks_and_copies():
    data = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    out = as_hologram_stack(data)
    assert out.shape == (1, 64, 64) and out.dtype == np.float32
    out[:] = 0
    assert data.max() > 0
    assert as_hologram_stack(np.random.rand(3, 40, 50)).shape == (3, 40, 50)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((64,)), "2-D image"),
    (np.zeros((2, 2, 64, 64)), "2-D image"),
    (np.random.rand(20, 64), "20 x 64 pixels; at least 32"),
    (np.full((64, 64), 7.0), "constant"),
    (np.random.rand(64, 64, 3), "looks like an RGB image"),
    ([["a"]], "numeric"),
])
def test_hologram_rejections(bad, message):
    with pytest.raises(InputError, match=message):
        as_hologram_stack(bad)


def test_nan_is_counted():
    data = np.random.rand(40, 40)
    data[3, 4] = np.nan
    data[5, 6] = np.inf
    with pytest.raises(InputError, match="2 NaN or infinite"):
        as_hologram_stack(data)
    assert np.isnan(data[3, 4])


def test_rgb_shapes():
    assert as_rgb_stack(np.random.rand(40, 40, 3)).shape == (1, 40, 40, 3)
    assert as_rgb_stack(np.random.rand(2, 40, 40, 3)).shape == (2, 40, 40, 3)
    with pytest.raises(InputError, match="H x W x 3"):
        as_rgb_stack(np.random.rand(3, 40, 40))
    with pytest.raises(InputError, match="RGBA"):
        as_rgb_stack(np.random.rand(40, 40, 4))
    img = np.random.rand(40, 40, 3)
    img[..., 1] = 0.5  # an in-focus plane of a pure phase object may be flat
    assert as_rgb_stack(img).shape == (1, 40, 40, 3)
    with pytest.raises(InputError, match="constant"):
        as_rgb_stack(np.full((40, 40, 3), 0.5))


def test_background_broadcasts_one_frame_over_a_stack():
    frames = as_hologram_stack(np.random.rand(3, 40, 40))
    bg = check_background(np.random.rand(40, 40), frames)
    assert bg.shape == (3, 40, 40)
    with pytest.raises(InputError, match="same camera ROI"):
        check_background(np.random.rand(40, 41), frames)
