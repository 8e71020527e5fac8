"""Physics only: angular-spectrum propagation, cell phantoms, the off-axis hologram and chromatic
RGB brightfield forward models, OPD/thickness/dry-mass units. The facade is :mod:`.simulate`
(``napari_diffpr.simulate``); nothing here imports torch until a function needs it."""
