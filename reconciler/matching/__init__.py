"""Matching alerts to policies, and evaluating guardrail rules against an action."""
