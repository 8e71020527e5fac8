"""The project's torch inverse FFT (napari_diffpr.torchfft) is right where torch 2.13's own
``ifft2`` is not: a 2048 x 2048 transform on more than one CPU thread (see the module)."""
import numpy as np
import pytest
import torch

from napari_diffpr.torchfft import ifft2


@pytest.mark.parametrize("shape", [(2048, 2048), (1, 2, 64, 48), (1000, 1000)])
def test_ifft2_inverts_fft2_on_two_threads(shape):
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) + 1.0
        back = ifft2(torch.fft.fft2(x))
        assert back.shape == x.shape
        torch.testing.assert_close(back.real, x, atol=1e-4, rtol=0)
        np.testing.assert_allclose(back.numpy(), np.fft.ifft2(np.fft.fft2(x.numpy())), atol=1e-4)
    finally:
        torch.set_num_threads(old)
