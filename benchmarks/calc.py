"""Speed of the calculation language against the engines a user might pick instead.

Every engine gets the same expressions (written in its own syntax with the same null
semantics) and the same 10,000 generated events, with nulls, missing keys and missing ``old``
objects. The harness checks that each engine agrees with ours on every event, then prints,
per expression, the compile time and evaluations per second of each engine, and of a
hand-written Python function doing the same null-safe work (the practical limit in Python).

Targets, on every expression: at least 10x the evaluations per second of the fastest other
engine, and at least 0.5x the hand-written function.

Run (the competitor engines are installed only for this, in their own virtualenv)::

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -r benchmarks/requirements-calc.txt
    .venv-bench/bin/python benchmarks/calc.py          # --events N --repeat N

An engine that cannot be imported is reported as such in the table, never left out silently.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import platform
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import meterbell.domain.calc as calc

Event = dict[str, Any]
Evaluator = Callable[[Event], Any]
ACCOUNT = "df41d216-XXXX-470f-YYYY-79b16059a96f"


# -- the events -----------------------------------------------------------------------------------


def generate_events(count: int, seed: int = 20240601) -> list[Event]:
    """Commitment-like update/create events: ints, decimals, nulls, missing keys and olds."""
    rng = random.Random(seed)

    def amount() -> int | float | None:
        roll = rng.random()
        if roll < 0.1:
            return None
        if roll < 0.55:
            return rng.randint(1, 100_000)
        return round(rng.uniform(1, 100_000), 2)

    def commitment() -> dict[str, Any]:
        total = amount()
        spent: Any = None
        if total is not None and rng.random() < 0.9:
            spent = round(total * rng.uniform(0.5, 1.1), 2)
        fields = {
            "amount": total,
            "amountSpent": spent,
            "accountId": ACCOUNT if rng.random() < 0.1 else f"acc-{rng.randint(1, 500)}",
            "status": rng.choice(["completed", "succeeded", "pending", "failed"]),
        }
        return {key: value for key, value in fields.items() if rng.random() > 0.05}

    events = []
    for _ in range(count):
        event: Event = {"new": commitment()}
        roll = rng.random()
        if roll < 0.7:
            event["old"] = commitment()
        elif roll < 0.8:
            event["old"] = None
        events.append(event)
    return events


# -- the expressions, in every engine's syntax ----------------------------------------------------


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


def handwritten_threshold(event: Event) -> bool:
    new = event.get("new") or {}
    old = event.get("old") or {}
    spent, total = new.get("amountSpent"), new.get("amount")
    if spent is None or total is None or not spent >= total * 90 / 100:
        return False
    old_spent, old_total = old.get("amountSpent"), old.get("amount")
    if old_spent is None:
        return True
    return old_total is not None and old_spent <= old_total * 90 / 100


def handwritten_account(event: Event) -> bool:
    return bool((event.get("new") or {}).get("accountId") == ACCOUNT)


def handwritten_status_jump(event: Event) -> bool:
    new = event.get("new") or {}
    old = event.get("old") or {}
    if new.get("status") not in ("completed", "succeeded"):
        return False
    total = new.get("amount")
    if total is None:
        return False
    old_total = old.get("amount")
    return bool(total - (0 if old_total is None else old_total) >= 1000)


def handwritten_derived(event: Event) -> float | None:
    new = event.get("new") or {}
    old = event.get("old") or {}
    total = new.get("amount")
    if total is None:
        return None
    old_total = old.get("amount")
    return float(total * 1.2 + (0 if old_total is None else old_total))


def handwritten_arithmetic(event: Event) -> float | None:
    new = event.get("new") or {}
    old = event.get("old") or {}
    spent, total, old_total = new.get("amountSpent"), new.get("amount"), old.get("amount")
    if spent is None or total is None or old_total is None:
        return None
    fmod = math.fmod  # Java's remainder: the sign of the dividend
    return -fmod(spent, 1000) * 3 / (fmod(total, 97) + 1) + fmod(-old_total * 2, 7)


def _present(path: str) -> str:
    """CEL: the key exists and is not null."""
    return f"(has({path}) && type({path}) != null_type)"


def _cel_remainder(dividend: str, divisor: str) -> str:
    """CEL has no ``%`` on doubles: Java's remainder through a truncating ``int()``."""
    return f"({dividend} - {divisor} * double(int({dividend} / {divisor})))"


