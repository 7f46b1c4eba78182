"""Message texts: one TOML file per language that a city edits, checked when loaded.

`<dir>/<language>.toml` holds `[sms]` (citizen texts by template), `[push.<template>]`
(`title` and `body` of staff pushes) and `[stages]` (the SLA stages' names). Korean is
complete and the fallback: a text missing in another language is sent in Korean.

Loading checks every text against FIELDS: a placeholder the template does not have, a
required one missing (every citizen text carries its ticket), a malformed brace, a
template nobody sends or a Korean text missing is an error at load time (the server does
not start), never at send time.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dispatch_server.complaints.constants import Language

DEFAULT_DIR = Path(__file__).with_name("templates")
FALLBACK = Language.KO

_CITIZEN = frozenset({"ticket", "category_name", "link"})
# The placeholders each template may use; the first set is what it must use.
SMS_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "received": (frozenset({"ticket"}), _CITIZEN),
    "duplicate": (frozenset({"ticket"}), _CITIZEN | {"original_ticket"}),
    "assigned": (frozenset({"ticket"}), _CITIZEN),
    "en_route": (frozenset({"ticket"}), _CITIZEN),
    "resolved": (frozenset({"ticket"}), _CITIZEN | {"result_name"}),
    "unresolved": (frozenset({"ticket"}), _CITIZEN | {"reason"}),
    "referred": (frozenset({"ticket"}), _CITIZEN | {"referred_to"}),
}
_CASE = frozenset({"ticket", "category_name", "address", "priority"})
_SLA = frozenset({"ticket", "stage", "due_at"})
PUSH_FIELDS: dict[str, frozenset[str]] = {
    "assigned_to_you": _CASE,
    "reassigned_to_you": _CASE,
    "taken_from_you": _CASE,
    "sla_warning": _SLA,
    "sla_breached": _SLA,
    "sla_escalated": _SLA,
}
STAGES = ("assign", "arrive", "resolve")
NONE: frozenset[str] = frozenset()


class TemplateError(ValueError):
    """A template file that cannot be used as it is."""


class UnknownTemplate(LookupError):
    """A message names a template no file has (a permanent failure: dead-lettered)."""


@dataclass(frozen=True)
class Push:
    title: str
    body: str


@dataclass
class Templates:
    """The checked texts of every language."""

    sms: dict[str, dict[str, str]] = field(default_factory=dict)
    push: dict[str, dict[str, Push]] = field(default_factory=dict)
    stages: dict[str, dict[str, str]] = field(default_factory=dict)

    def sms_text(self, template: str, language: str, values: Mapping[str, object]) -> str:
        """The citizen text of `template` in `language` (Korean when it has none)."""
        text = self.sms.get(language, {}).get(template) or self.sms[FALLBACK].get(template)
        if text is None:
            raise UnknownTemplate(f"no SMS template {template!r}")
        return _render(text, values)

    def push_text(self, template: str, language: str, values: Mapping[str, object]) -> Push:
        """The push of `template`; `stage` in `values` is a clock kind, named here."""
        push = self.push.get(language, {}).get(template) or self.push[FALLBACK].get(template)
        if push is None:
            raise UnknownTemplate(f"no push template {template!r}")
        values = dict(values)
        if "stage" in values:
            stages = self.stages.get(language) or self.stages[FALLBACK]
            values["stage"] = stages.get(str(values["stage"]), values["stage"])
        return Push(_render(push.title, values), _render(push.body, values))


class _Blank(dict[str, object]):
    """Values for rendering: a value the case does not have renders as an empty string."""

    def __missing__(self, key: str) -> str:
        return ""


def _render(text: str, values: Mapping[str, object]) -> str:
    rendered = text.format_map(_Blank({k: "" if v is None else v for k, v in values.items()}))
    return " ".join(rendered.split())  # an empty value leaves no double space


def placeholders(text: str) -> set[str]:
    """The {names} a text uses; a malformed brace or a {name.attr} is a TemplateError."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise TemplateError(str(error)) from None
    names = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise TemplateError(f"{{{name}}}: only plain {{name}} placeholders are allowed")
        names.add(name)
    return names


def _check(where: str, text: object, allowed: frozenset[str], required: frozenset[str]) -> str:
    if not isinstance(text, str) or not text.strip():
        raise TemplateError(f"{where}: must be a non-empty string")
    try:
        used = placeholders(text)
    except TemplateError as error:
        raise TemplateError(f"{where}: {error}") from None
    if unknown := used - allowed:
        raise TemplateError(
            f"{where}: unknown placeholder(s) {', '.join(sorted(unknown))};"
            f" this template has {', '.join(sorted(allowed))}"
        )
    if missing := required - used:
        raise TemplateError(f"{where}: must contain {', '.join('{' + m + '}' for m in missing)}")
    return text


def load(directory: Path = DEFAULT_DIR) -> Templates:
    """Read and check every language's file; TemplateError on the first problem."""
    templates = Templates()
    for language in Language:
        path = directory / f"{language}.toml"
        if not path.exists():
            if language is FALLBACK:
                raise TemplateError(f"{path}: the Korean texts are required (the fallback)")
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise TemplateError(f"{path}: {error}") from None
        if extra := set(data) - {"sms", "push", "stages"}:
            raise TemplateError(f"{path}: unknown section(s) {', '.join(sorted(extra))}")
        sms = {}
        for name, text in data.get("sms", {}).items():
            if name not in SMS_FIELDS:
                raise TemplateError(f"{path}: [sms] {name}: no such template")
            required, allowed = SMS_FIELDS[name]
            sms[name] = _check(f"{path}: [sms] {name}", text, allowed, required)
        push = {}
        for name, parts in data.get("push", {}).items():
            if name not in PUSH_FIELDS or not isinstance(parts, dict):
                raise TemplateError(f"{path}: [push.{name}]: no such template")
            if set(parts) != {"title", "body"}:
                raise TemplateError(f"{path}: [push.{name}]: needs exactly title and body")
            push[name] = Push(
                *(
                    _check(
                        f"{path}: [push.{name}] {part}", parts[part], PUSH_FIELDS[name], frozenset()
                    )
                    for part in ("title", "body")
                )
            )
        stages = data.get("stages", {})
        if not isinstance(stages, dict) or set(stages) - set(STAGES):
            raise TemplateError(f"{path}: [stages] may name only {', '.join(STAGES)}")
        if language is FALLBACK:
            for kind, names, known in (
                ("sms", sms, SMS_FIELDS),
                ("push", push, PUSH_FIELDS),
                ("stages", stages, dict.fromkeys(STAGES)),
            ):
                if missing := set(known) - set(names):
                    raise TemplateError(f"{path}: [{kind}] lacks {', '.join(sorted(missing))}")
        templates.sms[language] = sms
        templates.push[language] = push
        templates.stages[language] = {k: str(v) for k, v in stages.items()}
    return templates
