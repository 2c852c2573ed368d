"""Executes every notebook in this folder headless with the Deno kernel; fails on any cell error.

`npm run test:notebooks` runs this with Debian's python3 (packages python3-nbclient, python3-nbformat,
python3-jupyter-client). The Deno kernel is the `deno` npm devDependency; its kernelspec is written to
a private folder for this run (JUPYTER_PATH), so no user-level `deno jupyter --install` is needed.

Checks per notebook: outputs are stripped in git (no outputs, no execution counts), every cell runs
without error within the time limit, and at least one cell shows SVG as rich output. Set
MRN_NOTEBOOK_OUT to a folder to keep the executed notebooks there.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CELL_TIMEOUT_S = 600


def stripped_problems(nb) -> list:
    """Cells that carry outputs or execution counts (the committed notebook must have none)."""
    return [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]


def private_kernelspec(root: Path) -> None:
    """Writes the Deno kernelspec under root/kernels/deno and points Jupyter at it."""
    deno = REPO / "node_modules" / ".bin" / "deno"
    if not deno.exists():
        sys.exit(f"run_notebooks: {deno} not found; run `npm ci` first")
    spec = root / "kernels" / "deno"
    spec.mkdir(parents=True)
    argv = [str(deno), "jupyter", "--kernel", "--conn", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Deno", "language": "typescript"}))
    os.environ["JUPYTER_PATH"] = str(root)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants so far, from /proc (Linux)."""
    total = 0.0
    todo = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def kernel_pid(client) -> int | None:
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


def svg_outputs(nb) -> int:
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/svg+xml" in out.get("data", {})
    )


def run(path: Path) -> str | None:
    """Executes one notebook; returns None when it passed, else the reason it failed."""
    nb = nbformat.read(path, as_version=4)
    dirty = stripped_problems(nb)
    if dirty:
        return f"outputs are not stripped (code cells {dirty}); clear them before committing"
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="deno",
        resources={"metadata": {"path": str(path.parent)}},
    )
    cpu = {"seconds": None}

    def sample(**_kwargs) -> None:
        # After every cell, while the kernel is alive: its CPU time so far (the last sample is the total).
        pid = kernel_pid(client)
        if pid is not None and Path("/proc").exists():
            cpu["seconds"] = tree_cpu_seconds(pid)

    client.on_cell_executed = sample
    t0 = time.time()
    try:
        client.execute()
    except CellExecutionError as e:
        return f"a cell failed:\n{e}"
    finally:
        keep = os.environ.get("MRN_NOTEBOOK_OUT")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, Path(keep) / path.name)
    seconds = time.time() - t0
    load = os.getloadavg()[0]
    cpu_text = "n/a" if cpu["seconds"] is None else f"{cpu['seconds']:.0f} s"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                print(f"  | {out.get('text', '').rstrip()}".replace("\n", "\n  | "))
    svgs = svg_outputs(nb)
    print(
        f"{path.name}: {len(nb.cells)} cells ran in {seconds:.0f} s wall, {cpu_text} CPU of the kernel "
        f"(load average {load:.1f} on {os.cpu_count()} cores), {svgs} SVG figure(s) shown"
    )
    if svgs == 0:
        return "no cell showed an SVG as rich output"
    return None


def main() -> int:
    if not (REPO / "dist" / "index.js").exists():
        sys.exit("run_notebooks: dist/index.js not found; run `npm run build` first (the notebooks import the build)")
    notebooks = sorted(HERE.glob("*.ipynb"))
    if not notebooks:
        sys.exit("run_notebooks: no notebooks found")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="mrn-jupyter-") as root:
        private_kernelspec(Path(root))
        for path in notebooks:
            reason = run(path)
            if reason:
                failed += 1
                print(f"FAILED {path.name}: {reason}")
    print(f"notebooks: {len(notebooks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
