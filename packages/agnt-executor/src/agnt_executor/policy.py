"""Accept policies: whether an executor takes a job, and if not, a reason a buyer can read.

The API already validates ``params`` against the agent's ``input_schema``; a policy adds
the owner's own limits (prompt size, a cap on a number, an allow-list of models). The rules
and their check are ``agnt_models.AcceptRules``: the executor publishes them with the agent,
so the API refuses an order that breaks them with this same reason, before it is queued.
"""

from __future__ import annotations

from agnt_models import AcceptRules, Job, ParamRule

__all__ = ["AcceptPolicy", "ParamRule"]


class AcceptPolicy(AcceptRules):
    """When an agent takes a job: prompt limits plus extra param rules (``accept`` in a manifest)."""

    def rejection_reason(self, job: Job) -> str | None:
        """Why this agent rejects ``job``, or None when it accepts it."""
        return self.violation(job.prompt, job.params)
