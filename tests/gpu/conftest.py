"""GPU tests: skipped cleanly without CUDA or without the built extension machete._C.

Every test carries a timeout (pytest-timeout, thread method: a hung kernel kills the process
instead of blocking CI forever); run the suite under `timeout` as well (scripts/device_env.sh's
gpu_pytest, used by scripts/device_full.sh and device_decode.sh).
"""
import pytest


def _skip_reason():
    try:
        import torch
    except Exception as e:  # pragma: no cover
        return f"torch not importable: {e}"
    if not torch.cuda.is_available():
        return "CUDA not available"
    major, _ = torch.cuda.get_device_capability()
    if major != 9:
        return "machete kernels need a Hopper (sm_90a) GPU"
    try:
        import machete._C  # noqa: F401
    except Exception as e:
        return f"machete._C not built: {e}"
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test timeout (pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    reason = _skip_reason()
    for item in items:
        if "tests/gpu/" not in str(item.fspath).replace("\\", "/"):
            continue
        item.add_marker(pytest.mark.gpu)
        if not any(m.name == "timeout" for m in item.iter_markers()):
            item.add_marker(pytest.mark.timeout(300, method="thread"))
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
