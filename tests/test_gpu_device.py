"""On a machine with an NVIDIA GPU: torch in this environment sees it and computes on it (torch is required
there, never skipped). Skipped where no NVIDIA driver is (an allowed skip in CI: tests/skip_policy.py)."""

from __future__ import annotations

import pytest

from reproml.gpu import detect_driver

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def torch():
    if detect_driver().version is None:
        pytest.skip("no NVIDIA driver on this machine")
    try:
        import torch
    except ImportError:  # a GPU is here: not testing it would hide a broken setup, so say what is missing
        pytest.fail("an NVIDIA driver is here but torch is not installed in this environment: install a CUDA "
                    "build of torch to run the GPU tests, or deselect them with -m 'not gpu'", pytrace=False)
    return torch


def test_cuda_is_available(torch):
    assert torch.version.cuda, f"torch {torch.__version__} is a CPU build on a machine with an NVIDIA GPU"
    assert torch.cuda.is_available()
    assert torch.cuda.device_count() >= 1


def test_matmul_on_the_gpu(torch):
    a = torch.randn(512, 512, device="cuda")
    b = torch.randn(512, 512, device="cuda")
    product = a @ b
    torch.cuda.synchronize()
    assert product.device.type == "cuda"
    assert torch.allclose(product.cpu(), a.cpu() @ b.cpu(), atol=1e-2, rtol=1e-3)
