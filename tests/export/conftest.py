import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models: a second intra-op thread (torch's, and onnxruntime's, which follows it) only
    # adds synchronisation and spins on a busy machine. Restored for other test folders.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
