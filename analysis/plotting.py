"""What every figure script shares: writing a figure as PNG and PDF into the scale's figures folder."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from paths import figures_dir, read_results, shown  # noqa: E402,F401  (read_results: the figure scripts' import)


def save_figure(fig, name: str) -> None:
    """<figures>/<name>.png (150 dpi) and .pdf, then close the figure."""
    fig.tight_layout()
    out = figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    # No creation date: a regenerated figure with the same content is byte-identical, so git shows only real changes.
    fig.savefig(out / f"{name}.png", dpi=150)
    fig.savefig(out / f"{name}.pdf", dpi=150, metadata={"CreationDate": None})
    plt.close(fig)
    print(f"wrote {shown(out / name)}.png and .pdf")
