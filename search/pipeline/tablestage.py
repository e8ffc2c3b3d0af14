"""The cost-table stage of ``green-run``: the run's own table and one per deployment target that ``tables`` names,
built and validated with one protocol. Split from :mod:`search.pipeline.stages` (which lists it in the stage table)
because the search stages also need :func:`extra_tables` to find the tables they price candidates on."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import GreenError

if TYPE_CHECKING:  # the stage protocol; imported for types only, so this module never imports its caller
    from search.pipeline.stages import Run


def extra_tables(p: Run) -> dict[str, tuple[str | None, Path]]:
    """The run's ``tables`` (``{name: <target> | <lut.json>}``) as ``name -> (target, path)``: a target's table is
    built by the lut stage in ``lut_<name>/`` (target None: a table built elsewhere, used as it is)."""
    from search.objectives.tables import table_paths
    from search.targets import TARGETS

    out: dict[str, tuple[str | None, Path]] = {}
    for name, value in table_paths(p.cfg.get("tables")).items():
        if value in TARGETS:
            out[name] = (value, p.root / f"lut_{name}" / "lut.json")
        elif Path(value).is_file():
            out[name] = (None, Path(value))
        else:
            raise GreenError(f"tables.{name}={value!r} is neither a deployment target ({', '.join(TARGETS.names())}) "
                             "nor a green-lut lut.json")
    return out


def lut(p: Run) -> None:
    """The cost lookup table (green-lut build), then its end-to-end validation when ``lut_validate``; the same for
    the table of each target that ``tables`` names (``lut_<name>/``), with the same protocol."""
    import torch

    from core.energy import track_energy
    from search.hardware.lut import build_table, validate_table

    jobs = [("lut", None)] + [(f"lut_{n}", t) for n, (t, _) in extra_tables(p).items() if t is not None]
    for folder, target in jobs:
        out = p.root / folder
        cfg = p.compose("lut", "lut", [] if target is None else [f"target={target}"])
        cfg.paths.output_dir = str(out)
        device = torch.device(cfg.device)
        if not (out / "lut.json").is_file():
            with track_energy(p.root / "lut", folder, device, cfg.energy.country_iso_code):
                build_table(cfg)
        if p.cfg.lut_validate and not (out / "lut_validate.json").is_file():
            cfg.mode = "validate"
            with track_energy(p.root / "lut", f"{folder}_validate", device, cfg.energy.country_iso_code):
                validate_table(cfg)


def lut_done(p: Run) -> bool:
    """Whether the tables (and their validations, when asked for) exist."""
    folders = [p.root / "lut"] + [path.parent for t, path in extra_tables(p).values() if t is not None]
    return all((f / "lut.json").is_file() and (not p.cfg.lut_validate or (f / "lut_validate.json").is_file())
               for f in folders)
