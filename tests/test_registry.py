"""Every registered method, whatever it is, gets the same checks on a tiny model: exact sparsity at 50%, valid 2:4
groups where it supports N:M, the same masks from the same seed; structured methods reach their ratio; the README's
method table is what the registry generates; no module of methods/ imports in a circle; nothing unpickles."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from methods import METHODS, Pattern, get_method, prune_model
from methods.models import prunable_linears
from methods.structured import prune_structured

from conftest import tiny_llama

ROOT = Path(__file__).resolve().parent.parent
WEIGHT_METHODS = sorted(n for n, m in METHODS.items() if m.kind == "weights")
NM_METHODS = sorted(n for n in WEIGHT_METHODS if METHODS[n].nm)
STRUCTURED = sorted(n for n, m in METHODS.items() if m.kind == "structured")


def _ids(seed=0):
    return torch.randint(0, 260, (6, 32), generator=torch.Generator().manual_seed(seed))


def _prune(name, pattern=Pattern(), seed=0):
    model = tiny_llama(seed=seed)
    method = get_method(name)
    prune_model(model, method, _ids() if method.uses_data else None, 0.5, pattern, batch_size=3, progress=False)
    return {k: layer.weight.detach().clone() for k, layer in prunable_linears(model).items()}


def test_the_registry_holds_every_kind():
    assert {"wanda", "stade", "sparsegpt", "ria", "ria_row", "dsnot", "dsnot_stade", "wanda_admm", "admm",
            "pruner_zero"} <= set(WEIGHT_METHODS)
    assert {"bip", "flap", "wanda_sp"} <= set(STRUCTURED) and METHODS["dense"].kind == "dense"


@pytest.mark.parametrize("name", WEIGHT_METHODS)
def test_every_method_prunes_exactly_half_and_is_deterministic(name):
    weights = _prune(name)
    group = METHODS[name].group
    for key, w in weights.items():
        zeros = w == 0
        if group == "row":
            assert (zeros.sum(dim=1) == w.shape[1] // 2).all(), f"{name} {key}: rows not exactly half pruned"
        elif group == "column":
            assert (zeros.sum(dim=0) == w.shape[0] // 2).all(), f"{name} {key}"
        else:
            assert int(zeros.sum()) == w.numel() // 2, f"{name} {key}: {int(zeros.sum())} of {w.numel()}"
    again = _prune(name)
    assert all(torch.equal(weights[k], again[k]) for k in weights), f"{name}: same seed, different result"


@pytest.mark.parametrize("name", NM_METHODS)
def test_every_nm_method_gives_valid_2_4_groups(name):
    for key, w in _prune(name, Pattern(2, 4)).items():
        per_group = (w == 0).reshape(w.shape[0], -1, 4).sum(dim=-1)
        assert (per_group == 2).all(), f"{name} {key}: groups with {per_group.unique().tolist()} zeros"


@pytest.mark.parametrize("name", STRUCTURED)
def test_every_structured_method_reaches_its_ratio_deterministically(name):
    reports = []
    for _ in range(2):
        model = tiny_llama(seed=2)
        reports.append(prune_structured(model, METHODS[name], _ids(), 0.3, progress=False))
    assert abs(reports[0].ratio - 0.3) < 0.1
    assert [l["groups_removed"] for l in reports[0].layers] == [l["groups_removed"] for l in reports[1].layers]


def test_method_args_are_validated_recorded_and_keyed():
    from methods import PruneConfig
    from methods.results import run_key

    a = PruneConfig(method="ria", method_args={"a": "0.25"}).validate()
    assert a.method_args == {"a": 0.25} and a.bound_method.args["a"] == 0.25
    b = PruneConfig(method="ria").validate()
    assert b.method_args == {"a": 0.5} and run_key(a.defining_fields()) != run_key(b.defining_fields())
    with pytest.raises(ValueError, match=r"no argument\(s\) \['b'\]; it accepts: a=0.5"):
        PruneConfig(method="ria", method_args={"b": 1}).validate()
    with pytest.raises(ValueError, match="takes no arguments"):
        PruneConfig(method="wanda", method_args={"a": 1}).validate()
    with pytest.raises(ValueError, match="is not a float"):
        PruneConfig(method="ria", method_args={"a": "half"}).validate()


def test_readme_method_table_is_generated_from_the_registry():
    sys.path.insert(0, str(ROOT / "analysis"))
    import method_table

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- BEGIN methods -->\n", 1)[1].split("<!-- END methods -->", 1)[0]
    assert block == method_table.methods_table(), "README's method table is stale: run python analysis/method_table.py"
    for name in METHODS:
        assert f"`{name}`" in block


def test_no_import_circle_in_methods():
    """Each module of methods/ imports alone in a fresh interpreter; and the module-level import graph has no
    cycle (function-local imports do not count: they are for heavy optional dependencies)."""
    import ast

    modules = {}
    for path in sorted((ROOT / "methods").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        deps = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                deps |= {target} | {f"{target}.{a.name}" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("methods"):
                deps.add(node.module)
        modules[name] = deps
    graph = {m: {d for d in deps if d in modules and d != m} for m, deps in modules.items()}

    def cycle_from(start, node, seen):
        for nxt in graph[node]:
            if nxt == start:
                return [node, nxt]
            if nxt not in seen:
                seen.add(nxt)
                found = cycle_from(start, nxt, seen)
                if found:
                    return [node] + found
        return None

    for module in graph:
        if module == "methods":
            continue  # the package imports its submodules to register them; none imports it back at module level
        found = cycle_from(module, module, {module})
        assert not found or "methods" in found, f"import circle: {' -> '.join(found)}"
    out = subprocess.run([sys.executable, "-c", "import importlib, sys; [importlib.import_module(m) for m in "
                          f"{sorted(graph)!r}]"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


def test_nothing_in_the_project_unpickles():
    pattern = "weights_only=" + "False"  # split, so this test does not find itself
    offenders = []
    for folder in ("methods", "experiments", "theory", "analysis", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            if pattern in text or "import " + "pickle" in text or "torch." + "load(" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


@pytest.mark.parametrize("spec, parts", [
    ("wanda", ("wanda", None, None, None)),
    ("wanda+owl", ("wanda", "owl", None, None)),
    ("wanda@disk", ("wanda", None, "disk", None)),
    ("sparsegpt:float32", ("sparsegpt", None, None, "float32")),
    ("wanda+owl@cpu:float64", ("wanda", "owl", "cpu", "float64")),
])
def test_a_benchmark_method_spec_splits_into_its_four_parts(spec, parts):
    from methods.config import split_method_spec
    assert split_method_spec(spec) == parts
