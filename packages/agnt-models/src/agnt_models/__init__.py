"""agnt wire models: every request and response shape, the job lifecycle, the error shape.

No I/O lives here; the API, the client, the CLI and the executor all import these.
"""

from agnt_models.agents import (
    Agent,
    AgentPublish,
    AgentSearchPage,
    AgentStats,
    AgentSummary,
    Pricing,
    PricingModel,
    SearchSort,
    TagCount,
)
from agnt_models.common import (
    AGENT_ID_PATTERN,
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    MAX_PROMPT_BYTES,
    MAX_WAIT_SECONDS,
    AgentId,
    JsonObject,
    WireModel,
)
from agnt_models.errors import PROBLEM_CONTENT_TYPE, ErrorCode, FieldError, Problem
from agnt_models.executor import (
    MAX_CLAIM,
    MAX_WATCHED_JOBS,
    ClaimedJobs,
    ClaimRequest,
    JobWatch,
    WatchedJobs,
)
from agnt_models.files import (
    MAX_RESULT_FILE_NAME_BYTES,
    ResultFileName,
    ResultNames,
    check_result_name,
    check_result_names,
    content_disposition,
    result_name_key,
    result_name_problem,
)
from agnt_models.jobs import Job, JobCreate, JobPage, JobResult, ResultFile, StatusReport
from agnt_models.keys import ApiKeyCreated, ApiKeyInfo, Health, Role
from agnt_models.status import (
    EXECUTOR_REPORTABLE,
    LEASED,
    TERMINAL,
    TRANSITIONS,
    JobStatus,
    can_transition,
    sources_of,
)

__version__ = "0.1.0"

__all__ = [
    "AGENT_ID_PATTERN",
    "DEFAULT_PAGE_LIMIT",
    "EXECUTOR_REPORTABLE",
    "LEASED",
    "MAX_CLAIM",
    "MAX_PAGE_LIMIT",
    "MAX_PROMPT_BYTES",
    "MAX_RESULT_FILE_NAME_BYTES",
    "MAX_WAIT_SECONDS",
    "MAX_WATCHED_JOBS",
    "PROBLEM_CONTENT_TYPE",
    "TERMINAL",
    "TRANSITIONS",
    "Agent",
    "AgentId",
    "AgentPublish",
    "AgentSearchPage",
    "AgentStats",
    "AgentSummary",
    "ClaimRequest",
    "ClaimedJobs",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "ErrorCode",
    "FieldError",
    "Health",
    "Job",
    "JobCreate",
    "JobPage",
    "JobResult",
    "JobStatus",
    "JobWatch",
    "JsonObject",
    "Pricing",
    "PricingModel",
    "SearchSort",
    "Problem",
    "ResultFile",
    "ResultFileName",
    "ResultNames",
    "Role",
    "StatusReport",
    "TagCount",
    "WatchedJobs",
    "WireModel",
    "can_transition",
    "check_result_name",
    "check_result_names",
    "content_disposition",
    "result_name_key",
    "result_name_problem",
    "sources_of",
]
