"""``reconciler test``: running WorkflowTests on a fake clock."""
