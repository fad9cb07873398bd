"""Compare CEL libraries for docs/decisions/0001-cel-library.md (not run by CI).

Needs the three candidates installed side by side (they are not project dependencies except
cel-expr-python): pip install cel-python==0.5.0 common-expression-language==0.10.0
cel-expr-python==0.1.3. Measures, for a policy match over a fresh alert each time: compile time,
evaluations per second, and whether a type error is caught at compile time.
"""

from __future__ import annotations

import statistics
import time

SOURCE = (
    'alert.labels.alertname == "KubePodCrashLooping" && alert.labels.namespace.startsWith("prod")'
)
TYPE_ERROR = 'alert.labels.alertname == 1 + "a"'


def alert(i: int) -> dict[str, object]:
    return {
        "labels": {
            "alertname": "KubePodCrashLooping",
            "namespace": f"prod-{i % 7}",
            "pod": f"web-{i}",
        },
        "annotations": {"summary": "crash looping"},
        "status": "firing",
    }


def rate(evaluate, n: int = 20_000) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(n):
            evaluate(alert(i))
        runs.append(n / (time.perf_counter() - start))
    return statistics.median(runs)


def compile_time(compile_one) -> float:
    start = time.perf_counter()
    for i in range(1000):
        compile_one(SOURCE + f' && alert.labels.pod != "p{i}"')
    return (time.perf_counter() - start) / 1000 * 1e6


def cel_expr_python() -> None:
    from cel_expr_python import cel

    env = cel.NewEnv(variables={"alert": cel.Type.Map(cel.Type.STRING, cel.Type.DYN)})
    program = env.compile(SOURCE)
    try:
        env.compile(TYPE_ERROR)
        checked = "no"
    except RuntimeError:
        checked = "yes"
    print(
        f"cel-expr-python 0.1.3: {rate(lambda a: program.eval(data={'alert': a}).value()):,.0f} evals/s, "
        f"compile {compile_time(env.compile):.0f} us, type error at compile time: {checked}"
    )


def cel_python() -> None:
    import celpy

    env = celpy.Environment()
    program = env.program(env.compile(SOURCE))
    try:
        env.program(env.compile(TYPE_ERROR))
        checked = "no"
    except Exception:
        checked = "yes"
    print(
        f"cel-python 0.5.0: {rate(lambda a: program.evaluate({'alert': celpy.json_to_cel(a)}), 2000):,.0f} evals/s, "
        f"compile {compile_time(lambda s: env.program(env.compile(s))):.0f} us, type error at compile time: {checked}"
    )


def common_expression_language() -> None:
    import cel

    program = cel.compile(SOURCE)
    try:
        cel.compile(TYPE_ERROR)
        checked = "no"
    except Exception:
        checked = "yes"
    print(
        f"common-expression-language 0.10.0: {rate(lambda a: program.execute({'alert': a})):,.0f} evals/s, "
        f"compile {compile_time(cel.compile):.0f} us, type error at compile time: {checked}"
    )


if __name__ == "__main__":
    cel_expr_python()
    common_expression_language()
    cel_python()
