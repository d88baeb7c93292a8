"""Where every check stage puts what it finds: one list, one way to add to it.

The resolver, the whole-mapping checks (``shimgen.check.coverage``) and the
route checker each report through the same :class:`Report`, a finding at a
place in the mapping (a data path into the YAML, so the finding carries
``file:line:col``). None of them writes into the loaded mapping; ``check``
hands the collected findings to its result once, at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shimgen.diagnostics import Code, Finding
from shimgen.mapping.load import LoadedMapping
from shimgen.mapping.yamlpos import DataPath


@dataclass
class Report:
    """The findings of one check run, in the order they were found."""

    loaded: LoadedMapping
    findings: list[Finding] = field(default_factory=list)
    unreadable: bool = False  # a schema file is missing: exit 2, as for a missing mapping

    def error(
        self,
        code: Code,
        message: str,
        where: DataPath,
        hint: str = "",
        *,
        value: bool = False,
        offset: int | None = None,
    ) -> None:
        """A finding at the key (or value) at ``where``; ``offset``: at that character of it.

        On a recovered mapping (shape errors set parts of the file aside) a finding
        that may be only a consequence of what was set aside is not reported.
        """
        recovered = self.loaded.recovered
        if recovered is not None:
            located = recovered.locate(where, code)
            if located is None:
                return
            where = located
        self.findings.append(
            self.loaded.finding(code, message, where, hint, value=value, offset=offset)
        )

    def __len__(self) -> int:
        return len(self.findings)
