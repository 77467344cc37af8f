"""The ASGI application of ``lethe serve``.

Trigger endpoints (``POST /jobs/{name}/runs``, ``POST /tick``) claim the due slot through the
same ledger as every other runner and run it in the background (202 with the run id), or wait
with ``?wait=true``; a duplicate, skipped or early trigger answers 200 with why, because
at-least-once callers (Cloud Scheduler) retry anything but 2xx. With ``serve.worker = false``
they answer 404. Status endpoints (``GET /jobs``, ``GET /runs/{id}``) need the same
credentials; the approval endpoints (``GET /approvals``, ``POST /approvals/{run_id}``) an
admin credential (403 for any other); ``/healthz``, ``/health``, ``/metrics`` and the OpenAPI
document are open.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lethe import __version__
from lethe.api import Lethe
from lethe.errors import ConfigError, LetheError
from lethe.http.auth import Authenticator, AuthError, Principal
from lethe.http.errors import http_status_for
from lethe.http.jwks import JWKSUnavailable
from lethe.http.metrics import Metrics
from lethe.http.models import ApprovalRequest, Health, Problem, TriggerReply
from lethe.jobs.claims import Claim, ClaimStatus
from lethe.jobs.runner import JobService
from lethe.jobs.status import job_statuses
from lethe.state.runs import RunLog

__all__ = ["create_app"]

log = logging.getLogger("lethe.http")

_bearer = HTTPBearer(auto_error=False, description="A static token or an OIDC ID token.")
_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or invalid credentials"},
    403: {"model": Problem, "description": "Valid credentials of a caller not allowed"},
    404: {"model": Problem, "description": "No such job (or not a worker instance)"},
    503: {"model": Problem, "description": "The state database or the OIDC keys are unreachable"},
}
_MALFORMED: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "A JSON body that does not parse (any body is ignored)"},
}


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller, or 401/403 (503 when the OIDC keys cannot be fetched)."""
    auth: Authenticator = request.app.state.auth
    header = f"Bearer {credentials.credentials}" if credentials else None
    try:
        return auth.authenticate(header)
    except AuthError as exc:
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        headers = challenge if exc.status == 401 else None
        raise HTTPException(exc.status, exc.message, headers) from None
    except JWKSUnavailable as exc:
        log.error("%s", exc)
        raise HTTPException(503, "the OIDC signing keys cannot be fetched; retry") from None


def _worker(request: Request) -> None:
    """Trigger endpoints exist only on worker instances."""
    if not request.app.state.worker:
        raise HTTPException(404, "Not Found")


Caller = Annotated[Principal, Depends(_caller)]


def _admin(who: Caller) -> Principal:
    """An admin caller, or 403 saying which credential it takes."""
    if not who.admin:
        raise HTTPException(
            403,
            f"{who.name} is not an admin: approvals take one of [serve] admin_tokens or an "
            "OIDC identity in [serve.oidc] admin_emails",
        )
    return who


Admin = Annotated[Principal, Depends(_admin)]


async def _json_body(request: Request, _who: Caller) -> None:
    """A trigger's body is ignored (Cloud Scheduler may send one), but a body that says it is
    JSON and is not gets 422: a caller sending garbage should hear so, not see its job run."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not (media == "application/json" or media.endswith("+json")):
        return
    body = await request.body()
    if not body.strip():
        return
    try:
        json.loads(body)
    except ValueError as exc:
        raise HTTPException(422, f"the request body is not valid JSON: {exc}") from None


def _service(request: Request) -> JobService:
    service: JobService = request.app.state.service
    return service


Service = Annotated[JobService, Depends(_service)]
router = APIRouter()


def _background(service: JobService, claim: Claim) -> None:
    try:
        service.execute(claim)
        service.follow(claim.job, trigger="http")
    except Exception:
        log.exception("job %s: background run failed", claim.job)


def _answer(request: Request, claim: Claim, response: Response, wait: bool) -> TriggerReply:
    """Run a started claim (in the background, or now with ``wait``) and say what happened."""
    service: JobService = request.app.state.service
    if claim.status is ClaimStatus.STARTED and wait:
        runs = [service.execute(claim), *service.follow(claim.job, trigger="http")]
        response.status_code = 200
        return TriggerReply.of(claim, runs)
    if claim.status is ClaimStatus.STARTED:
        request.app.state.pool.submit(_background, service, claim)
    response.status_code = 202 if claim.accepted else 200
    return TriggerReply.of(claim)


@router.post(
    "/jobs/{name}/runs",
    response_model=TriggerReply,
    status_code=202,
    responses={200: {"model": TriggerReply}, **_REFUSALS, **_MALFORMED},
    dependencies=[Depends(_worker), Depends(_json_body)],
)
def trigger_job(
    name: str,
    who: Caller,
    service: Service,
    request: Request,
    response: Response,
    manual: bool = False,
    wait: bool = False,
) -> TriggerReply:
    """Run the job's due slot (``manual=true``: run it now); exactly once per slot."""
    claim = service.claim(name, trigger="http", manual=manual)
    log.info("trigger %s by %s: %s", name, who.name, claim.status.value)
    return _answer(request, claim, response, wait)


