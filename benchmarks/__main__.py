"""Run the benchmarks: ``python -m benchmarks --scale small|medium [--only NAME ...] [--sigma MS ...]``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import benchmarks


def modules() -> list[str]:
    """``bench_store`` first, then the other ``bench_*`` modules by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    return ["bench_store"] + [n for n in names if n != "bench_store"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "full"])
    parser.add_argument("--only", nargs="*", help="module names to run (e.g. bench_store)")
    parser.add_argument(
        "--sigma", nargs="+", type=float, default=[10.0, 50.0], metavar="MS",
        help="rate smoothing sigmas of bench_store's workloads, side by side (default: 10 50)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds of bench_store's local section (default 3)")
    args = parser.parse_args(argv)
    for name in modules():
        if args.only and name not in args.only:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        if not callable(getattr(module, "main", None)):
            continue
        print(f"\n######## {name} (scale {args.scale}) ########", flush=True)
        t0 = time.perf_counter()
        if name == "bench_store":
            module.main(args.scale, repeat=args.repeat, sigmas=tuple(args.sigma))
        else:
            module.main(args.scale)
        print(f"[{name}: {time.perf_counter() - t0:.0f} s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
