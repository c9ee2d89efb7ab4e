"""alur_step: write Alur step plugins in Python.

A step plugin is a WebAssembly component of the ``alur:step`` world (``sdk/wit/alur-step.wit``): one ``run``
export that takes a JSON input and returns a JSON output or a step-error. This module hides the JSON and the
componentize-py bindings: write a plain function and export it once::

    import alur_step
    from alur_step import InvalidInput, config, kv, log

    def run(ctx: alur_step.Context, input: dict) -> dict:
        total = input.get("total")
        if not isinstance(total, (int, float)):
            raise InvalidInput("missing-total", "input.total must be a number")
        limit = config.parse("limit", float, 10_000.0)
        seen = kv.get("orders-seen", 0) + 1
        kv.set("orders-seen", seen)
        log.info(f"order {seen}: {total}")
        return {"approved": total <= limit}

    # componentize-py instantiates the class named WitWorld in the app module and calls its `run`.
    WitWorld = alur_step.export(run)

- The input must be a JSON object; anything else is answered with an ``invalid-input`` error before ``run``.
- Raise ``InvalidInput``, ``Business``, ``Transient`` or ``Internal`` (or ``StepFailure(kind, code, message)``)
  for a step-error of that kind. Any other exception becomes an ``internal`` error carrying the exception's
  text, and its traceback goes to the runtime log.
- The return value must be JSON-serialisable (dicts, lists, str, int, float, bool, None); otherwise the step
  fails with an ``internal`` ``output-encoding`` error.
- ``log``, ``config`` and ``kv`` are the host API. kv writes are buffered by the host and become visible to other
  steps only when this step's completion is committed; a failed attempt leaves no trace.

Build with ``componentize-py -d wit -w step componentize app -o app.wasm``. Off wasm (``python3 -m unittest``),
the bindings do not exist: use ``FakeHost`` to serve the host API in-process (see its docstring).
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "Context",
    "StepFailure",
    "InvalidInput",
    "Business",
    "Transient",
    "Internal",
    "export",
    "call",
    "log",
    "config",
    "kv",
    "FakeHost",
]

#: The four kinds of step-error, spelled as in the WIT `error-kind` enum.
KINDS = ("invalid-input", "business", "transient", "internal")
#: The WIT `level` enum of `log`.
LEVELS = ("trace", "debug", "info", "warn", "error")
#: The runtime's kv limits (``runtime/src/sandbox/kv.rs``); over them the runtime traps the step.
MAX_KV_KEY_BYTES = 512
MAX_KV_VALUE_BYTES = 1 << 20

# The componentize-py bindings exist only inside the component (generated at build time); natively the
# host API is served by a FakeHost, so importing this module must not need them.
_ON_WASM = sys.platform == "wasi"
if _ON_WASM:
    from componentize_py_types import Err as _WitErr
    from wit_world.imports import host as _wit_host
    from wit_world.imports import types as _wit_types


class StepFailure(Exception):
    """A step-error: the step's own failure, of one of the four kinds the process engine understands.

    ``code`` is a stable, machine-readable name a process definition can route on (``on-error``);
    ``message`` explains it to people.
    """

    def __init__(self, kind: str, code: str, message: str):
        if kind not in KINDS:
            raise ValueError(f"step-error kind must be one of {', '.join(KINDS)}, got {kind!r}")
        super().__init__(f"{kind} {code}: {message}")
        self.kind = kind
        self.code = str(code)
        self.message = str(message)

    def to_dict(self) -> Dict[str, str]:
        """The error as `alur step run` prints it."""
        return {"kind": self.kind, "code": self.code, "message": self.message}


class InvalidInput(StepFailure):
    """The input does not fit what the step expects; retrying will not help."""

    def __init__(self, code: str, message: str):
        super().__init__("invalid-input", code, message)


class Business(StepFailure):
    """A business rule said no; the definition's ``on-error`` may route it."""

    def __init__(self, code: str, message: str):
        super().__init__("business", code, message)


class Transient(StepFailure):
    """A passing failure; the step's retry policy retries it."""

    def __init__(self, code: str, message: str):
        super().__init__("transient", code, message)


class Internal(StepFailure):
    """A bug or an unexpected state inside the step."""

    def __init__(self, code: str, message: str):
        super().__init__("internal", code, message)


@dataclass(frozen=True)
class Context:
    """Where a step runs: tenant, process version, instance, step, and which attempt (1 = first) this is."""

    tenant: str
    process: str
    process_version: int
    instance_id: str
    step_id: str
    attempt: int

    @classmethod
    def for_test(cls, step_id: str = "test", attempt: int = 1) -> "Context":
        """A context for unit tests: tenant ``test``, process ``test`` version 1."""
        return cls("test", "test", 1, "test-instance", step_id, attempt)


