"""Peak resident memory (RSS) of fourier, reduced-unet and diffpr on large holograms, or their
refusal by the memory budget before allocating (issue 10). Each run is a fresh process, so
the peak is that run's alone (ru_maxrss of the child, which includes Python, numpy, torch and
the weights: ~0.3 GB for the networks before any image is touched).

    python benchmarks/bench_memory.py [--sizes 2048 4096] [--methods fourier reduced-unet diffpr]
        [--budgets default 3GB] [--write docs/benchmarks.md]

"default" is the budget a user gets without setting one (50 % of the available memory); each
budget gets its own table. Writes a Markdown section between <!-- BEGIN memory --> and
<!-- END memory --> markers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, sys, time, resource
import numpy as np
import napari_diffpr as dp
from napari_diffpr import memory
from napari_diffpr.errors import ResourceError
method, size, budget, tile, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
tile = None if tile == "auto" else int(tile)
if budget != "default":
    memory.set_budget(budget)
y, x = np.mgrid[:size, :size].astype(np.float32)
r2 = ((x - size / 2) ** 2 + (y - size / 2) ** 2) / (size / 6) ** 2
holo = (1 + 0.8 * np.cos(2 * np.pi * (0.21 * x + 0.13 * y) + 2 * np.exp(-r2))).astype(np.float32)
holo += np.random.default_rng(0).normal(0, 0.01, holo.shape).astype(np.float32)
del x, y, r2
out = {"method": method, "size": size, "budget_bytes": memory.budget_bytes()}
from napari_diffpr.methods import get_method
m = get_method(method)
params = extra.get(method, {})
out["estimate_bytes"] = memory.run_bytes(m, holo, m.resolve_params(params))
kwargs = {**params, **({"tile": tile} if m.uses_torch else {})}
t = time.perf_counter()
try:
    res = dp.reconstruct(holo, method, **kwargs)
    out.update(status="ran", seconds=time.perf_counter() - t, finite=bool(np.isfinite(res.phase).all()))
except ResourceError as exc:
    out.update(status="refused", seconds=time.perf_counter() - t, message=str(exc))
out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT " + json.dumps(out))
"""


def run(method: str, size: int, budget: str, tile: str, params: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, method, str(size), budget, tile, json.dumps(params)],
                          capture_output=True,
                          text=True, timeout=3600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        return {"method": method, "size": size, "status": f"crashed (exit {proc.returncode})",
                "stderr": proc.stderr[-2000:]}
    return json.loads(line[len("RESULT "):])


def render(tables: dict[str, list[dict]], command: str, tile: str = "0", params: dict | None = None) -> str:
    import psutil

    gib = 1024 ** 3
    lines = ["<!-- BEGIN memory -->", "## Memory (peak RSS) on large holograms", "",
             f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared with "
             f"other jobs: times are not benchmarks), {psutil.virtual_memory().total / gib:.1f} GiB RAM, CPU only, "
             f"Python {platform.python_version()}. Each run is a fresh process; peak RSS includes Python, numpy, "
             "torch and the weights (about 0.3-0.5 GiB before any image is touched). Synthetic off-axis hologram "
             "(carrier 0.21, 0.13 cycles/px), default parameters, no background. The estimate is what "
             "`napari_diffpr.memory` predicted and checked against the budget before the run. "
             + ("Networks un-tiled (`tile=0`): a frame above the budget is refused. By default (`tile=None`) "
                "such a frame now runs on tiles that fit the budget instead (issue 12, `models/tiling.py`)."
                if tile == "0" else f"Networks with tile={tile}.")
             + "".join(f" {m} with {', '.join(f'{k}={v}' for k, v in p.items())}." for m, p in (params or {}).items())]
    for budget, results in tables.items():
        lines += ["", f"### Budget: {'default (50 % of the memory available at the check)' if budget == 'default' else budget}",
                  "", "| method | size | outcome | estimate | peak RSS | time |", "|---|---|---|---:|---:|---:|"]
        lines += [_row(r, gib) for r in results]
    refused = next((r for results in tables.values() for r in results if r["status"] == "refused"), None)
    if refused:
        lines += ["", f"Refusal message (example): \"{refused['message']}\""]
    lines.append("<!-- END memory -->")
    return "\n".join(lines) + "\n"


def _row(r: dict, gib: float) -> str:
    peak = f"{r['peak_rss_bytes'] / gib:.2f} GiB" if "peak_rss_bytes" in r else "-"
    secs = f"{r['seconds']:.1f} s" if "seconds" in r else "-"
    est = f"{r['estimate_bytes'] / gib:.2f} GiB" if "estimate_bytes" in r else "-"
    outcome = r["status"]
    if outcome == "refused":
        outcome = f"refused before allocating (budget {r['budget_bytes'] / gib:.1f} GiB)"
    return f"| {r['method']} | {r['size']}x{r['size']} | {outcome} | {est} | {peak} | {secs} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    ap.add_argument("--methods", nargs="+", default=["fourier", "reduced-unet", "diffpr"])
    ap.add_argument("--budgets", nargs="+", default=["default", "3GB"])
    ap.add_argument("--param", action="append", default=[], metavar="METHOD:NAME=JSON",
                    help="a parameter for one method, e.g. diffpr:samples=1 (repeatable)")
    ap.add_argument("--tile", default="0",
                    help="network methods: 0 (default) = never tile, so a job above the budget is refused and "
                         "the un-tiled peak is measured; auto = tile above the budget (issue 12)")
    ap.add_argument("--write", type=Path, default=None, help="Markdown file to update (docs/benchmarks.md)")
    args = ap.parse_args()
    params: dict[str, dict] = {}
    for item in args.param:
        method, _, setting = item.partition(":")
        key, _, value = setting.partition("=")
        params.setdefault(method, {})[key] = json.loads(value)
    tables: dict[str, list[dict]] = {}
    for budget in args.budgets:
        for size in args.sizes:
            for method in args.methods:
                r = run(method, size, budget, args.tile, params)
                print(json.dumps({k: v for k, v in r.items() if k != "message"}), flush=True)
                tables.setdefault(budget, []).append(r)
    command = "python benchmarks/bench_memory.py --write docs/benchmarks.md" + (
        "" if args.tile == "0" else f" --tile {args.tile}") + "".join(f" --param {p}" for p in args.param)
    text = render(tables, command, args.tile, params)
    print(text)
    if args.write:
        doc = args.write.read_text() if args.write.exists() else "# Benchmarks\n"
        if "<!-- BEGIN memory -->" in doc:
            doc = re.sub(r"<!-- BEGIN memory -->.*?<!-- END memory -->\n?", lambda _: text, doc, flags=re.S)
        else:
            doc = doc.rstrip("\n") + "\n\n" + text
        args.write.write_text(doc)


if __name__ == "__main__":
    main()
