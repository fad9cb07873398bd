"""Benchmark: the replace() chain of issue 10 before and after the compile-time cost estimate,
and what the estimate adds to compiling ordinary expressions.

"Before" evaluates the chain with the library directly (what ``plan`` and the service did);
"after" is ``compile_expression`` refusing it. Each case runs in a child process so its peak
memory (max RSS) is its own. Usage: ``.venv/bin/python bench/expression_cost.py [runs]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stats import describe

from reconciler.errors import ExpressionError
from reconciler.expressions import compiler
from reconciler.expressions.compiler import Activation, Scope, compile_expression

CHAIN = "alert.labels.pod" + '.replace("a","aaaaaaaaaa")' * 8  # 224 characters
LABEL = "a"  # one character grows to 10**8: 95 MiB (the 2.19 GB came from 22)


def before() -> None:
    program = compiler._environment(Scope.MATCH).compile(CHAIN)
    activation = Activation(Scope.MATCH, {"alert": {"labels": {"pod": LABEL}}})
    program.eval(activation.native)


def after() -> None:
    try:
        compile_expression(CHAIN, Scope.MATCH)
    except ExpressionError:
        return
    raise AssertionError("the chain compiled")


def child(case: str) -> None:
    start = time.perf_counter()
    {"before": before, "after": after}[case]()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": elapsed, "peak": peak}))


def run(case: str, runs: int) -> tuple[list[float], list[float]]:
    seconds, peaks = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--child", case],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        data = json.loads(out)
        seconds.append(data["seconds"])
        peaks.append(data["peak"])
    return seconds, peaks


CONDITION = 'alert.labels.alertname == "A{i}" && alert.labels.namespace.startsWith("team-{i}")'
TEMPLATE = 'alert.labels.namespace + "/{i}/" + alert.labels.pod.lowerAscii()'


def compile_overhead(shape: str, count: int = 500) -> tuple[list[float], list[float]]:
    sources = [shape.format(i=i) for i in range(count)]
    environment = compiler._environment(Scope.MATCH)
    plain, estimated = [], []
    for _ in range(3):
        compiler.clear_cache()
        start = time.perf_counter()
        for source in sources:
            environment.compile(source)
        plain.append((time.perf_counter() - start) / count)
        compiler.clear_cache()
        start = time.perf_counter()
        for source in sources:
            compile_expression(source, Scope.MATCH)
        estimated.append((time.perf_counter() - start) / count)
    return plain, estimated


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
        return
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for case in ("before", "after"):
        seconds, peaks = run(case, runs)
        print(describe(f"{case}: replace chain, time", seconds, 1e3, "ms"))
        print(describe(f"{case}: replace chain, peak RSS", peaks, 1 / 2**20, "MiB"))
    for name, shape in (("a condition", CONDITION), ("a building template", TEMPLATE)):
        plain, estimated = compile_overhead(shape)
        print(describe(f"compile {name}, library only", plain, 1e6, "us"))
        print(describe(f"compile {name}, with the estimate", estimated, 1e6, "us"))


if __name__ == "__main__":
    main()
