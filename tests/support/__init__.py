"""What the test modules share: the cluster they talk to, the operator they run, the
objects they create, and the catalogue of escape routes. Test modules import from here,
never from one another or from a ``conftest.py``."""
