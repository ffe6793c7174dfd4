"""Print the README's table of registry architectures by what they export to in transformers (and why not).

README.md ("Registry architectures and what they export to") holds this table; tests/test_export_hf.py checks that
it is current. After a change to the registry or to what transformers can hold, paste the output over it:

    .venv/bin/python scripts/transformers_export_table.py
"""

from __future__ import annotations

import re

from clipzoo.export.transformers import transformers_export_support


def registry_export_table() -> list[tuple[str, str]]:
    """``(architecture, transformers class or 'no: reason')`` for every registry architecture."""
    from clipzoo.registry.architectures import get_model_config, list_models

    rows = []
    for name in list_models():
        support = transformers_export_support(get_model_config(name))
        rows.append((name, support.hf_class if support.ok else f"no: {support.reason}"))
    return rows


def registry_export_markdown() -> str:
    """The README table: registry architectures grouped by what they export to, and why the others do not."""
    groups: dict[str, list[str]] = {}
    for name, result in registry_export_table():
        # one row per kind of reason: the timm trunk or Hub text model named in it does not split rows
        result = re.sub(r"timm's '[^']+'", "another timm trunk", result)
        result = re.sub(r"Hugging Face model \([^)]*\)", "Hugging Face model", result)
        groups.setdefault(result, []).append(name)
    lines = ["| exports to | architectures |", "|---|---|"]
    for result in sorted(groups, key=lambda r: (r.startswith("no:"), -len(groups[r]), r)):
        names = ", ".join(f"`{n}`" for n in groups[result])
        label = f"`{result}`" if not result.startswith("no:") else f"not exported ({result[4:]})"
        lines.append(f"| {label} ({len(groups[result])}) | {names} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(registry_export_markdown())
