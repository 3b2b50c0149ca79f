"""SnapStart's runtime hooks for Python, as AWS's Python runtimes provide them (the `snapshot_restore_py` module).

    from snapshot_restore_py import register_before_snapshot, register_after_restore

    @register_before_snapshot
    def before_checkpoint():
        ...  # e.g. close connections opened during INIT

    @register_after_restore
    def after_restore():
        ...  # e.g. reconnect, refresh anything that must be unique per execution environment

Or `register_before_snapshot(func, *args, **kwargs)` / `register_after_restore(func, *args, **kwargs)`.
Before-snapshot hooks run once, at the end of the version's INIT, in the reverse order of registration;
after-restore hooks run in every execution environment restored from the snapshot, in the order of
registration, before its first invocation. Outside SnapStart (on $LATEST, or a version without it)
nothing calls them. Stratus's own implementation of AWS's interface.
"""

_before_snapshot = []
_after_restore = []


def register_before_snapshot(func, *args, **kwargs):
    """Run `func(*args, **kwargs)` before the snapshot is taken; returns `func` (usable as a decorator)."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    """Run `func(*args, **kwargs)` in each execution environment restored from the snapshot; returns `func`."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot():
    return list(_before_snapshot)


def get_after_restore():
    return list(_after_restore)


def _run_before_snapshot():
    """Called by the runtime (in reverse order of registration)."""
    for func, args, kwargs in reversed(_before_snapshot):
        func(*args, **kwargs)


def _run_after_restore():
    """Called by the runtime (in order of registration)."""
    for func, args, kwargs in _after_restore:
        func(*args, **kwargs)
