"""{{name}}: an Alur step plugin.

Input ``{"name": "Ana"}``; output ``{"greeting": "Hello, Ana!", "count": 1}``, where ``count`` is how many
greetings this tenant's plugin has given so far (kept in kv). Config ``salutation`` (default ``Hello``).
A missing or blank ``name`` is an ``invalid-input`` step-error with code ``missing-name``.
"""

import alur_step
from alur_step import InvalidInput, config, kv, log


def run(ctx: alur_step.Context, input: dict) -> dict:
    name = input.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("missing-name", "input.name must be a non-empty string")
    salutation = config.get("salutation", "Hello")
    # kv writes become visible to other steps only when this one completes; a failed attempt leaves none.
    count = kv.get("greetings", 0) + 1
    kv.set("greetings", count)
    log.info(f"greeting number {count} (attempt {ctx.attempt})")
    return {"greeting": f"{salutation}, {name.strip()}!", "count": count}


# componentize-py instantiates the class named WitWorld in this module and calls its `run`.
WitWorld = alur_step.export(run)
