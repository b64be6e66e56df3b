"""What the storage configuration cannot survive, said at every ingest, audit and status.

A configuration can be valid and still leave the archive one fault from loss: with one
copy, the audit finds damage but has nothing to repair it from; with every copy in one
building, one fire takes them all. Replication follows the policy
(workflows/replicate.py ``policy_targets``): every primary holds every version, and
further locations are added, off-site first, only until ``min_copies`` and
``offsite_copies`` are met. So these warnings follow the same rule, not the number of
locations alone.
"""

from __future__ import annotations

from storage_config.locations import Location, StorageConfig


def policy_warnings(config: StorageConfig) -> list[str]:
    """Return one line per risk the configuration leaves open (empty when it keeps two copies, one off-site)."""
    warnings = []
    kept = kept_locations(config)
    if len(kept) < 2:
        fix = (f"add a second location in {config.source}" if len(config.locations) < 2 else
               f"set policy.min_copies = 2 in {config.source}")
        warnings.append(f"only one copy is kept ({kept[0].name}): self-repair impossible: a damaged file can only "
                        f"be restored from a backup outside Shuying; {fix}")
    if not any(loc.offsite for loc in kept):
        warnings.append(_offsite_warning(config, kept))
    return warnings


def kept_locations(config: StorageConfig) -> list[Location]:
    """The locations every version ends up in, as replication chooses them: primaries, then off-site first."""
    chosen = list(config.primaries)
    others = sorted((loc for loc in config.locations if loc not in chosen), key=lambda loc: not loc.offsite)
    for loc in others:
        offsite_short = sum(1 for c in chosen if c.offsite) < config.policy.offsite_copies
        if len(chosen) >= config.policy.min_copies and not offsite_short:
            break
        chosen.append(loc)
    return chosen


def _offsite_warning(config: StorageConfig, kept: list[Location]) -> str:
    where = ", ".join(loc.name for loc in kept)
    unused = [loc.name for loc in config.locations if loc.offsite and loc not in kept]
    if unused:
        fix = (f"location {', '.join(unused)} has offsite = true but the policy never copies there; set "
               f"policy.offsite_copies = 1 in {config.source}")
    else:
        fix = f"add a location with offsite = true in {config.source} and set policy.offsite_copies = 1"
    return (f"no off-site copy: every copy ({where}) is on one site, so one fire, flood or theft loses them all; "
            f"{fix}")
