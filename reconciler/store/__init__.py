"""Persistence of executions, their steps, timelines and the revisions they run on."""