def _jl_var(path: str) -> dict[str, Any]:
    return {"var": path}


def _jl_isnull(path: str) -> dict[str, Any]:
    return {"==": [_jl_var(path), None]}


def _jl_notnull(path: str) -> dict[str, Any]:
    return {"!=": [_jl_var(path), None]}


def _jl_ninety_percent(path: str) -> dict[str, Any]:
    return {"/": [{"*": [_jl_var(path), 90]}, 100]}


def _jl_old_amount_or_zero() -> dict[str, Any]:
    return {"if": [_jl_isnull("old.amount"), 0, _jl_var("old.amount")]}


@dataclass(frozen=True)
class Case:
    name: str
    mode: calc.Mode
    ours: str
    handwritten: Evaluator
    cel: str
    jsonlogic: dict[str, Any]
    simpleeval: str


CASES = [
    Case(
        name="m3ter threshold (example 1)",
        mode="boolean",
        ours=(
            "(new.amountSpent >= ((new.amount*90)/100)) \nAND ((old.amountSpent <= "
            "((old.amount*90)/100)) OR (old.amountSpent == null))"
        ),
        handwritten=handwritten_threshold,
        cel=(
            f"({_present('new.amountSpent')} && {_present('new.amount')}"
            " && double(new.amountSpent) >= double(new.amount) * 90.0 / 100.0)"
            f" && (!{_present('old.amountSpent')} || ({_present('old.amount')}"
            " && double(old.amountSpent) <= double(old.amount) * 90.0 / 100.0))"
        ),
        jsonlogic={
            "and": [
                _jl_notnull("new.amountSpent"),
                _jl_notnull("new.amount"),
                {">=": [_jl_var("new.amountSpent"), _jl_ninety_percent("new.amount")]},
                {
                    "or": [
                        _jl_isnull("old.amountSpent"),
                        {
                            "and": [
                                _jl_notnull("old.amount"),
                                {
                                    "<=": [
                                        _jl_var("old.amountSpent"),
                                        _jl_ninety_percent("old.amount"),
                                    ]
                                },
                            ]
                        },
                    ]
                },
            ]
        },
        simpleeval=(
            'v(new, "amountSpent") is not None and v(new, "amount") is not None'
            ' and v(new, "amountSpent") >= v(new, "amount") * 90 / 100'
            ' and (v(old, "amountSpent") is None or (v(old, "amount") is not None'
            ' and v(old, "amountSpent") <= v(old, "amount") * 90 / 100))'
        ),
    ),
    Case(
        name="m3ter single account (example 2)",
        mode="boolean",
        ours=f'new.accountId == "{ACCOUNT}"',
        handwritten=handwritten_account,
        cel=f'has(new.accountId) && new.accountId == "{ACCOUNT}"',
        jsonlogic={"==": [_jl_var("new.accountId"), ACCOUNT]},
        simpleeval=f'v(new, "accountId") == "{ACCOUNT}"',
    ),
    Case(
        name="status IN + amount jump",
        mode="boolean",
        ours=(
            'IN(new.status, "completed", "succeeded") AND new.amount - isnull(old.amount, 0)'
            " >= 1000"
        ),
        handwritten=handwritten_status_jump,
        cel=(
            'has(new.status) && new.status in ["completed", "succeeded"]'
            f" && {_present('new.amount')} && double(new.amount)"
            f" - ({_present('old.amount')} ? double(old.amount) : 0.0) >= 1000.0"
        ),
        jsonlogic={
            "and": [
                {"in": [_jl_var("new.status"), ["completed", "succeeded"]]},
                _jl_notnull("new.amount"),
                {">=": [{"-": [_jl_var("new.amount"), _jl_old_amount_or_zero()]}, 1000]},
            ]
        },
        simpleeval=(
            'v(new, "status") in ["completed", "succeeded"] and v(new, "amount") is not None'
            ' and v(new, "amount") - (0 if v(old, "amount") is None else v(old, "amount"))'
            " >= 1000"
        ),
    ),
    Case(
        name="derived value (value mode)",
        mode="value",
        ours="new.amount * 1.2 + isnull(old.amount, 0)",
        handwritten=handwritten_derived,
        cel=(
            f"{_present('new.amount')} ? dyn(double(new.amount) * 1.2"
            f" + ({_present('old.amount')} ? double(old.amount) : 0.0)) : dyn(null)"
        ),
        jsonlogic={
            "if": [
                _jl_isnull("new.amount"),
                None,
                {"+": [{"*": [_jl_var("new.amount"), 1.2]}, _jl_old_amount_or_zero()]},
            ]
        },
        simpleeval=(
            'None if v(new, "amount") is None else v(new, "amount") * 1.2'
            ' + (0 if v(old, "amount") is None else v(old, "amount"))'
        ),
    ),
    # JsonLogic's % is Python's (the sign of the divisor); the amounts are never negative, so
    # it negates the remainder of the positive product instead (the same value here).
    Case(
        name="nested arithmetic, % and unary minus (value mode)",
        mode="value",
        ours="-(new.amountSpent % 1000) * 3 / (new.amount % 97 + 1) + -old.amount * 2 % 7",
        handwritten=handwritten_arithmetic,
        cel=(
            f"{_present('new.amountSpent')} && {_present('new.amount')}"
            f" && {_present('old.amount')}"
            f" ? dyn(-{_cel_remainder('double(new.amountSpent)', '1000.0')} * 3.0"
            f" / ({_cel_remainder('double(new.amount)', '97.0')} + 1.0)"
            f" + {_cel_remainder('-double(old.amount) * 2.0', '7.0')}) : dyn(null)"
        ),
        jsonlogic={
            "if": [
                {
                    "or": [
                        _jl_isnull("new.amountSpent"),
                        _jl_isnull("new.amount"),
                        _jl_isnull("old.amount"),
                    ]
                },
                None,
                {
                    "+": [
                        {
                            "/": [
                                {"*": [{"-": [{"%": [_jl_var("new.amountSpent"), 1000]}]}, 3]},
                                {"+": [{"%": [_jl_var("new.amount"), 97]}, 1]},
                            ]
                        },
                        {"-": [{"%": [{"*": [_jl_var("old.amount"), 2]}, 7]}]},
                    ]
                },
            ]
        },
        simpleeval=(
            'None if v(new, "amountSpent") is None or v(new, "amount") is None'
            ' or v(old, "amount") is None'
            ' else -fmod(v(new, "amountSpent"), 1000) * 3 / (fmod(v(new, "amount"), 97) + 1)'
            ' + fmod(-v(old, "amount") * 2, 7)'
        ),
    ),
]


