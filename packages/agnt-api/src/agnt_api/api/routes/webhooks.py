"""Webhooks: the caller's signing secret, and a job's delivery attempts."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from agnt_api.api.deps import Buyer, RuntimeDep
from agnt_api.services import webhook_delivery, webhooks
from agnt_models.events import WebhookDeliveryPage, WebhookSecret

router = APIRouter(prefix="/v1", tags=["webhooks"])


@router.get("/webhooks/secret", response_model=WebhookSecret)
async def get_webhook_secret(rt: RuntimeDep, caller: Buyer) -> WebhookSecret:
    """The secret that signs your webhooks (``whsec_...``), made on first use."""
    return await rt.database.write(webhooks.get_secret, caller)


@router.post("/webhooks/secret/rotate", response_model=WebhookSecret)
async def rotate_webhook_secret(rt: RuntimeDep, caller: Buyer) -> WebhookSecret:
    """Replace your signing secret; every delivery from now on (retries too) uses the new one."""
    return await rt.database.write(webhooks.rotate_secret, caller)


@router.get("/jobs/{job_id}/webhook-deliveries", response_model=WebhookDeliveryPage)
async def list_webhook_deliveries(
    rt: RuntimeDep, caller: Buyer, job_id: uuid.UUID
) -> WebhookDeliveryPage:
    """Every attempt to deliver the job's events: status code, latency, error, next try."""
    return await rt.database.run(webhook_delivery.list_deliveries, caller, job_id)
