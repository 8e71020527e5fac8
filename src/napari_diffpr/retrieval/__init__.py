"""Conventional phase retrieval (NumPy/SciPy only, no torch).

Registered methods (``retrieval.methods``): ``"fourier"`` for off-axis holograms and
``"tie"`` for chromatic single-exposure RGB brightfield images; run them with
``napari_diffpr.reconstruct``. The building blocks are public too:

- ``sideband``: ``detect_sideband``, ``coarse_sideband``, ``refine_peak``, ``Sideband``
- ``spectrum``: ``HalfRows`` (row spectra; full 2-D spectrum columns on demand)
- ``filters``: ``sideband_filter``, ``FILTER_SHAPES``
- ``fourier``: ``demodulate``, ``divide_background``, ``filter_radius``, ``twin_limit``
- ``unwrap``: ``unwrap``, ``unwrap_lsq``, ``wrap``
- ``background``: ``fit_background``, ``choose_sign``
- ``tie``: ``tie_phase``, ``tie_opd``, ``rgb_tie``, ``solve_poisson``, ``axial_derivative``
"""
