"""Test-only: run the `shuying` CLI and SIGKILL it at one named step of saving a conservation record.

Used as ``python -c "from tests.conservation.kill_points import main; main()" STEP --home H repair add …``
by tests/conservation/test_conservation_crash.py. Nothing in Shuying itself knows about
this: the step's function is wrapped in this process only, and the process kills itself
with SIGKILL (no clean-up runs, as after a power cut or the OOM killer) just before or
just after that function's ``nth`` call.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

# step -> (module, attribute path, "before" | "after", nth call); in the order a save goes through them.
STEPS: dict[str, tuple[str, str, str, int]] = {
    "checked": ("workflows.conservation", "workshop_lock", "before", 1),  # record and images validated
    "numbered": ("workflows.conservation", "_save", "before", 1),  # locked, reconciled, id allocated
    "scratch-written": ("workflows.conservation", "new_version", "before", 1),  # record.json, mets.xml written
    "bag-staged": ("workflows.versions", "record_event", "before", 1),  # holey bag staged in <work>
    "event-written": ("workflows.versions", "store_primaries", "before", 1),  # creation event stored
    "version-recorded": ("storage_config.catalogue", "Catalogue.add_version", "after", 1),  # in the catalogue
    "primary-copying": ("storage_config.backends.filesystem", "_copy_synced", "after", 1),  # half a copy
    "primary-committed": ("storage_config.backends.filesystem", "FilesystemBackend.put_tree", "after", 1),
    "primary-recorded": ("workflows.replicate", "copy_version", "after", 1),  # copy event recorded
    "replica-committed": ("storage_config.backends.filesystem", "FilesystemBackend.put_tree", "after", 2),
    "stored": ("workflows.conservation_store", "RecordStore.append", "before", 1),  # stored, not indexed
    "indexed": ("workflows.conservation_store", "RecordStore.append", "after", 1),  # indexed, not reported
}
# A reindex killed once the new index is filled, before it is swapped in.
OTHER_STEPS = {"reindex-filled": ("workflows.conservation_store", "index_versions", "after", 1)}


def main() -> None:
    """Arm the step named by the first argument, then run the CLI with the remaining ones."""
    step = sys.argv.pop(1)
    arm(step)
    import cli

    cli.main()


def arm(step: str) -> None:
    module_name, attribute, when, nth = {**STEPS, **OTHER_STEPS}[step]
    owner: Any = importlib.import_module(module_name)
    *parents, name = attribute.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    setattr(owner, name, _killing(getattr(owner, name), when, nth))


def _killing(function: Callable[..., Any], when: str, nth: int) -> Callable[..., Any]:
    calls = 0

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if when == "before" and calls == nth:
            _die()
        result = function(*args, **kwargs)
        if when == "after" and calls == nth:
            _die()
        return result

    return wrapper


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
