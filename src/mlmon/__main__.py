from mlmon.cli import app

app(prog_name="mlmon")
