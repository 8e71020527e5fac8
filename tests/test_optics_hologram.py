"""Off-axis hologram forward model: carrier position and sign convention, visibility, noise,
bit depth, background, ground truth, batches and bad arguments."""
import numpy as np
import pytest
import torch

from napari_diffpr import simulate
from napari_diffpr.errors import InputError, ParameterError

SIZE = 64


def bump(size=SIZE, height=2.0, width=None):
    y, x = np.mgrid[:size, :size].astype(np.float32)
    width = width or size / 8
    return (height * np.exp(-((x - size / 2) ** 2 + (y - size / 2) ** 2) / (2 * width ** 2))).astype(np.float32)


def spectrum_peak(img, exclude_radius):
    """(fy, fx) in np.fft.fftfreq cycles/pixel of the strongest non-DC spectral peak."""
    spec = np.abs(np.fft.fft2(img - img.mean()))
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.fftfreq(img.shape[1])[None, :]
    spec[fy ** 2 + fx ** 2 < exclude_radius ** 2] = 0
    iy, ix = np.unravel_index(np.argmax(spec), spec.shape)
    return np.fft.fftfreq(img.shape[0])[iy], np.fft.fftfreq(img.shape[1])[ix]


def demodulate(holo, carrier, radius):
    """Ideal retrieval: keep a disk of ``radius`` around (−fy, −fx) and multiply by R."""
    h, w = holo.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    cy, cx = carrier
    dy = (fy + cy + 0.5) % 1.0 - 0.5  # distance to −carrier, wrapped
    dx = (fx + cx + 0.5) % 1.0 - 0.5
    side = np.fft.ifft2(np.fft.fft2(holo) * (dy ** 2 + dx ** 2 <= radius ** 2))
    y, x = np.mgrid[:h, :w]
    return side * np.exp(2j * np.pi * (cy * y + cx * x))


# carriers on FFT bins of a 64-pixel frame, in every direction: along x, along y, negative, oblique
BIN_CARRIERS = [(0.0, 0.25), (0.25, 0.0), (0.0, -0.3125), (-0.25, 0.0),
                (0.1875, 0.125), (-0.15625, 0.21875), (-0.1875, -0.1875)]


@pytest.mark.parametrize("carrier", BIN_CARRIERS + [(0.13, -0.21), (-0.07, -0.29)])
def test_spectrum_peaks_at_plus_minus_carrier(carrier):
    s = simulate.hologram(bump(), carrier=carrier, photons=None, bit_depth=None)
    fy, fx = spectrum_peak(s.hologram, exclude_radius=0.05)
    # the two sidebands have equal magnitude: the peak is at +carrier or −carrier (nearest bin)
    near = min(np.hypot(fy - sgn * carrier[0], fx - sgn * carrier[1]) for sgn in (1, -1))
    assert near <= np.sqrt(2) / SIZE / 2 + 1e-9
    assert s.meta["sideband_object_fftfreq"] == (-carrier[0], -carrier[1])


@pytest.mark.parametrize("carrier", BIN_CARRIERS)
def test_object_order_at_minus_carrier_demodulates_to_the_band_limited_phase(carrier):
    phase = simulate.phantom(SIZE, "bcell", seed=2, max_phase=3.0)
    radius = float(np.hypot(*carrier)) / 3.5
    s = simulate.hologram(phase, carrier=carrier, pupil_radius=radius, photons=None, bit_depth=None)
    field = demodulate(s.hologram, carrier, radius)
    err = np.angle(field * np.exp(-1j * s.phase))
    assert np.abs(err).max() < 0.02  # the O·R* order holds +φ exactly
    twin = demodulate(s.hologram, (-carrier[0], -carrier[1]), radius)
    assert np.abs(np.angle(twin * np.exp(1j * s.phase))).max() < 0.02  # the twin holds −φ


