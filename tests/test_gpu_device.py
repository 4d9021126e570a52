"""On a machine with an NVIDIA GPU: torch in this environment sees it and computes on it. Skipped elsewhere."""

from __future__ import annotations

import pytest

from reproml.gpu import detect_driver

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def torch():
    if detect_driver().version is None:
        pytest.skip("no NVIDIA driver on this machine")
    return pytest.importorskip("torch")


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
