"""Rules for one Workflow: step ids, kinds, ``needs`` and cycles, expressions, actions, subflows.

Called by :mod:`reconciler.validation.revision` for every workflow; returns a
:class:`CompiledWorkflow` and appends every problem found (never stops at the first).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from reconciler.actions.registry import Registry, static_errors
from reconciler.definitions.base import IDENTIFIER
from reconciler.definitions.loader import Located, Repository
from reconciler.definitions.workflow import STEP_KINDS, Step, Workflow
from reconciler.expressions import templates
from reconciler.expressions.compiler import Expression, Scope
from reconciler.settings import DEFAULT
from reconciler.validation import duration_templates, graph, param_references
from reconciler.validation.compiled import CompiledStep, CompiledWorkflow, DocPath
from reconciler.validation.context import BOOL_TYPES, LIST_TYPES, DocumentContext, referenced_steps
from reconciler.validation.params import check_params, literal_fits

_WITH_KINDS = {"action", "workflow"}
# A call of secret(), however spaced: ``secret ('a', 'b')``, ``.secret(``, a comment or a line
# break before the parenthesis (CEL allows them all). A false hit on text fails closed.
_SECRET_CALL = re.compile(r"\bsecret(?:\s|//[^\n]*(?:\n|$))*\(")
_GROUP_FIELDS = ("steps", "parallel", "do")
# Words CEL cannot select as a field (measured): `steps.in` or `params.null` would not parse.
RESERVED = frozenset({"false", "in", "null", "true"})


class _Level:
    """Where a list of sibling steps sits: its parent, its graph, and what is upstream of it."""

    def __init__(
        self, parent: Step | None, siblings: list[Step], path: DocPath, in_for_each: bool
    ) -> None:
        self.parent = parent
        self.siblings = siblings
        self.path = path
        self.in_for_each = in_for_each
        sequential = parent is None or parent.parallel is None
        self.graph = graph.dependencies(siblings, sequential=sequential)


class WorkflowChecker:
    def __init__(
        self,
        located: Located[Workflow],
        repository: Repository,
        registry: Registry,
        ctx: DocumentContext,
    ) -> None:
        self.located = located
        self.workflow = located.definition
        self.repository = repository
        self.registry = registry
        self.ctx = ctx
        self.steps: dict[str, CompiledStep] = {}
        self.children: dict[str | None, tuple[str, ...]] = {}
        self.first_seen: dict[str, DocPath] = {}
        self.all_ids: dict[str, Step] = {}

    def check(self) -> CompiledWorkflow:
        count = len(self.workflow.all_steps())
        limit = DEFAULT.loader.max_steps_per_workflow
        if count > limit:
            self.ctx.problem(
                ("spec", "steps"),
                f"{count} steps; a workflow has at most {limit} (split it into subflows)",
            )
            return CompiledWorkflow(self.located, {}, {None: ()})
        self._check_params()
        self._collect_ids(self.workflow.spec.steps, ("spec", "steps"))
        self._check_level(
            _Level(None, self.workflow.spec.steps, ("spec", "steps"), False), frozenset()
        )
        outputs = self._compile_outputs()
        param_references.check(
            self.ctx, self.workflow.metadata.name, self.workflow.spec.params, self.steps, outputs
        )
        return CompiledWorkflow(self.located, self.steps, self.children, outputs)

    # -- ids -------------------------------------------------------------------------------
    def _collect_ids(self, steps: list[Step], path: DocPath) -> None:
        for index, step in enumerate(steps):
            here = (*path, index)
            if not IDENTIFIER.match(step.id):
                self.ctx.problem(
                    (*here, "id"),
                    f"step id {step.id!r} is not an identifier: use [a-z][a-z0-9_]* so CEL can name it",
                )
            elif step.id in RESERVED:
                self.ctx.problem(
                    (*here, "id"),
                    f"step id {step.id!r} is a CEL reserved word; steps.{step.id} could not be written",
                )
            if step.id in self.first_seen:
                line, _ = self.located.document.locate(self.first_seen[step.id])
                self.ctx.problem(
                    (*here, "id"),
                    f"duplicate step id {step.id!r}; first used at line {line} (ids are unique across the workflow)",
                )
            else:
                self.first_seen[step.id] = (*here, "id")
                self.all_ids[step.id] = step
            for field in _GROUP_FIELDS:
                nested = getattr(step, field)
                if nested is not None:
                    self._collect_ids(nested, (*here, field))

    # -- graph -----------------------------------------------------------------------------
    def _check_level(self, level: _Level, outer_upstream: frozenset[str]) -> None:
        parent_id = level.parent.id if level.parent else None
        self.children[parent_id] = tuple(s.id for s in level.siblings)
        sibling_ids = {s.id for s in level.siblings}
        for index, step in enumerate(level.siblings):
            if step.when == "failure" and not level.graph[step.id]:
                self.ctx.problem(
                    (*level.path, index, "when"),
                    f"step {step.id!r} can never run: when: failure needs a step before it that could fail",
                )
            for n, need in enumerate(step.needs or []):
                if need in (step.needs or [])[:n]:
                    self.ctx.problem(
                        (*level.path, index, "needs", n), f"needs names {need!r} twice"
                    )
                elif need == step.id:
                    self.ctx.problem(
                        (*level.path, index, "needs", n), f"step {step.id!r} needs itself"
                    )
                elif need not in sibling_ids:
                    self.ctx.problem(
                        (*level.path, index, "needs", n), self._unknown_need(need, sibling_ids)
                    )
        for cycle in graph.find_cycles(level.graph):
            if len(cycle) == 2:
                continue  # a step that needs itself is reported as such above
            index = next(i for i, s in enumerate(level.siblings) if s.id == cycle[0])
            self.ctx.problem(
                (*level.path, index, "needs"), f"dependency cycle: {' -> '.join(cycle)}"
            )
        for index, step in enumerate(level.siblings):
            upstream = set(outer_upstream)
            for ancestor in graph.ancestors(level.graph, step.id):
                upstream.add(ancestor)
                upstream |= self._visible_descendants(self.all_ids.get(ancestor))
            self._check_step(step, (*level.path, index), level, frozenset(upstream))

    def _unknown_need(self, need: str, siblings: set[str]) -> str:
        if need in self.all_ids:
            return f"needs names {need!r}, which is not in the same list of steps; needs may only name siblings"
        hint = difflib.get_close_matches(need, sorted(siblings), n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"needs names unknown step {need!r}{suggestion}"

    def _visible_descendants(self, step: Step | None) -> set[str]:
        """Nested steps whose results are known once ``step`` is done (not for_each bodies)."""
        if step is None or step.for_each is not None:
            return set()
        found: set[str] = set()
        for child in step.steps or step.parallel or []:
            found.add(child.id)
            found |= self._visible_descendants(child)
        return found

    # -- one step --------------------------------------------------------------------------
    def _check_step(
        self, step: Step, path: DocPath, level: _Level, upstream: frozenset[str]
    ) -> None:
        self._check_kind(step, path)
        scope = Scope.FOR_EACH if level.in_for_each else Scope.STEP
        compiled = self._compile_fields(step, path, scope, level.in_for_each)
        timed = duration_templates.compile_step(self.ctx, step, path, scope, upstream, self.all_ids)
        if step.action is not None:
            self._check_action(step.action, step.with_ or {}, path)
            if step.action == "ai.investigate":
                self._no_secrets(step.with_, (*path, "with"), "sent to the model")
        if step.workflow is not None:
            self._check_subflow(step, path, compiled.get("with_"))
        self._check_references(step, path, upstream, compiled)
        siblings = {s.id for s in level.siblings}
        self.steps[step.id] = CompiledStep(
            step=step,
            path=path,
            parent=level.parent.id if level.parent else None,
            depends_on=tuple(d for d in level.graph[step.id] if d in siblings),
            scope=scope,
            upstream=upstream,
            durations=timed,
            **compiled,
        )
        for field in _GROUP_FIELDS:
            nested = getattr(step, field)
            if nested is None:
                continue
            if not nested:
                self.ctx.problem((*path, field), f"{field} is empty; give it at least one step")
                continue
            # Nested steps see what their group sees (the group itself is not done yet).
            child_level = _Level(step, nested, (*path, field), level.in_for_each or field == "do")
            self._check_level(child_level, upstream)

    def _compile_fields(
        self, step: Step, path: DocPath, scope: Scope, in_for_each: bool
    ) -> dict[str, Any]:
        """Compile every expression and template of one step (and check the actions it names)."""
        ctx = self.ctx
        compiled: dict[str, Any] = {}
        if step.if_ is not None:
            compiled["if_"] = ctx.expression(step.if_, scope, (*path, "if"), returns=BOOL_TYPES)
        if step.with_ is not None:
            compiled["with_"] = self._with(step.action, step.with_, scope, (*path, "with"))
        if step.for_each is not None:
            compiled["for_each"] = ctx.expression(
                step.for_each, scope, (*path, "for_each"), returns=LIST_TYPES | {"list"}
            )
        if step.wait_until is not None:
            polling = Scope.FOR_EACH_POLL if in_for_each else Scope.POLL
            wu_scope = polling if step.wait_until.action else scope
            compiled["wait_until"] = ctx.expression(
                step.wait_until.expr, wu_scope, (*path, "wait_until", "expr"), returns=BOOL_TYPES
            )
            compiled["wait_until_with"] = self._with(
                step.wait_until.action, step.wait_until.with_, scope, (*path, "wait_until", "with")
            )
            if step.wait_until.action:
                self._check_action(
                    step.wait_until.action, step.wait_until.with_, (*path, "wait_until")
                )
        if step.verify is not None:
            self._check_verify(step, path, scope, compiled)
        if step.compensate is not None:
            compiled["compensate_with"] = self._with(
                step.compensate.action, step.compensate.with_, scope, (*path, "compensate", "with")
            )
            self._check_action(step.compensate.action, step.compensate.with_, (*path, "compensate"))
        if step.approval is not None:
            compiled["approval_message"] = ctx.template(
                step.approval.message, scope, (*path, "approval", "message")
            )
            self._no_secrets(
                step.approval.message, (*path, "approval", "message"), "shown to the approver"
            )
        if step.decide is not None:
            self._check_decide(step, path, scope, compiled)
        return compiled

    def _with(self, action: str | None, raw: Any, scope: Scope, path: DocPath) -> Any:
        """A ``with:`` compiled; the action's URL parameters as URL templates (a value is
        encoded for the part of the URL it lands in: expressions/urls.py)."""
        node = self.ctx.template(raw, scope, path)
        spec = self.registry.get(action) if action else None
        if spec is not None and isinstance(node, dict):
            for param in spec.url_params:
                if param in node:
                    node[param] = templates.url_template(node[param], param)
        return node

    def _check_kind(self, step: Step, path: DocPath) -> None:
        kinds = step.kinds
        if not kinds:
            self.ctx.problem(
                path, f"step {step.id!r} has no kind; set exactly one of {', '.join(STEP_KINDS)}"
            )
        elif len(kinds) > 1 and not (kinds == ["for_each"] and step.do is not None):
            self.ctx.problem(
                (*path, kinds[1]),
                f"step {step.id!r} sets both {kinds[0]!r} and {kinds[1]!r}; a step has exactly one kind",
            )
        if step.with_ is not None and not _WITH_KINDS & set(kinds):
            self.ctx.problem((*path, "with"), "with: is only for action and workflow steps")
        if step.for_each is not None and step.do is None:
            self.ctx.problem((*path, "for_each"), "for_each needs do: (the steps run per item)")
        if step.do is not None and step.for_each is None:
            self.ctx.problem((*path, "do"), "do: is only for for_each steps")
        if step.max_concurrency is not None and step.parallel is None and step.for_each is None:
            self.ctx.problem(
                (*path, "max_concurrency"),
                "max_concurrency is only for parallel and for_each steps",
            )
        if step.verify is not None and not _WITH_KINDS & set(kinds):
            self.ctx.problem((*path, "verify"), "verify is only for action and workflow steps")
        if step.compensate is not None and not _WITH_KINDS & set(kinds):
            self.ctx.problem(
                (*path, "compensate"), "compensate is only for action and workflow steps"
            )

    def _check_verify(
        self, step: Step, path: DocPath, scope: Scope, compiled: dict[str, Any]
    ) -> None:
        verify = step.verify
        assert verify is not None
        if (verify.expr is None) == (verify.action is None):
            self.ctx.problem((*path, "verify"), "verify needs exactly one of expr and action")
        if verify.expr is not None:
            compiled["verify"] = self.ctx.expression(
                verify.expr, scope, (*path, "verify", "expr"), returns=BOOL_TYPES
            )
        if verify.action is not None:
            compiled["verify_with"] = self._with(
                verify.action, verify.with_, scope, (*path, "verify", "with")
            )
            self._check_action(verify.action, verify.with_, (*path, "verify"))

    def _check_decide(
        self, step: Step, path: DocPath, scope: Scope, compiled: dict[str, Any]
    ) -> None:
        decide = step.decide
        assert decide is not None
        options = set(decide.options)
        if len(options) != len(decide.options):
            self.ctx.problem((*path, "decide", "options"), "options must be unique")
        rules: list[tuple[Expression, str]] = []
        for index, rule in enumerate(decide.rules):
            rule_path = (*path, "decide", "rules", index)
            expression = self.ctx.expression(
                rule.if_, scope, (*rule_path, "if"), returns=BOOL_TYPES
            )
            if rule.choose not in options:
                self.ctx.problem(
                    (*rule_path, "choose"),
                    f"choose {rule.choose!r} is not one of the options {sorted(options)}",
                )
            if expression is not None:
                rules.append((expression, rule.choose))
        compiled["decide_rules"] = tuple(rules)
        if decide.fallback is not None and decide.fallback not in options:
            self.ctx.problem(
                (*path, "decide", "fallback"),
                f"fallback {decide.fallback!r} is not one of the options {sorted(options)}",
            )
        if not decide.rules and decide.ai is None and decide.fallback is None:
            self.ctx.problem(
                (*path, "decide"), "decide needs rules, ai or a fallback to choose anything"
            )
        if decide.ai is not None:
            compiled["decide_inputs"] = self.ctx.template(
                {"prompt": decide.ai.prompt, "inputs": decide.ai.inputs},
                scope,
                (*path, "decide", "ai"),
            )
            self._no_secrets(decide.ai.model_dump(), (*path, "decide", "ai"), "sent to the model")

    def _no_secrets(self, value: Any, path: DocPath, audience: str) -> None:
        """``secret()`` where redacting the record cannot help: the value leaves the system."""
        if _SECRET_CALL.search(str(value)):
            self.ctx.problem(path, f"secret() may not be used here: the value would be {audience}")

    def _check_action(self, name: str, raw: Mapping[str, Any] | None, path: DocPath) -> None:
        action = self.registry.get(name)
        if action is None:
            hint = difflib.get_close_matches(name, self.registry.names(), n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else "; see `reconciler actions`"
            self.ctx.problem((*path, "action"), f"unknown action {name!r}{suggestion}")
            return
        for loc, message in static_errors(action.params, raw or {}, _is_dynamic):
            self.ctx.problem((*path, "with", *loc), f"{name}: {message}")

    def _check_subflow(self, step: Step, path: DocPath, compiled_with: Any) -> None:
        name = step.workflow
        assert name is not None
        child = self.repository.workflows.get(name)
        if child is None:
            self.ctx.problem((*path, "workflow"), f"unknown workflow {name!r}")
            return
        given = step.with_ or {}
        compiled = compiled_with if isinstance(compiled_with, dict) else {}
        for param, message in check_params(child.definition.spec.params, given, compiled, name):
            self.ctx.problem((*path, "with", param) if param else (*path, "with"), message)

    def _check_references(
        self, step: Step, path: DocPath, upstream: frozenset[str], compiled: dict[str, Any]
    ) -> None:
        for field, node in compiled.items():
            if field == "decide_rules":
                names = (
                    set().union(*(referenced_steps(expr) for expr, _ in node)) if node else set()
                )
            else:
                names = referenced_steps(node)
            # verify and compensate run after the step itself, so they may read its output.
            allowed = upstream | (
                {step.id} if field in {"verify", "verify_with", "compensate_with"} else set()
            )
            for name in sorted(names - allowed):
                if name not in self.all_ids:
                    message = f"expression names steps.{name}, but there is no step {name!r}"
                elif name == step.id:
                    message = f"expression names its own step steps.{name} before it has run"
                else:
                    message = f"expression names steps.{name}, which is not upstream of step {step.id!r}; add it to needs or move this step after it"
                self.ctx.problem((*path, _field_name(field)), message)

    # -- workflow level --------------------------------------------------------------------
    def _check_params(self) -> None:
        for name, spec in self.workflow.spec.params.items():
            path = ("spec", "params", name)
            if not IDENTIFIER.match(name) or name in RESERVED:
                self.ctx.problem(
                    path,
                    f"param name {name!r} is not an identifier ([a-z][a-z0-9_]*, not a CEL reserved word)",
                )
            if (
                not spec.required
                and spec.default is not None
                and not literal_fits(spec.type, spec.default)
            ):
                self.ctx.problem(
                    (*path, "default"),
                    f"default {spec.default!r} is not of the declared type {spec.type}",
                )

    def _compile_outputs(self) -> dict[str, Expression]:
        outputs: dict[str, Expression] = {}
        every_step = {sid for sid in self.steps if not self._inside_for_each(sid)}
        for name, source in self.workflow.spec.outputs.items():
            path = ("spec", "outputs", name)
            expression = self.ctx.expression(source, Scope.OUTPUTS, path)
            if expression is None:
                continue
            outputs[name] = expression
            for step_id in sorted(referenced_steps(expression) - every_step):
                self.ctx.problem(
                    path,
                    f"output names steps.{step_id}, which is not a step outside a for_each body",
                )
        return outputs

    def _inside_for_each(self, step_id: str) -> bool:
        parent = self.steps[step_id].parent
        while parent is not None:
            if self.steps[parent].step.for_each is not None:
                return True
            parent = self.steps[parent].parent
        return False


def _field_name(field: str) -> str:
    return {
        "if_": "if",
        "with_": "with",
        "wait_until_with": "wait_until",
        "verify_with": "verify",
        "compensate_with": "compensate",
        "approval_message": "approval",
        "decide_rules": "decide",
        "decide_inputs": "decide",
    }.get(field, field)


def _is_dynamic(value: Any) -> bool:
    if isinstance(value, str):
        return templates.has_interpolation(value)
    if isinstance(value, dict):
        return any(_is_dynamic(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_dynamic(v) for v in value)
    return False
