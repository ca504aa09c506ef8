"""The Hugging Face hub, asked politely: offline mode as the environment says, one quiet try.

Nothing in tokenizers-lab needs the hub; names that are not local paths are looked up in the
local cache first, and the network is tried once, with no retry chatter, only when online."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def offline() -> bool:
    """HF_HUB_OFFLINE (or HF_DATASETS_OFFLINE) is set: never touch the network."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


# the hub libraries read the offline variables once, at import: these flags are set again from
# the environment whenever the hub is asked (a library user may set HF_HUB_OFFLINE later)
_OFFLINE_FLAGS = (
    ("huggingface_hub.constants", "HF_HUB_OFFLINE"),
    ("datasets.config", "HF_HUB_OFFLINE"),
    ("datasets.config", "HF_DATASETS_OFFLINE"),
)


@contextlib.contextmanager
def silent_hub() -> Iterator[None]:
    """No third-party warnings, progress bars or retry chatter while the hub is asked, and the
    environment's offline mode honoured even when the hub libraries were imported before it was
    set (they would otherwise try the network, retrying for about 24 s)."""
    import logging
    import sys
    import warnings

    logs = [logging.getLogger(n) for n in ("huggingface_hub", "datasets")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    saved: list[tuple[object, str, object]] = []
    if offline():
        for module, flag in _OFFLINE_FLAGS:  # a module imported later reads the environment itself
            mod = sys.modules.get(module)
            if mod is not None and hasattr(mod, flag):
                saved.append((mod, flag, getattr(mod, flag)))
                setattr(mod, flag, True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)
        for owner, flag, value in saved:
            setattr(owner, flag, value)


def check_repo(name: str, kind: str = "model", timeout: float = 10.0) -> str | None:
    """Why hub repo `name` (a model or a dataset) cannot be fetched now, from one request with no
    retries (huggingface_hub's own downloads retry for about 24 s with no network), or None when
    it can be tried. Offline, the local cache is the caller's business: None."""
    if offline():
        return None
    try:
        from huggingface_hub import HfApi

        with silent_hub():
            api = HfApi()
            (api.dataset_info if kind == "dataset" else api.model_info)(name, timeout=timeout)
    except ImportError:
        return "huggingface_hub is not installed"
    except Exception as e:  # noqa: BLE001 - unreachable, unknown or gated repo: one reason, at once
        detail = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        return f"{type(e).__name__}: {detail}" if type(e).__name__ not in detail else detail
    return None
