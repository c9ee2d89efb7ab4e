"""The no-op step in Python, doing what tests/components/noop does: parse the JSON input so that it really
crosses the boundary, ignore it and answer {"ok": true}."""

import json

import wit_world
from wit_world.imports.types import Context


class WitWorld(wit_world.WitWorld):
    def run(self, ctx: Context, input: str) -> str:
        json.loads(input)
        return '{"ok":true}'