def test_ground_truth_is_the_band_limited_phantom():
    smooth = bump(width=10.0)
    s = simulate.hologram(smooth, carrier=(0.2, 0.2), photons=None)
    assert np.array_equal(s.phase_true, smooth)
    assert np.abs(s.phase - smooth).max() < 0.02   # a smooth object passes the pupil intact
    cells = simulate.phantom(SIZE, "wbc", seed=0)
    s2 = simulate.hologram(cells, carrier=(0.2, 0.2), photons=None)
    assert np.abs(s2.phase - cells).max() > 0.2    # sharp detail is lost by the band limit
    assert np.abs(s2.phase - cells).mean() < 0.3
    assert s2.amplitude.shape == cells.shape and s2.amplitude.dtype == np.float32


@pytest.mark.parametrize("visibility", [0.3, 0.8, 1.0])
def test_visibility_of_the_empty_field(visibility):
    s = simulate.hologram(np.zeros((SIZE, SIZE), np.float32), carrier=(0.0, 0.25), visibility=visibility,
                          photons=None, bit_depth=None)
    hi, lo = s.background.max(), s.background.min()
    assert (hi - lo) / (hi + lo) == pytest.approx(visibility, abs=1e-4)
    assert s.background.mean() == pytest.approx(1.0, abs=1e-4)
    assert np.allclose(s.hologram, s.background, atol=1e-5)


def test_background_has_no_object():
    s = simulate.hologram(bump(height=3.0), carrier=(0.1875, 0.125), photons=None, bit_depth=None)
    radius = s.meta["pupil_radius"]
    bg_phase = np.angle(demodulate(s.background, (0.1875, 0.125), radius))
    obj_phase = np.angle(demodulate(s.hologram, (0.1875, 0.125), radius))
    assert np.abs(bg_phase).max() < 1e-3
    assert obj_phase.max() > 1.0
    empty = simulate.hologram(np.zeros((SIZE, SIZE), np.float32), carrier=(0.1875, 0.125),
                              photons=None, bit_depth=None)
    assert np.allclose(s.background, empty.hologram, atol=1e-5)


def test_noise_free_is_deterministic_and_noise_is_seeded():
    p = bump()
    clean = [simulate.hologram(p, photons=None, bit_depth=None, seed=s).hologram for s in (0, 1)]
    assert np.array_equal(clean[0], clean[1])
    a = simulate.hologram(p, seed=5).hologram
    assert np.array_equal(a, simulate.hologram(p, seed=5).hologram)
    assert not np.array_equal(a, simulate.hologram(p, seed=6).hologram)
    s = simulate.hologram(p, seed=5)
    assert not np.array_equal(s.hologram, s.background)  # separate noise draws


@pytest.mark.parametrize("photons,read_noise", [(100.0, 0.0), (2000.0, 0.0), (500.0, 10.0)])
def test_noise_variance_is_shot_plus_read(photons, read_noise):
    zero = np.zeros((128, 128), np.float32)
    clean = simulate.hologram(zero, carrier=(0.0, 0.25), photons=None, bit_depth=None).background
    s = simulate.hologram(zero, carrier=(0.0, 0.25), photons=photons, read_noise=read_noise,
                          bit_depth=None, seed=1)
    expected = photons * clean
    resid = s.background - expected
    assert abs(resid.mean()) < 0.05 * np.sqrt(expected.mean() + read_noise ** 2)
    assert np.var(resid) / np.mean(expected + read_noise ** 2) == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize("bits", [8, 12])
def test_bit_depth_quantises_to_the_full_range(bits):
    s = simulate.hologram(bump(), bit_depth=bits, seed=0)
    top = 2 ** bits - 1
    for img in (s.hologram, s.background):
        assert np.array_equal(img, np.round(img))
        assert img.min() >= 0 and img.max() <= top
        assert img.max() > 0.7 * top  # the fringes use most of the range
    assert s.meta["bit_depth"] == bits


