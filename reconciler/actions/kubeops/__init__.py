"""How the ``kubernetes.*`` actions are carried out (their schemas live in ``actions/k8s.py``).

- :mod:`errors`: the one place Kubernetes API failures become Temporary/PermanentError.
- :mod:`objects`: the kind → typed-client call table, and every call through ``cluster.run``.
- :mod:`names`: Kubernetes' rules for names, namespaces, kinds and selectors, checked by
  :mod:`objects` before every call (a name such as ``..`` would steer the request elsewhere).
- :mod:`marker`: the rules every mutating action follows (read, refuse ignored objects, change
  and idempotency marker in one patch, retry conflicts, Event), and the marker ``check``.
- :mod:`redaction`, :mod:`quantities`: plain helpers over JSON objects and resource quantities.
- :mod:`generic`, :mod:`workloads`, :mod:`pods`, :mod:`nodes`, :mod:`storage`,
  :mod:`readiness`, :mod:`diagnostics`: the actions, grouped by what they act on.
"""
