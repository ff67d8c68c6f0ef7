"""What every figure script shares: reading a results file and writing a figure as PNG and PDF into figures/."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def read_results(name: str) -> list[dict]:
    """Rows of results/<name>.jsonl ([] when the experiment has not run yet)."""
    path = ROOT / "results" / f"{name}.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []


def save_figure(fig, name: str) -> None:
    """figures/<name>.png (150 dpi) and .pdf, then close the figure."""
    fig.tight_layout()
    (ROOT / "figures").mkdir(exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(ROOT / "figures" / f"{name}.{ext}", dpi=150)
    plt.close(fig)
    print(f"wrote figures/{name}.png and .pdf")