def test_meta_records_everything_and_input_is_untouched():
    p = bump()
    before = p.copy()
    s = simulate.hologram(p, carrier=(-0.1, 0.2), visibility=0.6, pupil_radius=0.05, photons=800.0,
                          read_noise=3.0, bit_depth=10, seed=9, wavelength_um=0.633, pixel_size_um=0.2)
    assert np.array_equal(p, before)
    m = s.meta
    assert m["carrier"] == (-0.1, 0.2) and m["visibility"] == 0.6 and m["pupil_radius"] == 0.05
    assert m["photons"] == 800.0 and m["read_noise"] == 3.0 and m["seed"] == 9
    assert m["wavelength_um"] == 0.633 and m["pixel_size_um"] == 0.2
    assert m["na_equivalent"] == pytest.approx(0.05 * 0.633 / 0.2)
    s.phase_true[0, 0] = 99.0
    assert p[0, 0] == before[0, 0]
    default = simulate.hologram(p, carrier=(0.0, 0.3))
    assert default.meta["pupil_radius"] == pytest.approx(0.1)  # |carrier| / 3


def test_amplitude_modulates_the_fringes():
    amp = 1.0 - 0.7 * bump(height=1.0, width=8.0)  # smooth, so the pupil passes it
    s = simulate.hologram(np.zeros_like(amp), amp, carrier=(0.0, 0.25), photons=None, bit_depth=None)
    inner = s.hologram[28:36, 28:36]
    outer = s.hologram[:8, :]
    assert (inner.max() - inner.min()) < 0.8 * (outer.max() - outer.min())
    assert np.abs(s.amplitude - amp).max() < 0.02


def test_batch_randomises_carriers_and_is_seeded():
    phase = simulate.phantom_batch(6, 64, generator=torch.Generator().manual_seed(0))
    h1, b1 = simulate.hologram_batch(phase, generator=torch.Generator().manual_seed(1))
    h2, b2, truth = simulate.hologram_batch(phase, generator=torch.Generator().manual_seed(1),
                                            return_truth=True)
    assert h1.shape == b1.shape == truth.shape == (6, 1, 64, 64)
    assert torch.equal(h1, h2) and torch.equal(b1, b2)
    peaks = {spectrum_peak(b.numpy()[0], 0.05) for b in b1}
    assert len(peaks) >= 5  # each sample has its own carrier
    norms = [np.hypot(*pk) for pk in peaks]
    assert min(norms) >= 0.1 - 1.5 / 64 and max(norms) <= 0.3 + 1.5 / 64