Step = Callable[[Context, dict], Any]


def call(step: Step, ctx: Context, raw_input: str) -> str:
    """Runs ``step`` on a JSON input the way the component does; the output JSON, or raises ``StepFailure``.

    Kept free of bindings so that the exact dispatch the component uses is unit-testable natively.
    """
    try:
        value = json.loads(raw_input)
    except ValueError as e:
        raise InvalidInput("invalid-json", f"the step input is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise InvalidInput("invalid-input", f"the step input must be a JSON object, got {_json_type(value)}")
    try:
        output = step(ctx, value)
    except StepFailure:
        raise
    except Exception as e:  # noqa: BLE001 - every other exception is a bug of the step: report it, never trap
        if _ON_WASM:
            # stderr goes to the runtime's log of the step; natively the chained exception carries it.
            traceback.print_exc(file=sys.stderr)
        raise Internal("unhandled-exception", f"{type(e).__name__}: {e}") from e
    try:
        return json.dumps(output, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise Internal("output-encoding", f"the step output cannot be encoded as JSON: {e}") from None


def export(step: Step) -> type:
    """The class componentize-py exports for ``step``; assign it to ``WitWorld`` in the app module."""

    class WitWorld:
        def run(self, ctx: Any, input: str) -> str:
            context = Context(
                ctx.tenant, ctx.process, ctx.process_version, ctx.instance_id, ctx.step_id, ctx.attempt
            )
            try:
                return call(step, context, input)
            except StepFailure as e:
                raise _WitErr(_wit_types.StepError(_WIT_KINDS[e.kind], e.code, e.message)) from None

    WitWorld.__qualname__ = WitWorld.__name__ = "WitWorld"
    WitWorld.__doc__ = f"The `step` world export running {getattr(step, '__name__', 'the step')}."
    return WitWorld


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


# --- the host API ---------------------------------------------------------------------------------------------

# The FakeHost currently serving the host API natively; None inside the component.
_fake: Optional["FakeHost"] = None


def _host() -> Any:
    if _fake is not None:
        return _fake
    if _ON_WASM:
        return _WIT_HOST
    raise RuntimeError(
        "the Alur host API is only there inside the component; in native unit tests, run the step "
        "inside `with alur_step.FakeHost(...) as host:`"
    )


class _WitHostAdapter:
    """The host API over the componentize-py bindings, with the same string levels as FakeHost."""

    def log(self, level: str, message: str) -> None:
        _wit_host.log(_WIT_LEVELS[level], message)

    def config(self, key: str) -> Optional[str]:
        return _wit_host.config(key)

    def kv_get(self, key: str) -> Optional[bytes]:
        value = _wit_host.kv_get(key)
        return None if value is None else bytes(value)

    def kv_set(self, key: str, value: bytes) -> None:
        _wit_host.kv_set(key, value)

    def kv_delete(self, key: str) -> None:
        _wit_host.kv_delete(key)


if _ON_WASM:
    _WIT_HOST = _WitHostAdapter()
    _WIT_LEVELS = {name: getattr(_wit_host.Level, name.upper()) for name in LEVELS}
    _WIT_KINDS = {name: getattr(_wit_types.ErrorKind, name.replace("-", "_").upper()) for name in KINDS}


class _Log:
    """Lines in the runtime's log, tagged with tenant, process, instance and step."""

    def log(self, level: str, message: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
        _host().log(level, str(message))

    def trace(self, message: str) -> None:
        self.log("trace", message)

    def debug(self, message: str) -> None:
        self.log("debug", message)

    def info(self, message: str) -> None:
        self.log("info", message)

    def warn(self, message: str) -> None:
        self.log("warn", message)

    def error(self, message: str) -> None:
        self.log("error", message)


class _Config:
    """The step's ``config:`` block from the process definition (every value is a string there)."""

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        value = _host().config(key)
        return default if value is None else value

    def parse(self, key: str, convert: Callable[[str], Any], default: Any = None) -> Any:
        """The value converted by ``convert`` (``int``, ``float``, ...); one that does not convert is an
        ``internal`` ``invalid-config`` error, since the definition is wrong, not the input."""
        raw = _host().config(key)
        if raw is None:
            return default
        try:
            return convert(raw.strip())
        except (TypeError, ValueError) as e:
            raise Internal("invalid-config", f"config key `{key}` = `{raw}` does not parse: {e}") from None

    def json(self, key: str, default: Any = None) -> Any:
        """A value holding JSON (tables such as weights or owner lists); bad JSON is ``invalid-config``."""
        raw = _host().config(key)
        if raw is None:
            return default
        try:
            return json.loads(raw)
        except ValueError as e:
            raise Internal("invalid-config", f"config key `{key}` is not JSON: {e}") from None


class _Kv:
    """State scoped to (tenant, plugin name), as bytes or JSON."""

    def get_bytes(self, key: str) -> Optional[bytes]:
        return _host().kv_get(key)

    def set_bytes(self, key: str, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"kv.set_bytes takes bytes, got {type(value).__name__}")
        _host().kv_set(key, bytes(value))

    def delete(self, key: str) -> None:
        _host().kv_delete(key)

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value under ``key``; a value that is not JSON is an ``internal`` ``invalid-state`` error."""
        raw = _host().kv_get(key)
        if raw is None:
            return default
        try:
            return json.loads(raw)
        except ValueError as e:
            raise Internal("invalid-state", f"kv key `{key}` does not hold JSON: {e}") from None

    def set(self, key: str, value: Any) -> None:
        """Stores ``value`` as JSON under ``key``."""
        try:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            raise Internal("invalid-state", f"kv value for `{key}` cannot be encoded as JSON: {e}") from None
        _host().kv_set(key, encoded.encode("utf-8"))


log = _Log()
config = _Config()
kv = _Kv()


# --- the fake host for native unit tests ----------------------------------------------------------------------


class FakeHost:
    """An in-process stand-in for the Alur host, for ``python3 -m unittest`` without wasm.

    While a ``with FakeHost(...) as host:`` block runs, ``log``, ``config`` and ``kv`` talk to it::

        with FakeHost(config={"limit": "100"}, kv={"orders-seen": b"4"}) as host:
            out = host.run(app.run, {"total": 50})       # JSON in and out, exactly like the component
            assert out == {"approved": True}
            assert host.kv_json("orders-seen") == 5
            assert ("info", "order 5: 50") in host.logs

    ``run`` mirrors the runtime: the input goes through JSON, errors come back as ``StepFailure``, and the
    step's kv writes are applied only if it succeeds (a failed attempt leaves no state). Calling a step
    function directly inside the block writes straight to ``kv``.
    """

    def __init__(self, config: Optional[Dict[str, str]] = None, kv: Optional[Dict[str, bytes]] = None):
        self.config_values: Dict[str, str] = {k: str(v) for k, v in (config or {}).items()}
        self.kv: Dict[str, bytes] = dict(kv or {})
        self.logs: List[Tuple[str, str]] = []
        # An attempt's pending writes while `run` is active: key -> bytes, or None for a delete.
        self._pending: Optional[Dict[str, Optional[bytes]]] = None
        self._previous: Optional[FakeHost] = None

    def __enter__(self) -> "FakeHost":
        global _fake
        self._previous, _fake = _fake, self
        return self

    def __exit__(self, *exc: Any) -> None:
        global _fake
        _fake = self._previous

    def run(self, step: Step, input: Any, ctx: Optional[Context] = None) -> Any:
        """Runs ``step`` as the component would; the decoded output, or raises ``StepFailure``."""
        raw = input if isinstance(input, str) else json.dumps(input)
        self._pending = {}
        try:
            with self:
                output = call(step, ctx or Context.for_test(), raw)
            for key, value in self._pending.items():
                if value is None:
                    self.kv.pop(key, None)
                else:
                    self.kv[key] = value
            return json.loads(output)
        finally:
            self._pending = None

    def kv_json(self, key: str, default: Any = None) -> Any:
        """The committed JSON value under ``key``."""
        raw = self.kv.get(key)
        return default if raw is None else json.loads(raw)

    # The host API, as FakeHost serves it.

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def config(self, key: str) -> Optional[str]:
        return self.config_values.get(key)

    def kv_get(self, key: str) -> Optional[bytes]:
        if self._pending is not None and key in self._pending:
            return self._pending[key]
        return self.kv.get(key)

    def kv_set(self, key: str, value: bytes) -> None:
        self._check_key(key)
        if len(value) > MAX_KV_VALUE_BYTES:
            raise ValueError(f"kv value of {len(value)} bytes is over the runtime's {MAX_KV_VALUE_BYTES}-byte limit")
        if self._pending is not None:
            self._pending[key] = value
        else:
            self.kv[key] = value

    def kv_delete(self, key: str) -> None:
        self._check_key(key)
        if self._pending is not None:
            self._pending[key] = None
        else:
            self.kv.pop(key, None)

    @staticmethod
    def _check_key(key: str) -> None:
        size = len(key.encode("utf-8"))
        if size > MAX_KV_KEY_BYTES:
            raise ValueError(f"kv key of {size} bytes is over the runtime's {MAX_KV_KEY_BYTES}-byte limit")
