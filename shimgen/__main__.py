"""``python -m shimgen``: the same command line as the installed ``shimgen`` script."""

from shimgen.cli import app

app(prog_name="shimgen")
