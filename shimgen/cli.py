"""The ``shimgen`` command line: a thin layer over check, render and translate."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from shimgen import __version__
from shimgen.check import CheckResult, check_mapping
from shimgen.diagnostics import one_line
from shimgen.internal_error import GuardedGroup
from shimgen.lint.rulesets import DEFAULT_RULESET, Ruleset

app = typer.Typer(
    cls=GuardedGroup,
    help="Generate standalone translation shims between an internal and an external API domain.",
    epilog="Exit codes: 0 clean; 1 findings; 2 input that cannot be read or written; "
    "3 internal error (a bug in shimgen: one line on stderr; --debug adds the traceback).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    rich_markup_mode=None,  # plain help: rich markup ate `[a-z][a-z0-9-]*` and typed flags <bool>
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"shimgen {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            help="Print the shimgen version and exit.",
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="SHIMGEN_DEBUG",
            help="On an internal error (exit 3), print the Python traceback too.",
        ),
    ] = False,
) -> None:
    """Global options; read back by GuardedGroup when a command fails."""


MappingArg = Annotated[
    Path,
    typer.Argument(metavar="MAPPING", help="A mapping file, e.g. mappings/customer.shim.yaml."),
]
OutOption = Annotated[
    Path | None, typer.Option("-o", "--out", metavar="FILE", help="Write here instead of stdout.")
]


VERIFY_ROOT_HELP = (
    "What the lock's input paths are relative to. Default: the first of the project holding "
    "the shim (nearest folder above it with pyproject.toml or .git), the current folder, and "
    "each folder above the shim, that holds the recorded mapping."
)


def _error(exc: Exception) -> None:
    """One line on stderr: the message quotes inputs, which may hold line breaks or escapes."""
    typer.echo(one_line(f"error: {exc}"), err=True)


def _report(result: CheckResult) -> None:
    for line in result.lines():
        typer.echo(line, err=True)


def _checked(mapping: Path) -> CheckResult:
    result = check_mapping(mapping)
    _report(result)
    if result.plan is None:
        raise typer.Exit(result.exit_code or 1)
    return result


@app.command()
def check(
    mappings: Annotated[list[Path], typer.Argument(metavar="MAPPING", help="Mapping files.")],
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="text|json|sarif",
            help="text (compiler style, stderr), or json / sarif on stdout, as lint writes them.",
        ),
    ] = "text",
) -> None:
    """Validate mappings against their schemas; print every finding.

    Example: shimgen check mappings/*.shim.yaml

    Exit 0: clean; 1: findings; 2: a file could not be read; 3: a bug in shimgen.
    """
    from shimgen.lint.cli import FORMATS

    if format_ not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    worst = 0
    checked: list[CheckResult] = []
    for path in mappings:
        result = check_mapping(path)
        checked.append(result)
        if format_ == "text":
            _report(result)
        worst = max(worst, result.exit_code)
        if result.exit_code == 0:
            typer.echo(
                f"{path}: ok ({len(result.plan.rules) if result.plan else 0} fields)", err=True
            )
    if format_ == "json":
        from shimgen.lint.output import render_check_json

        sys.stdout.write(render_check_json(checked))
    elif format_ == "sarif":
        from shimgen.lint.sarif import check_to_sarif

        doc = check_to_sarif(checked, Path.cwd())
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    raise typer.Exit(worst)


@app.command()
def generate(
    mapping: MappingArg,
    out: Annotated[
        Path,
        typer.Option(
            "-o", "--out", metavar="DIR", help="Output directory (replaced if it holds a shim)."
        ),
    ],
    ruleset: Annotated[
        str | None,
        typer.Option(
            metavar="NAME|FILE",
            help="The ruleset the closing lint line counts under, as for `shimgen lint "
            "--ruleset`: authoritative, autonomous, or a ruleset YAML file. [default: autonomous]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write the standalone shim package for a mapping.

    Example: shimgen generate mappings/customer.shim.yaml -o generated_examples/customer_shim

    Ends with one line counting what `shimgen lint` reports under --ruleset (default:
    autonomous); lint errors do not fail generate. A mapping's `extends:` does not
    choose the ruleset (it brings only the ruleset file's `levels:`).
    """
    from shimgen.lint.rulesets import RulesetError, load_ruleset
    from shimgen.render.generate import write_package
    from shimgen.render.models import ModelsError

    try:
        rules = load_ruleset(ruleset or DEFAULT_RULESET)
    except RulesetError as exc:
        typer.echo(exc.format(), err=True)
        raise typer.Exit(2) from None
    result = _checked(mapping)
    assert result.plan is not None
    try:
        written = write_package(result.plan, out)
    except FileExistsError as exc:
        _error(exc)
        raise typer.Exit(2) from None
    except ModelsError as exc:
        _error(exc)
        typer.echo(
            "  hint: the generated service validates with pydantic classes made from the schema; "
            "change the schema so that classes can express it (nothing was written)",
            err=True,
        )
        raise typer.Exit(2) from None
    typer.echo(f"wrote {len(written)} files to {out}", err=True)
    typer.echo(_lint_note(mapping, result, rules, ruleset), err=True)


def _lint_note(mapping: Path, result: CheckResult, ruleset: Ruleset, spec: str | None) -> str:
    """One line: how many lint errors ``ruleset`` finds (never fails generate)."""
    from shimgen.lint.engine import lint_mapping
    from shimgen.lint.output import generate_note

    return generate_note(lint_mapping(mapping, ruleset, checked=result), ruleset, spec)


@app.command()
def init(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Shim name, [a-z][a-z0-9-]*.")],
    internal: Annotated[
        str,
        typer.Option(metavar="FILE[#MODEL]", help="Internal schema file, optionally FILE#MODEL."),
    ],
    external: Annotated[
        str,
        typer.Option(metavar="FILE[#MODEL]", help="External schema file, optionally FILE#MODEL."),
    ],
    out: OutOption = None,
    suggest: Annotated[
        bool,
        typer.Option(
            "--suggest",
            help="Comment each field with its likely external target (never opens a field).",
        ),
    ] = False,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="One `drop` per top-level field instead of one per leaf (a short file for a large schema).",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the -o file if it exists (it may hold your edits)."),
    ] = False,
) -> None:
    """Write a starting mapping that lists every internal field as `drop`.

    Example: shimgen init customer --internal schemas/in.json#Customer --external schemas/out.json#Partner
    """
    from shimgen.initmap import InitError, initial_mapping

    if out is not None and out.exists() and not force:
        typer.echo(
            one_line(
                f"error: {out} exists and may hold your edits; init writes a new mapping with "
                "every field `drop`. Choose another -o file, or add --force to replace it"
            ),
            err=True,
        )
        raise typer.Exit(2)
    try:
        text = initial_mapping(
            name,
            internal,
            external,
            (out or Path("x")).resolve().parent,
            suggest=suggest,
            compact=compact,
        )
    except InitError as exc:
        _error(exc)
        raise typer.Exit(2) from None
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@app.command()
def translate(
    mapping: MappingArg,
    input_: Annotated[
        Path | None, typer.Argument(metavar="INPUT", help="NDJSON file; default stdin.")
    ] = None,
    group: Annotated[
        str | None, typer.Option(metavar="GROUP", help="Functional group whose view to use.")
    ] = None,
    inbound: Annotated[
        bool, typer.Option("--inbound", help="External -> internal instead.")
    ] = False,
    dev_keys: Annotated[
        bool, typer.Option("--dev-keys", help="Ephemeral keyset (demos only).")
    ] = False,
) -> None:
    """Translate NDJSON records, one per line, without a service.

    Example: shimgen translate mappings/customer.shim.yaml --group support < records.ndjson

    Each line is checked as the service checks a request: the input against the
    internal schema (--inbound: the inbound payload), the output against the
    external schema. A bad line is reported on stderr with its line number and
    JSON pointer (never a value) and skipped; the others go on; exit 1 at the
    end if any line failed. Keys come from SHIM_KEYS / SHIM_KEYS_FILE (or --dev-keys).
    """
    from shimgen.translate import TranslateSetupError, run

    result = _checked(mapping)
    assert result.plan is not None
    try:
        failures = run(result.plan, input_, group=group, inbound=inbound, dev_keys=dev_keys)
    except TranslateSetupError as exc:
        _error(exc)
        raise typer.Exit(2) from None
    raise typer.Exit(1 if failures else 0)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the mapping format (for YAML editors).

    Example: shimgen schema > docs/mapping.schema.json
    """
    from shimgen.mapping.model import mapping_json_schema

    typer.echo(json.dumps(mapping_json_schema(), indent=2))


@app.command()
def version() -> None:
    """Print the shimgen version."""
    typer.echo(__version__)


@app.command()
def verify(
    directories: Annotated[
        list[Path], typer.Argument(metavar="SHIM_DIR", help="Generated shim directories.")
    ],
    root: Annotated[
        Path | None, typer.Option(metavar="DIR", help=VERIFY_ROOT_HELP, show_default=False)
    ] = None,
) -> None:
    """Fail if a generated shim was edited by hand (tampered) or its inputs changed (stale).

    Example: shimgen verify generated_examples/*_shim

    Exit 0: in sync; 1: tampered or stale; 2: no lock, or its inputs cannot be found;
    3: a bug in shimgen.
    """
    from shimgen.verify import VerifyError
    from shimgen.verify import verify as verify_dir

    worst = 0
    for directory in directories:
        try:
            verdict = verify_dir(directory, root)
        except VerifyError as exc:
            _error(exc)
            worst = 2
            continue
        for line in verdict.lines():
            typer.echo(line, err=not verdict.ok)
        worst = max(worst, 0 if verdict.ok else 1)
    raise typer.Exit(worst)


@app.command()
def diff(
    old: Annotated[
        str, typer.Argument(metavar="OLD", help="Old mapping: a file, or REV:PATH read from git.")
    ],
    new: Annotated[
        str, typer.Argument(metavar="NEW", help="New mapping: a file, or REV:PATH read from git.")
    ],
    format_: Annotated[
        str,
        typer.Option("--format", metavar="text|md", help="text, or md for a pull-request comment."),
    ] = "text",
    out: OutOption = None,
) -> None:
    """Show what changed between two mappings, loosened (more exposure) first.

    Example: shimgen diff origin/main:mappings/customer.shim.yaml mappings/customer.shim.yaml --format md

    Exit 0: nothing loosened, or the version was bumped; 1: loosened without a
    version bump; 2: a side cannot be read or does not check; 3: a bug in shimgen.
    """
    from shimgen.diff import run as run_diff

    raise typer.Exit(run_diff(old, new, format_, out))


@app.command()
def review(
    mapping: MappingArg,
    format_: Annotated[
        str,
        typer.Option(
            "--format", metavar="md|html", help="md (for a code-hosting site) or html (one file)."
        ),
    ] = "md",
    out: OutOption = None,
) -> None:
    """Write the security review report: what leaves, in which form, for which group.

    Example: shimgen review mappings/customer.shim.yaml --format html -o customer-review.html

    Exit 0: report written; 1: the mapping has errors (printed as by check); 2: unreadable input;
    3: a bug in shimgen.
    """
    from shimgen.review.cli import run as run_review

    raise typer.Exit(run_review(mapping, format_, out))


@app.command()
def lint(
    mappings: Annotated[
        list[Path] | None,
        typer.Argument(metavar="MAPPING", help="Mapping files.", show_default=False),
    ] = None,
    ruleset: Annotated[
        str,
        typer.Option(
            metavar="NAME|FILE",
            help="authoritative, autonomous, or a ruleset YAML file (docs/lint.md).",
        ),
    ] = DEFAULT_RULESET,
    format_: Annotated[
        str, typer.Option("--format", metavar="text|json|sarif", help="Output format.")
    ] = "text",
    base: Annotated[
        str | None,
        typer.Option(
            metavar="FILE|REV",
            help="The mapping's previous version, as a file or a git revision "
            "(enables the version-bump rule).",
            show_default=False,
        ),
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="Print the rules of the ruleset and exit.")
    ] = False,
    show_exempted: Annotated[
        bool,
        typer.Option(
            "--show-exempted", help="List findings exempted by ruleset overrides, with reasons."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also name the rules that did not run (no --base)."),
    ] = False,
) -> None:
    """Apply the mapping style guide: safety rules and house style, Spectral-like.

    Example: shimgen lint mappings/customer.shim.yaml --ruleset authoritative --format sarif

    Exit 0: no error-severity finding (warnings allowed); 1: lint errors, or the
    mapping has checker errors (printed as by check); 2: unreadable input or ruleset;
    3: a bug in shimgen.
    """
    from shimgen.lint.cli import run as run_lint

    raise typer.Exit(
        run_lint(mappings or [], ruleset, format_, base, list_rules, show_exempted, verbose)
    )
