"""native.py: the process-wide settings of the C libraries underneath (glibc's malloc)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

# allocate and free a few 1-7 MB arrays at a time, the way a pass does per batch, then print the minor page faults
# that cost; `setup` runs first
_LOOP = """
import resource, sys
import numpy as np
{setup}
rng = np.random.default_rng(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(400):
    x = np.arange(int(rng.integers(1 << 17, 7 << 17)), dtype=np.int64)
    y = x * 2
    z = y + x
    del x, y, z
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

_CLI = """
from tokenizers_lab.cli import main
sys.argv = ["tokenlab", "--version"]
try:
    main()
except SystemExit:
    pass
"""


def _faults(setup: str) -> int:
    # glibc's defaults, whatever this process's environment says (MALLOC_*_ variables set them too)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", _LOOP.format(setup=setup)], capture_output=True, text=True, check=True, env=env
    )
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_memory_is_reused_not_faulted_in_again() -> None:
    """The default allocator maps and unmaps every MB-sized array (a fault per 4 KiB page each
    time); after keep_freed_memory() -- which the CLI's main() calls -- freed arrays are reused."""
    default = _faults("")
    kept = _faults("from tokenizers_lab.native import keep_freed_memory\nassert keep_freed_memory()")
    via_cli = _faults(_CLI)
    assert default > 50_000, (
        default
    )  # the pattern does fault under the default (else the test proves nothing)
    assert kept < default / 10, (kept, default)
    assert via_cli < default / 10, (via_cli, default)


_TRIM = """
import numpy as np
from tokenizers_lab.native import keep_freed_memory, trim_heap

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) // 1024

assert keep_freed_memory()
base = anon_mb()
arrays = [np.ones(1 << 20) for _ in range(24)]  # 24 x 8 MB from the heap, kept once freed
del arrays
kept = anon_mb()
assert trim_heap()
print(base, kept, anon_mb())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_heap_returns_freed_heap_to_the_kernel() -> None:
    """Under keep_freed_memory() freed arrays stay mapped (up to its threshold); trim_heap() --
    which the transplant fit calls after every step -- hands them back."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _TRIM], capture_output=True, text=True, check=True, env=env)
    base, kept, trimmed = map(int, out.stdout.split())
    assert kept - base > 150, (base, kept)  # the freed arrays were kept (else the test proves nothing)
    assert trimmed - base < 40, (base, kept, trimmed)


_RETURN = """
import numpy as np
from tokenizers_lab.native import keep_freed_memory, return_freed_memory

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) // 1024

def churn():  # 24 x 8 MB arrays alive at once, then freed: the step's pattern
    base = anon_mb()
    arrays = [np.ones(1 << 20) for _ in range(24)]
    del arrays
    return anon_mb() - base

assert keep_freed_memory()
with return_freed_memory() as took:
    assert took
    inside = churn()
after = churn()  # keep_freed_memory's settings are back: freed arrays stay for reuse
print(inside, after)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_return_freed_memory_hands_freed_arrays_back_at_once_and_restores_the_cli_settings() -> None:
    """Inside return_freed_memory() -- the transplant fit's block -- a freed array leaves the
    resident set at once (a German-BPE fit's peak went 1507 -> 1299 MB); afterwards the CLI's
    keep_freed_memory() settings hold again and freed arrays stay for reuse."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _RETURN], capture_output=True, text=True, check=True, env=env)
    inside, after = map(int, out.stdout.split())
    assert inside < 20, (inside, after)
    assert after > 150, (inside, after)  # restored (else the first assertion could pass for any setting)
