"""Cell phantoms: seeded, varied, zero background, positive cells, plausible phase."""
import numpy as np
import pytest
import torch

from napari_diffpr import simulate
from napari_diffpr.errors import ParameterError
from napari_diffpr.optics.phantoms import KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_reproducible_and_seed_dependent(kind):
    a = simulate.phantom((96, 80), kind, seed=3)
    b = simulate.phantom((96, 80), kind, seed=3)
    c = simulate.phantom((96, 80), kind, seed=4)
    assert a.shape == (96, 80) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kind", KINDS)
def test_background_exactly_zero_cells_positive_peak_in_range(kind):
    p = simulate.phantom(128, kind, seed=1)
    assert p.min() == 0.0  # never negative
    cells = p > 0
    assert 0.02 < cells.mean() < 0.9  # some cells, some background
    assert (p == 0).mean() > 0.1      # the background is exactly zero, not merely small
    assert 1.0 <= p.max() <= 6.0      # like real cells at 532–633 nm


def test_cells_have_texture_and_nuclei_but_beads_are_smooth():
    def roughness(p):
        # mean |Laplacian| inside the objects relative to their mean phase
        lap = np.abs(4 * p[1:-1, 1:-1] - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:])
        inner = p[1:-1, 1:-1] > 0.3 * p.max()
        return lap[inner].mean() / p[1:-1, 1:-1][inner].mean()

    cell = np.mean([roughness(simulate.phantom(128, "bcell", seed=s)) for s in range(3)])
    bead = np.mean([roughness(simulate.phantom(128, "beads", seed=s)) for s in range(3)])
    assert cell > 3 * bead


def test_max_phase_sets_the_peak():
    p = simulate.phantom(64, "hela", seed=0, max_phase=2.5)
    assert p.max() == pytest.approx(2.5, rel=1e-5)


def test_batch_shape_device_seed_and_kinds():
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = simulate.phantom_batch(5, 64, generator=g1)
    b = simulate.phantom_batch(5, 64, generator=g2)
    assert a.shape == (5, 1, 64, 64) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])  # samples differ within a batch
    assert (a >= 0).all() and torch.isfinite(a).all()
    beads = simulate.phantom_batch(3, (48, 64), kinds="beads", generator=g1)
    assert beads.shape == (3, 1, 48, 64)
    two = simulate.phantom_batch(4, 64, kinds=["wbc", "3t3"], generator=g1)
    assert (two.flatten(1).amax(1) > 0).all()


def _cells(batch):
    """(cell count, median cell area in px) over a batch (n, 1, H, W)."""
    from scipy import ndimage as ndi

    counts, areas = [], []
    for img in batch[:, 0].numpy():
        lab, n = ndi.label(img > 0)
        counts.append(n)
        areas.extend(np.bincount(lab.ravel())[1:].tolist())
    return float(np.mean(counts)), float(np.median(areas))


def test_reference_size_keeps_cells_their_size_and_fills_a_larger_field_with_more():
    small = simulate.phantom_batch(12, 64, kinds="bcell", generator=torch.Generator().manual_seed(3),
                                   reference_size=64)
    large = simulate.phantom_batch(12, 192, kinds="bcell", generator=torch.Generator().manual_seed(3),
                                   reference_size=64)
    default_large = simulate.phantom_batch(12, 192, kinds="bcell", generator=torch.Generator().manual_seed(3))
    (n_small, a_small), (n_large, a_large), (_, a_default) = _cells(small), _cells(large), _cells(default_large)
    assert n_large > 4 * n_small               # 9x the area: many more cells ...
    assert 0.6 < a_large / a_small < 1.6       # ... of the same size
    assert a_default > 5 * a_small             # without it, radii follow the image size
    assert torch.equal(simulate.phantom_batch(2, 64, generator=torch.Generator().manual_seed(1)),
                       simulate.phantom_batch(2, 64, generator=torch.Generator().manual_seed(1),
                                              reference_size=None))


def test_bad_arguments():
    with pytest.raises(ParameterError, match="kind"):
        simulate.phantom(64, "neuron")
    with pytest.raises(ParameterError, match="too small"):
        simulate.phantom((4, 64))
    with pytest.raises(ParameterError, match="max_phase"):
        simulate.phantom(64, max_phase=-1.0)
    with pytest.raises(ParameterError, match="max_phase"):
        simulate.phantom(64, max_phase=float("nan"))
    with pytest.raises(ParameterError, match="seed"):
        simulate.phantom(64, seed=1.5)
    with pytest.raises(ParameterError, match="positive integer"):
        simulate.phantom_batch(0, 64)
    with pytest.raises(ParameterError, match="reference_size"):
        simulate.phantom_batch(1, 64, reference_size=0)
    with pytest.raises(ParameterError, match="kind"):
        simulate.phantom_batch(2, 64, kinds=["bcell", "yeast"])
