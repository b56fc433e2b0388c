from mlmon.app.cli import app

app(prog_name="mlmon")
