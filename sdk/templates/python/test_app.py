"""Unit tests of {{name}}, natively: alur_step.FakeHost serves config, kv and log without wasm."""

import unittest

import app
from alur_step import FakeHost, StepFailure


class StepTest(unittest.TestCase):
    def test_greets_and_counts(self):
        host = FakeHost(config={"salutation": "Hi"})
        self.assertEqual(host.run(app.run, {"name": " Ana "}), {"greeting": "Hi, Ana!", "count": 1})
        self.assertEqual(host.run(app.run, {"name": "Bo"}), {"greeting": "Hi, Bo!", "count": 2})
        self.assertEqual(host.kv_json("greetings"), 2)
        self.assertEqual(host.logs[-1], ("info", "greeting number 2 (attempt 1)"))

    def test_default_salutation(self):
        self.assertEqual(FakeHost().run(app.run, {"name": "Ana"})["greeting"], "Hello, Ana!")

    def test_missing_name_is_invalid_input_and_counts_nothing(self):
        host = FakeHost()
        for bad in [{}, {"name": "  "}, {"name": 42}]:
            with self.subTest(bad=bad), self.assertRaises(StepFailure) as caught:
                host.run(app.run, bad)
            self.assertEqual((caught.exception.kind, caught.exception.code), ("invalid-input", "missing-name"))
        self.assertEqual(host.kv, {})


if __name__ == "__main__":
    unittest.main()