@router.post(
    "/tick",
    response_model=list[TriggerReply],
    responses={202: {"model": list[TriggerReply]}, **_REFUSALS, **_MALFORMED},
    dependencies=[Depends(_worker), Depends(_json_body)],
)
def tick(
    who: Caller, service: Service, request: Request, response: Response, wait: bool = False
) -> list[TriggerReply]:
    """Run whatever slot is due now, for every job."""
    replies = [
        _answer(request, service.claim(job.name, trigger="http"), Response(), wait)
        for job in service.config.jobs
    ]
    coming = any(r.status in ("started", "queued") for r in replies)
    response.status_code = 202 if coming and not wait else 200
    log.info("tick by %s", who.name)
    return replies


@router.get("/jobs", responses=_REFUSALS)
def list_jobs(_who: Caller, service: Service) -> list[dict[str, Any]]:
    """Each job: next slots, last run, last success, slot counts, health."""
    now = service.clock.now()
    return [s.to_document() for s in job_statuses(service.config.jobs, service.ledger, now)]


@router.get("/runs/{run_id}", responses=_REFUSALS)
def show_run(run_id: str, _who: Caller, service: Service) -> dict[str, Any]:
    """A run's record, and the job slot it ran for."""
    record = RunLog(service.state, None).show(run_id)
    slot = service.ledger.by_run(str(record.get("runId", run_id)))
    return {**record, "slot": slot.to_document() if slot else None}


_APPROVAL_REFUSALS: dict[int | str, dict[str, Any]] = {
    **_REFUSALS,
    403: {"model": Problem, "description": "Valid credentials, but not an admin's"},
    404: {"model": Problem, "description": "No approval for this run"},
    409: {
        "model": Problem,
        "description": "Not pending (approved, used, expired), or the plan's items changed",
    },
}


@router.get("/approvals", responses=_APPROVAL_REFUSALS)
def list_approvals(_who: Admin, service: Service) -> list[dict[str, Any]]:
    """The plans of real runs the circuit breaker refused, newest first (as ``lethe
    approvals --json``)."""
    with Lethe(service.settings, clock=service.clock) as lethe:
        now, window = lethe.runtime.state.now(), lethe.approval_window
        return [a.to_document(now, window) for a in lethe.approvals()]


@router.post("/approvals/{run_id}", responses={**_APPROVAL_REFUSALS, 400: {"model": Problem}})
def approve(run_id: str, body: ApprovalRequest, who: Admin, service: Service) -> dict[str, Any]:
    """Approve a refused run's recorded plan (as ``lethe approve``): ``by`` defaults to the
    caller's identity; the audit records both, with ``via: http``. Carry it out with
    ``lethe run --approved RUN_ID``."""
    with Lethe(service.settings, clock=service.clock) as lethe:
        approval = lethe.approve(
            run_id, body.by or who.name, body.reason, via="http", identity=who.identity
        )
        log.info("approval of %s by %s (%s)", run_id, approval.approved_by, who.identity)
        return approval.to_document(lethe.runtime.state.now(), lethe.approval_window)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(service: Service, request: Request, response: Response) -> Health:
    """Every job succeeded inside its ``alert_after`` window (503 with reasons if not), and
    how many items are overdue (``lethe attest``, recounted at most every minute)."""
    statuses = job_statuses(service.config.jobs, service.ledger, service.clock.now())
    problems = [p for s in statuses for p in s.problems]
    response.status_code = 503 if problems else 200
    jobs = [{"name": s.job.name, "healthy": s.healthy, "paused": s.paused} for s in statuses]
    overdue = request.app.state.metrics.overdue.total()
    return Health(
        status="unhealthy" if problems else "ok",
        problems=problems,
        jobs=jobs,
        overdue_items=overdue,
    )


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(request: Request) -> PlainTextResponse:
    """Prometheus metrics (text exposition format)."""
    metrics: Metrics = request.app.state.metrics
    return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")


async def _lethe_error(_request: Request, exc: Exception) -> JSONResponse:
    status = http_status_for(exc) if isinstance(exc, LetheError) else 500
    return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app(service: JobService) -> FastAPI:
    """The service for ``service``'s policy file; refuses to build without authentication."""
    serve = service.config.serve
    auth = Authenticator(serve)
    if not auth.configured:
        raise ConfigError(
            "no authentication configured: set bearer_tokens or [serve.oidc] "
            "(or allow_unauthenticated = true behind a proxy that checks callers)",
            f"{service.settings.source}: serve",
        )
    metrics = Metrics(service)
    service.observers.append(metrics.observe)
    pool = ThreadPoolExecutor(service.config.scheduler.workers, thread_name_prefix="lethe-run")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # SIGTERM: uvicorn stops accepting, then the runs in flight finish their batch.
        service.stop_all("the service is shutting down")
        await anyio.to_thread.run_sync(pool.shutdown)
        service.close()

    app = FastAPI(title="lethe", version=__version__, lifespan=lifespan)
    app.state.service, app.state.auth, app.state.worker = service, auth, serve.worker
    app.state.metrics, app.state.pool = metrics, pool
    app.add_exception_handler(LetheError, _lethe_error)
    app.include_router(router)
    return app