def test_batch_fixed_settings_match_single_image_convention():
    phase = torch.from_numpy(bump())[None, None].repeat(2, 1, 1, 1)
    h, b = simulate.hologram_batch(phase, randomize=False, carrier=(0.0, -0.25), noise=False,
                                   bit_depth=None)
    single = simulate.hologram(bump(), carrier=(0.0, -0.25), photons=None, bit_depth=None)
    assert np.allclose(h[0, 0].numpy(), single.hologram, atol=1e-5)
    assert np.allclose(b[1, 0].numpy(), single.background, atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(carrier=(0.4, 0.4)), "carrier"),
    (dict(carrier=(0.0, 0.0)), "carrier"),
    (dict(carrier=(0.1,)), "carrier"),
    (dict(carrier=(0.1, float("nan"))), "carrier"),
    (dict(visibility=0.0), "visibility"),
    (dict(visibility=1.5), "visibility"),
    (dict(pupil_radius=-0.1), "pupil_radius"),
    (dict(photons=-5.0), "photons"),
    (dict(read_noise=-1.0), "read_noise"),
    (dict(bit_depth=0), "bit_depth"),
    (dict(bit_depth=8.5), "bit_depth"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        simulate.hologram(bump(), **kwargs)


def test_bad_inputs():
    with pytest.raises(InputError, match="2-D"):
        simulate.hologram(np.zeros((2, SIZE, SIZE)))
    nan = bump()
    nan[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        simulate.hologram(nan)
    with pytest.raises(InputError, match="shape"):
        simulate.hologram(bump(), np.ones((SIZE, SIZE + 1)))
    with pytest.raises(InputError, match=">= 0"):
        simulate.hologram(bump(), -np.ones((SIZE, SIZE)))
    with pytest.raises(InputError, match=r"\(n, 1, H, W\)"):
        simulate.hologram_batch(torch.zeros(2, 64, 64))
    with pytest.raises(InputError, match="torch tensor"):
        simulate.hologram_batch(np.zeros((2, 1, 64, 64)))
    with pytest.raises(ParameterError, match="carrier"):
        simulate.hologram_batch(torch.zeros(2, 1, 64, 64), carrier=(0.6, 0.0))


def test_aberration_and_envelope_are_shared_so_background_division_removes_them():
    carrier, p = (0.1875, 0.125), bump(height=2.0)
    s = simulate.hologram(p, carrier=carrier, photons=None, bit_depth=None,
                          reference_aberration=3.0, illumination_falloff=0.4, seed=2)
    radius = s.meta["pupil_radius"]
    bg_field = demodulate(s.background, carrier, radius)
    obj_field = demodulate(s.hologram, carrier, radius)
    bg_phase = np.angle(bg_field)
    assert np.ptp(np.unwrap(np.unwrap(bg_phase, axis=0), axis=1)) > 1.5  # the optics are imperfect...
    assert s.background[:8, :8].mean() != pytest.approx(s.background[28:36, 28:36].mean(), rel=0.05)
    ratio = np.angle(obj_field / bg_field)                               # ...and division fixes it
    assert np.abs(ratio - s.phase).max() < 0.05
    assert s.meta["reference_aberration_rad"] == 3.0 and s.meta["illumination_falloff"] == 0.4
    with pytest.raises(ParameterError, match="illumination_falloff"):
        simulate.hologram(p, illumination_falloff=1.0)
    with pytest.raises(ParameterError, match="reference_aberration"):
        simulate.hologram(p, reference_aberration=-1.0)


def test_batch_settings_are_returned_and_describe_each_sample():
    # weak objects, so that even the smallest pupils leave no zero-amplitude points
    phase = simulate.phantom_batch(6, 128, kinds="beads", generator=torch.Generator().manual_seed(0),
                                   max_phase=1.0)
    holo, bg, truth, st = simulate.hologram_batch(phase, generator=torch.Generator().manual_seed(3),
                                                  noise=False, bit_depth=None, illumination_falloff=0.0,
                                                  return_truth=True, return_settings=True)
    assert st["carrier"].shape == (6, 2) and st["visibility"].shape == (6,)
    norms = st["carrier"].norm(dim=1)
    assert ((norms >= 0.1) & (norms <= 0.3)).all()
    assert torch.allclose(st["pupil_radius"] <= norms / 3 + 1e-6, torch.ones(6, dtype=torch.bool))
    assert ((st["reference_aberration"] >= 0) & (st["reference_aberration"] <= 2.0)).all()
    for i in range(6):
        c = tuple(float(v) for v in st["carrier"][i])
        r = float(st["pupil_radius"][i])
        b = demodulate(bg[i, 0].numpy(), c, r)
        h = demodulate(holo[i, 0].numpy(), c, r)
        # the background carries the sample's own aberration (peak-to-valley over the whole
        # frame, so a cropped centre shows less of it), and dividing it out leaves the object
        bg_span = np.ptp(np.unwrap(np.unwrap(np.angle(b[16:-16, 16:-16]), axis=0), axis=1))
        pv = float(st["reference_aberration"][i])
        assert 0.3 * pv - 0.05 <= bg_span <= pv + 0.15  # 0.15: leakage of an off-bin carrier
        err = np.angle(h / b * np.exp(-1j * truth[i, 0].numpy()))[16:-16, 16:-16]
        assert np.abs(err).mean() < 0.05
