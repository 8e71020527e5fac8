"""Which parameters the dock fills in from a layer's metadata (no viewer needed)."""
from types import SimpleNamespace

import numpy as np

from napari_diffpr.methods import get_method

from napari_diffpr._napari.layer_info import physical_defaults


def _layer(**metadata):
    return SimpleNamespace(data=np.zeros((64, 64)), metadata=metadata, scale=(1.0, 1.0),
                           units=("pixel", "pixel"))


def test_measurement_description_is_filled_in():
    found = physical_defaults(get_method("fourier"), _layer(pixel_size_um=0.08475, wavelength_um=0.532))
    assert found["pixel_size"] == 0.08475 and found["wavelength"] == 0.532


def test_processing_choices_in_metadata_are_not_filled_in():
    # a qpformat file's nominal NA of 1.0 must not replace the Fourier filter size
    layer = _layer(pixel_size_um=0.1, numerical_aperture=1.0, filter_size=0.2, unwrap="none")
    found = physical_defaults(get_method("fourier"), layer)
    assert set(found) == {"pixel_size"}
