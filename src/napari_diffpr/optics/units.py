"""Physical units of a phase map: optical path difference, thickness, dry mass.

Phase in radians, lengths in micrometres (µm), mass in picograms (pg). Works on numbers, NumPy
arrays and torch tensors alike (plain arithmetic, no torch import).
"""
from __future__ import annotations

import math

from ._checks import number

#: Specific refraction increment of cellular dry mass, µm³/pg (= mL/g); 0.18–0.21 in the literature.
DEFAULT_ALPHA_UM3_PER_PG = 0.18


def phase_to_opd(phase, wavelength_um: float):
    """Optical path difference in µm: ``phase · λ / 2π``."""
    wl = number("wavelength_um", wavelength_um, minimum=0.0, strict_min=True, unit="µm")
    return phase * (wl / (2.0 * math.pi))


def opd_to_phase(opd_um, wavelength_um: float):
    """Phase in radians at ``wavelength_um`` of an optical path difference in µm: ``2π · OPD / λ``."""
    wl = number("wavelength_um", wavelength_um, minimum=0.0, strict_min=True, unit="µm")
    return opd_um * (2.0 * math.pi / wl)


def opd_to_thickness(opd_um, n_cell: float, n_medium: float):
    """Thickness in µm of a homogeneous object: ``OPD / (n_cell − n_medium)``."""
    nc = number("n_cell", n_cell, minimum=0.0, strict_min=True)
    nm = number("n_medium", n_medium, minimum=0.0, strict_min=True)
    if nc == nm:
        from ..errors import ParameterError
        raise ParameterError(f"n_cell and n_medium are both {nc}: an index-matched object has no "
                             "optical path difference, so its thickness cannot be recovered")
    return opd_um / (nc - nm)


def dry_mass_density(phase, wavelength_um: float, alpha: float = DEFAULT_ALPHA_UM3_PER_PG):
    """Surface dry-mass density in pg/µm²: ``σ = λ · φ / (2π · α)`` (Barer / Popescu),
    ``alpha`` the specific refraction increment in µm³/pg."""
    a = number("alpha", alpha, minimum=0.0, strict_min=True, unit="µm³/pg")
    return phase_to_opd(phase, wavelength_um) / a


def dry_mass(phase, wavelength_um: float, pixel_size_um: float,
             alpha: float = DEFAULT_ALPHA_UM3_PER_PG, mask=None) -> float:
    """Total dry mass in pg: the density summed over the pixels (or over ``mask`` where given)
    times the pixel area ``pixel_size_um²``."""
    px = number("pixel_size_um", pixel_size_um, minimum=0.0, strict_min=True, unit="µm")
    density = dry_mass_density(phase, wavelength_um, alpha)
    if mask is not None:
        density = density * mask
    return float(density.sum()) * px * px