# -- engines --------------------------------------------------------------------------------------


def _maps(event: Event) -> tuple[dict[str, Any], dict[str, Any]]:
    """CEL needs both variables bound to maps; a missing or null object becomes {}."""
    return event.get("new") or {}, event.get("old") or {}


def compile_ours(case: Case) -> Evaluator:
    return calc.compile_calculation(case.ours, mode=case.mode).evaluate


def compile_handwritten(case: Case) -> Evaluator:
    return case.handwritten


def compile_celpy(case: Case) -> Evaluator:
    import celpy

    environment = celpy.Environment()
    program = environment.program(environment.compile(case.cel))
    to_cel = celpy.json_to_cel

    def evaluate(event: Event) -> Any:
        new, old = _maps(event)
        return program.evaluate({"new": to_cel(new), "old": to_cel(old)})

    return evaluate


def compile_google_cel(case: Case) -> Evaluator:
    from cel_expr_python import cel

    object_type = cel.Type.Map(cel.Type.STRING, cel.Type.DYN)
    environment = cel.NewEnv(variables={"new": object_type, "old": object_type})
    expression = environment.compile(case.cel)

    def evaluate(event: Event) -> Any:
        new, old = _maps(event)
        return expression.eval(data={"new": new, "old": old}).value()

    def evaluate_nullable(event: Event) -> Any:
        # cel-expr-python 0.1.3's Value.value() returns None without a reference on Python
        # 3.11: after enough null results None's refcount hits zero and the interpreter
        # aborts. So a null result is recognised by its type, never converted.
        new, old = _maps(event)
        result = expression.eval(data={"new": new, "old": old})
        return None if result.type() == null_type else result.value()

    null_type = cel.Type.NULL
    return evaluate if case.mode == "boolean" else evaluate_nullable


