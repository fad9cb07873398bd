"""Checks beyond the schema, and compilation of a repository into a runnable :class:`Revision`."""
