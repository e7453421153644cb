"""The web processes' gunicorn settings (erp/gunicorn_config.py, README's production command)."""

import gc
import importlib
import os

from erp import gunicorn_config


def test_the_app_is_preloaded_and_its_heap_frozen_before_the_workers_fork():
    # Given the master process with the app loaded, and the collector as Python starts it
    thresholds = gc.get_threshold()
    assert gunicorn_config.preload_app is True
    try:
        # When gunicorn is ready to fork its workers
        gunicorn_config.when_ready(server=None)

        # Then everything alive is out of the collector's reach, and young collections run
        # per 10,000 allocations instead of 700
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (10_000, 10, 10)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_one_web_process_per_core_unless_web_concurrency_says_otherwise(monkeypatch):
    # Given no WEB_CONCURRENCY, on a machine of three cores
    cores = 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2})
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    try:
        # When the settings are read, then one worker per core
        assert importlib.reload(gunicorn_config).workers == cores

        # When the environment names a count, then that count, whatever the cores
        monkeypatch.setenv("WEB_CONCURRENCY", "5")
        assert importlib.reload(gunicorn_config).workers == 5
    finally:
        monkeypatch.undo()
        importlib.reload(gunicorn_config)
