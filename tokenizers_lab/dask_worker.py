"""Preloaded into every Dask worker process of a local cluster (`LocalCluster(preload=...)`): the
worker ignores SIGINT. A Ctrl-C in the terminal goes to the whole process group; the driver
handles it and stops the cluster, so a worker must not print a traceback of its own."""

from __future__ import annotations

import signal
import threading

if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
