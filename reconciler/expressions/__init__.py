"""CEL expressions and ``{{ }}`` templates: the only module that talks to cel-expr-python."""
