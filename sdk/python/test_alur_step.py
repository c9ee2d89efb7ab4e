"""Unit tests of the SDK helper off wasm: the JSON dispatch, the error mapping and the fake host."""

import json
import unittest

import alur_step
from alur_step import Business, Context, FakeHost, Internal, InvalidInput, StepFailure, Transient, config, kv, log


def echo(ctx, input):
    return {"step": ctx.step_id, "input": input}


class Dispatch(unittest.TestCase):
    def test_json_in_json_out(self):
        out = alur_step.call(echo, Context.for_test("s1"), '{"a": [1, "é"]}')
        self.assertEqual(json.loads(out), {"step": "s1", "input": {"a": [1, "é"]}})
        # Compact, and non-ASCII kept as is.
        self.assertEqual(out, '{"step":"s1","input":{"a":[1,"é"]}}')

    def test_input_must_be_a_json_object(self):
        for raw, code in [("{nope", "invalid-json"), ("[1]", "invalid-input"), ('"x"', "invalid-input"), ("3", "invalid-input")]:
            with self.subTest(raw=raw), self.assertRaises(StepFailure) as caught:
                alur_step.call(echo, Context.for_test(), raw)
            self.assertEqual((caught.exception.kind, caught.exception.code), ("invalid-input", code))

    def test_step_failures_keep_their_kind_and_code(self):
        for error, kind in [
            (InvalidInput("bad", "m"), "invalid-input"),
            (Business("no", "m"), "business"),
            (Transient("busy", "m"), "transient"),
            (Internal("bug", "m"), "internal"),
            (StepFailure("business", "custom", "m"), "business"),
        ]:
            def step(ctx, input, error=error):
                raise error

            with self.subTest(kind=kind), self.assertRaises(StepFailure) as caught:
                alur_step.call(step, Context.for_test(), "{}")
            self.assertEqual(caught.exception.to_dict(), {"kind": kind, "code": error.code, "message": "m"})

    def test_unknown_kind_is_refused(self):
        with self.assertRaises(ValueError):
            StepFailure("fatal", "x", "y")

    def test_any_other_exception_is_an_internal_error_with_its_text(self):
        def step(ctx, input):
            return {"ratio": 1 / input["n"]}

        with self.assertRaises(StepFailure) as caught:
            alur_step.call(step, Context.for_test(), '{"n": 0}')
        self.assertEqual(caught.exception.kind, "internal")
        self.assertEqual(caught.exception.code, "unhandled-exception")
        self.assertEqual(caught.exception.message, "ZeroDivisionError: division by zero")

    def test_output_must_be_json(self):
        for bad in [{"when": object()}, {"x": float("nan")}, {1, 2}]:
            with self.subTest(bad=bad), self.assertRaises(StepFailure) as caught:
                alur_step.call(lambda ctx, input, bad=bad: bad, Context.for_test(), "{}")
            self.assertEqual((caught.exception.kind, caught.exception.code), ("internal", "output-encoding"))

    def test_export_makes_the_world_class(self):
        world = alur_step.export(echo)
        self.assertEqual(world.__name__, "WitWorld")
        self.assertTrue(callable(getattr(world(), "run")))


class HostApi(unittest.TestCase):
    def test_outside_a_fake_host_the_api_says_what_to_do(self):
        with self.assertRaisesRegex(RuntimeError, "FakeHost"):
            config.get("x")

    def test_config(self):
        with FakeHost(config={"limit": "12.5", "table": '{"a": 1}', "bad": "{", "n": "x"}):
            self.assertEqual(config.get("limit"), "12.5")
            self.assertIsNone(config.get("missing"))
            self.assertEqual(config.get("missing", "d"), "d")
            self.assertEqual(config.parse("limit", float), 12.5)
            self.assertEqual(config.parse("missing", int, 7), 7)
            self.assertEqual(config.json("table"), {"a": 1})
            self.assertEqual(config.json("missing", []), [])
            for call in (lambda: config.json("bad"), lambda: config.parse("n", int)):
                with self.assertRaises(StepFailure) as caught:
                    call()
                self.assertEqual((caught.exception.kind, caught.exception.code), ("internal", "invalid-config"))

    def test_kv_bytes_and_json(self):
        with FakeHost(kv={"raw": b"\x00\xff", "junk": b"{"}) as host:
            self.assertEqual(kv.get_bytes("raw"), b"\x00\xff")
            kv.set("n", {"count": 2})
            self.assertEqual(kv.get("n"), {"count": 2})
            self.assertEqual(host.kv["n"], b'{"count":2}')
            self.assertEqual(kv.get("missing", 0), 0)
            kv.delete("raw")
            self.assertIsNone(kv.get_bytes("raw"))
            with self.assertRaises(StepFailure) as caught:
                kv.get("junk")
            self.assertEqual(caught.exception.code, "invalid-state")
            with self.assertRaises(TypeError):
                kv.set_bytes("k", "text")
            with self.assertRaises(ValueError):
                kv.set_bytes("k" * 513, b"")

    def test_logs(self):
        with FakeHost() as host:
            log.info("one")
            log.warn("two")
            log.log("trace", 3)
            with self.assertRaises(ValueError):
                log.log("loud", "x")
        self.assertEqual(host.logs, [("info", "one"), ("warn", "two"), ("trace", "3")])

    def test_hosts_nest(self):
        with FakeHost(config={"k": "outer"}):
            with FakeHost(config={"k": "inner"}):
                self.assertEqual(config.get("k"), "inner")
            self.assertEqual(config.get("k"), "outer")


class FakeRun(unittest.TestCase):
    @staticmethod
    def counter(ctx, input):
        n = kv.get("n", 0) + 1
        kv.set("n", n)
        # The step sees its own write before it completes, as in the runtime.
        assert kv.get("n") == n
        if input.get("fail"):
            raise Transient("busy", "try later")
        return {"n": n}

    def test_run_commits_writes_only_on_success(self):
        host = FakeHost()
        self.assertEqual(host.run(self.counter, {}), {"n": 1})
        with self.assertRaises(StepFailure):
            host.run(self.counter, {"fail": True})
        self.assertEqual(host.kv_json("n"), 1)
        self.assertEqual(host.run(self.counter, '{"x": 1}'), {"n": 2})

    def test_run_passes_the_context(self):
        host = FakeHost()
        out = host.run(echo, {"a": 1}, Context.for_test("route", attempt=3))
        self.assertEqual(out, {"step": "route", "input": {"a": 1}})


if __name__ == "__main__":
    unittest.main()