def compile_rust_cel(case: Case) -> Evaluator:
    import cel

    program = cel.compile(case.cel)

    def evaluate(event: Event) -> Any:
        new, old = _maps(event)
        return program.execute({"new": new, "old": old})

    return evaluate


def compile_jsonlogic(case: Case) -> Evaluator:
    from json_logic import jsonLogic

    rule = case.jsonlogic
    return lambda event: jsonLogic(rule, event)


def compile_simpleeval(case: Case) -> Evaluator:
    from simpleeval import EvalWithCompoundTypes

    evaluator = EvalWithCompoundTypes(functions={"v": _get, "fmod": math.fmod})
    parsed = evaluator.parse(case.simpleeval)

    def evaluate(event: Event) -> Any:
        evaluator.names = {"new": event.get("new"), "old": event.get("old")}
        return evaluator.eval(case.simpleeval, previously_parsed=parsed)

    return evaluate


@dataclass(frozen=True)
class Engine:
    name: str
    distribution: str | None  # the pip package, to report its version
    compile: Callable[[Case], Evaluator]


OURS = Engine("meterbell (ours)", None, compile_ours)
HANDWRITTEN = Engine("hand-written Python", None, compile_handwritten)
COMPETITORS = [
    Engine("cel-python (celpy)", "cel-python", compile_celpy),
    Engine("Google CEL (cel-expr-python)", "cel-expr-python", compile_google_cel),
    Engine("Rust CEL (common-expression-language)", "common-expression-language", compile_rust_cel),
    Engine("JsonLogic (panzi-json-logic)", "panzi-json-logic", compile_jsonlogic),
    Engine("simpleeval", "simpleeval", compile_simpleeval),
]


# -- measuring ------------------------------------------------------------------------------------


def normalise(result: Any, mode: str) -> Any:
    """Comparable form: a boolean rule fires or not; a value is a float or None."""
    if mode == "boolean":
        return bool(result)
    return None if result is None else float(result)


def compile_seconds(engine: Engine, case: Case, rounds: int = 20) -> float:
    best = float("inf")
    for _ in range(rounds):
        calc._compile_cached.cache_clear()
        started = time.perf_counter()
        engine.compile(case)
        best = min(best, time.perf_counter() - started)
    return best


def timed_pass(evaluate: Evaluator, events: list[Event]) -> float:
    """Seconds for one pass over ``events``."""
    started = time.perf_counter()
    for event in events:
        evaluate(event)
    return time.perf_counter() - started


def disagreements(
    evaluate: Evaluator, expected: list[Any], events: list[Event], mode: str
) -> tuple[int, str]:
    """How many events an engine gets different from ours (an engine error counts too)."""
    count, first = 0, ""
    for event, want in zip(events, expected, strict=True):
        try:
            got = normalise(evaluate(event), mode)
        except Exception as error:
            got = f"error: {type(error).__name__}: {error}"[:120]
        if got != want:
            count += 1
            first = first or f"{event!r} -> {got!r}, ours {want!r}"
    return count, first


@dataclass
class Row:
    engine: str
    compile_us: float | None = None
    best_seconds: float | None = None
    agreement: str = ""


