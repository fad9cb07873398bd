"""The Alertmanager intake: alerts stored durably, matched against the active revision, and
turned into executions or recorded decisions (SPEC §1.3, §4, §5)."""
