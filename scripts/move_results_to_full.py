"""One-off (run once when the default scale was redefined): the rows computed before with the old default preset
(32 x 512 calibration, every grid point) are the full scale now. Moves results/<experiment>.jsonl to
results/full/ and relabels "scale": "default" -> "full"; run keys hash the config, not the label, so they stay.
Theory results (theory_*.jsonl) are scale-free and stay where they are.
  python scripts/move_results_to_full.py && git add -A results
"""
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    results, full = ROOT / "results", ROOT / "results" / "full"
    full.mkdir(exist_ok=True)
    for path in sorted(results.glob("*.jsonl")):
        if path.name.startswith("theory_"):
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for row in rows:
            if row.get("scale") == "default":
                row["scale"] = "full"
        target = full / path.name
        subprocess.run(["git", "mv", str(path), str(target)], cwd=ROOT, check=True)
        target.write_text("".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows))
        print(f"{path.name}: {len(rows)} rows -> results/full/")


if __name__ == "__main__":
    main()
