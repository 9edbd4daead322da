import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    # These models are tiny: a second intra-op thread only adds synchronisation (and spins
    # badly on a busy machine). Restored afterwards so other test folders are unaffected.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def warm_up(model: torch.nn.Module, *shape: int, steps: int = 3) -> torch.nn.Module:
    """Give BatchNorm non-trivial running statistics, then switch to eval mode."""
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(*shape, dtype=torch.float64) * 2 + 0.5)
    return model.eval()


@pytest.fixture
def warm():
    return warm_up
