import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module's exact or tiny computations, restored afterwards
    (a thread count set at import time would hold for every later test of the session)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
