"""The catalog of alert rules: the one place that merges the rule files and the rules made in the
back office. The scheduler runs `catalog.rules()`, `platlogs alerts` lists and checks them, the
pages list them: all three read `load_catalog`, so a rule listed is a rule that runs.

One entry per rule found (and per rule file that could not be read), with where it comes from
(`source` "file" or "ui", the file's path, the stored row) and, when it does not run, why (`error`).
At most one entry per id is in force:

- Rule files are read in file-name order (rules.rule_files), the rules of a file in their order.
  The first rule with an id keeps it; a later rule with the same id — in another file or the same
  one — is an error entry naming both files and is not run. First by file name because it is the
  one order every reader of the directory agrees on, whatever the file system returns; the other
  rules of the later file still run (one clash does not silence a file).
- A file that cannot be read (bad YAML, a rule the validator refuses) is one error entry, its
  rules not run (rules.load_file reads a file whole).
- A rule made in the back office whose id a rule file uses is an error entry: the file's rule runs.
  Files win because they are reviewed in the repository and cannot be changed from the back office.
- A stored UI rule the validator now refuses (it may have grown stricter) is an error entry with
  no rule.

Disabled rules are in force (listed, not evaluated: the scheduler skips them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..meta.alert_tables import UIRule
from .model import Rule
from .rules import RuleError, load_file, rule_files, validate_rule

FILE, UI = "file", "ui"


@dataclass(frozen=True)
class Entry:
    id: str | None  # None: a rule file that could not be read at all
    rule: Rule | None  # None: nothing usable could be read
    source: str  # FILE or UI
    file: Path | None = None  # the rule file (FILE entries)
    error: str | None = None  # why this entry does not run; None: it is in force
    row: UIRule | None = field(default=None, compare=False)  # the stored definition (UI entries)

    @property
    def in_force(self) -> bool:
        return self.rule is not None and self.error is None

    def message(self) -> str:
        """The error as one line naming the file or the back office and the rule."""
        where = self.file.name if self.file is not None else "made in the back office"
        what = f"rule {self.id}" if self.id else "rule file"
        return f"{what} ({where}): {self.error}"


@dataclass
class Catalog:
    entries: list[Entry] = field(default_factory=list)
    directory: Path | None = None

    def rules(self) -> list[Rule]:
        """The rules in force, files' first (file-name order), then the back office's (by id)."""
        return [e.rule for e in self.entries if e.rule is not None and e.error is None]

    def in_force(self) -> list[Entry]:
        return [e for e in self.entries if e.in_force]

    def not_run(self) -> list[Entry]:
        return [e for e in self.entries if not e.in_force]

    def errors(self) -> list[str]:
        return [e.message() for e in self.entries if e.error]

    @cached_property
    def by_id(self) -> dict[str, Entry]:
        """Rule id -> the entry in force."""
        return {e.id: e for e in self.entries if e.id is not None and e.in_force}

    def ids(self) -> set[str]:
        """Every id found, in force or not (a new rule must take none of them)."""
        return {e.id for e in self.entries if e.id is not None}

    def file(self, rule_id: str) -> Entry | None:
        """The file rule in force with this id."""
        entry = self.by_id.get(rule_id)
        return entry if entry is not None and entry.source == FILE else None

    def ui(self, rule_id: str) -> Entry | None:
        """The rule made in the back office with this id, in force or not (to edit or delete it)."""
        return next((e for e in self.entries if e.source == UI and e.id == rule_id), None)


def load_catalog(meta, rules_dir: Path | str | None, *, validate: Callable[[dict], Rule] | None = None) -> Catalog:
    """Every rule of `rules_dir` (None: no rule files) and of the meta database (see the module's
    docstring). Never raises for a bad rule or file: each is an entry with its error."""
    directory = None if rules_dir is None else Path(rules_dir)
    catalog = Catalog(directory=directory)
    owner: dict[str, Path] = {}  # id -> the file whose rule runs
    for entry in _file_entries(directory):
        if entry.id is not None and entry.file is not None and entry.in_force:
            if entry.id in owner:
                entry = dataclasses.replace(
                    entry,
                    error=(
                        f"id already used in {owner[entry.id].name}, whose rule runs (the first file in name order keeps "
                        f"an id); this one, in {entry.file.name}, does not"
                    ),
                )
            else:
                owner[entry.id] = entry.file
        catalog.entries.append(entry)
    catalog.entries.extend(_ui_entries(meta, owner, validate or (lambda data: validate_rule(data, source=UI))))
    return catalog


def _file_entries(directory: Path | None):
    if directory is None:
        return
    try:
        paths = rule_files(directory)
    except RuleError as exc:
        yield Entry(None, None, FILE, directory, str(exc))
        return
    for path in paths:
        try:
            found = load_file(path)
        except RuleError as exc:  # the entry names the file and the rule; the error says the rest
            yield Entry(exc.rule_id, None, FILE, path, str(RuleError(exc.message, exc.field, exc.position)))
            continue
        for rule in found:
            yield Entry(rule.id, rule, FILE, path)


def _ui_entries(meta, files: dict[str, Path], validate: Callable[[dict], Rule]):
    from .lifecycle import Alerts

    for row in Alerts(meta).ui_rule_rows():
        try:
            rule = dataclasses.replace(validate(row.data), source=UI)
        except (RuleError, ValueError, TypeError, KeyError) as exc:
            yield Entry(row.rule_id, None, UI, error=f"not valid any more, not run: {exc}", row=row)
            continue
        if row.rule_id in files:
            yield Entry(
                row.rule_id,
                rule,
                UI,
                row=row,
                error=(f"a rule file ({files[row.rule_id].name}) has the same id: the file's rule runs, this one does not"),
            )
        else:
            yield Entry(row.rule_id, rule, UI, row=row)