def measure_case(case: Case, events: list[Event], repeat: int) -> list[Row]:
    """Compile, check agreement, then time passes round-robin (best of ``repeat`` kept).

    Engines are timed in turns so that a busy machine slows them all alike; an engine whose
    pass takes over a second is timed on its first pass only.
    """
    ours = OURS.compile(case)
    expected = [normalise(ours(event), case.mode) for event in events]
    rows: list[Row] = []
    timed: list[tuple[Row, Evaluator]] = []
    for engine in [OURS, HANDWRITTEN, *COMPETITORS]:
        try:
            evaluate = engine.compile(case)
        except ImportError as error:
            rows.append(Row(engine.name, agreement=f"not installed ({error.name})"))
            continue
        row = Row(engine.name)
        if engine is not HANDWRITTEN:
            row.compile_us = compile_seconds(engine, case) * 1e6
        wrong, example = disagreements(evaluate, expected, events, case.mode)
        row.agreement = f"{len(events) - wrong}/{len(events)}"
        if wrong:
            row.agreement += f" (first: {example})"
        else:
            timed.append((row, evaluate))
        rows.append(row)
    for round_number in range(repeat):
        for row, evaluate in timed:
            if round_number and row.best_seconds is not None and row.best_seconds > 1.0:
                continue
            seconds = timed_pass(evaluate, events)
            row.best_seconds = min(seconds, row.best_seconds or seconds)
    return rows


def per_second(row: Row, events: int) -> float | None:
    return None if row.best_seconds is None else events / row.best_seconds


def verdict(rows: list[Row], events: int) -> str:
    speeds = {row.engine: per_second(row, events) for row in rows}
    ours, hand = speeds.pop(OURS.name), speeds.pop(HANDWRITTEN.name)
    assert ours is not None
    assert hand is not None
    parts = [f"ours / hand-written = {ours / hand:.2f}x (target >= 0.5x)"]
    others = [speed for speed in speeds.values() if speed is not None]
    if others:
        parts.append(f"ours / fastest other engine = {ours / max(others):.1f}x (target >= 10x)")
    else:
        parts.append("no other engine could be measured")
    return "; ".join(parts)


def render(case: Case, rows: list[Row], events: int) -> Iterable[str]:
    ours = per_second(rows[0], events)
    yield f"### {case.name}"
    yield ""
    yield f"`{' '.join(case.ours.split())}` ({case.mode} mode)"
    yield ""
    yield "| engine | compile (µs) | evaluations/s | ours is x faster | agrees with ours |"
    yield "|---|---:|---:|---:|---|"
    for row in rows:
        speed = per_second(row, events)
        compile_text = "—" if row.compile_us is None else f"{row.compile_us:,.0f}"
        speed_text = "—" if speed is None else f"{speed:,.0f}"
        ratio = "—" if speed is None or ours is None else f"{ours / speed:.1f}"
        yield f"| {row.engine} | {compile_text} | {speed_text} | {ratio} | {row.agreement} |"
    yield ""
    yield verdict(rows, events)
    yield ""


def versions() -> str:
    found = []
    for engine in COMPETITORS:
        assert engine.distribution is not None
        try:
            found.append(f"{engine.distribution} {importlib.metadata.version(engine.distribution)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{engine.distribution} (not installed)")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15, help="timing rounds (best is kept)")
    arguments = parser.parse_args()
    events = generate_events(arguments.events)
    print(f"## Calculation engines on {len(events):,} events")
    print()
    print(f"Python {platform.python_version()} on {platform.machine()}; {versions()}.")
    print("Compile time is the best of 20 uncached compiles. Evaluations/s is the best of")
    print(f"{arguments.repeat} passes over all events, engines taking turns (an engine slower than")
    print("1 s a pass is timed once), including any per-event conversion an engine needs.")
    print()
    for case in CASES:
        rows = measure_case(case, events, arguments.repeat)
        for line in render(case, rows, len(events)):
            print(line)


if __name__ == "__main__":
    main()
