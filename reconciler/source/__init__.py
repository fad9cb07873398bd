"""Where definitions come from: a Git branch (``git.GitSource``) or a local folder in development
(``directory.DirectorySource``), chosen from ``--repo`` by ``opening.open_source``.

The service's reconcile loop asks a source for its current revision and for a ``Snapshot`` of the
files at a revision; loading and validating those files happens above, in ``validation``.
"""
