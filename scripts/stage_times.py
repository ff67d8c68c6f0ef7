"""Stage durations for run_all.sh's progress line and the README's timing table.

`record` keeps the longest measured wall time of each stage (a resumed stage that skips finished rows takes seconds
and must not shrink the estimate) with the machine it ran on; `eta` sums the recorded times of the stages still
to run. The file: {"machine": {...}, "date": ..., "stages": {stage: seconds}}.
  python scripts/stage_times.py record results/run_all_times_default.json main_perplexity 1234
  python scripts/stage_times.py eta results/run_all_times_default.json zero_shot bip_structured
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path


def load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {"stages": {}}


def _machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), None) if Path("/proc/cpuinfo").is_file() else None
    return {"cpu": cpu or platform.processor() or platform.machine(), "cores": os.cpu_count()}


def record(path: Path, stage: str, seconds: float) -> None:
    data = load(path)
    stages = data["stages"]
    if seconds >= stages.get(stage, 0.0):
        stages[stage] = seconds
        data.update(machine=_machine(), date=dt.date.today().isoformat())
    data["stages"] = dict(sorted(stages.items()))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def eta(path: Path, stages: list[str]) -> str:
    """'~N min left' from the recorded stages; says how many stages have no record yet."""
    times = load(path)["stages"]
    known = sum(times[s] for s in stages if s in times)
    unknown = [s for s in stages if s not in times]
    text = f"~{known / 60:.0f} min left" if known else "time left unknown"
    return text + (f" (+{len(unknown)} stage(s) never timed)" if unknown and known else "")


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in ("record", "eta"):
        sys.exit(__doc__)
    path = Path(argv[1])
    if argv[0] == "record":
        record(path, argv[2], float(argv[3]))
    else:
        print(eta(path, argv[2:]))


if __name__ == "__main__":
    main(sys.argv[1:])
