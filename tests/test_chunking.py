"""models.chunking: the prior on overlapping windows (bounded memory on large frames)."""
import pytest
import torch

from napari_diffpr.models.chunking import chunked, window_plan, window_side


@pytest.mark.parametrize("n,max_side,overlap,mult", [(2048, 1152, 64, 16), (1000, 300, 32, 8), (100, 100, 8, 4)])
def test_windows_cover_the_frame_with_the_overlap(n, max_side, overlap, mult):
    starts = window_plan(n, max_side, overlap, mult)
    side = window_side(n, len(starts), overlap, mult)
    assert side <= max(max_side, n if len(starts) == 1 else 0)
    assert side % mult == 0 or len(starts) == 1
    assert starts[0] == 0 and starts[-1] + side == n
    assert all(a + side - b >= overlap for a, b in zip(starts, starts[1:]))


def test_small_frames_run_whole_and_unchanged():
    calls = []

    def fn(x, t):
        calls.append(tuple(x.shape))
        return x * 2

    x = torch.randn(2, 1, 64, 64)
    out = chunked(fn, max_pixels=64 * 64)(x, torch.zeros(2))
    assert calls == [(2, 1, 64, 64)]
    assert torch.equal(out, x * 2)


def test_large_frames_run_on_windows_blended_without_seams():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(1, 1, 5, padding=2, bias=False)
    shapes = []

    def fn(x, t):
        shapes.append(tuple(x.shape[-2:]))
        return conv(x)

    x = torch.randn(1, 1, 200, 168)
    with torch.no_grad():
        whole = conv(x)
        out = chunked(fn, max_pixels=96 * 96, overlap=24, multiple=8)(x, torch.zeros(1))
    assert len(shapes) > 1 and all(h * w <= 96 * 96 and h % 8 == 0 and w % 8 == 0 for h, w in shapes)
    # a local operator: the windows agree exactly except within 2 px (the kernel's reach) of
    # an edge of a window inside the frame, where the blend weight is small
    near_edge = torch.zeros(200, 168, dtype=torch.bool)
    for axis, n in ((0, 200), (1, 168)):
        starts = window_plan(n, 96, 24, 8)
        side = window_side(n, len(starts), 24, 8)
        for s0 in starts:
            for e in (s0, s0 + side):
                if 0 < e < n:
                    sl = slice(max(0, e - 2), e + 2)
                    if axis == 0:
                        near_edge[sl, :] = True
                    else:
                        near_edge[:, sl] = True
    err = (out - whole).abs()[0, 0]
    assert float(err[~near_edge].max()) < 1e-5
    assert float(err.max()) < 0.05 * float(whole.abs().max())
