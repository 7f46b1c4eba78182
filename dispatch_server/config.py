"""Settings read from the environment (prefix DASAN_), with local-development defaults."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything a deployment may change; one variable each."""

    model_config = SettingsConfigDict(env_prefix="DASAN_", extra="ignore")

    database_url: str = "postgresql+psycopg://dasan@127.0.0.1:55432/dasan"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)
    access_log: bool = False
    # "json": one JSON object a log line, with the request's id (dispatch_server/observability).
    log_format: Literal["text", "json"] = "text"
    # The city's time zone: ticket dates, business calendars and statistics are computed in it.
    timezone: str = "Asia/Seoul"
    # Phone numbers written without a country code are read as numbers of this region.
    phone_region: str = "KR"
    # Folder with the shared reference data (boundaries, gazetteer, Open311 schemas).
    shared_dir: Path = PROJECT_ROOT.parent / "shared"
    # A point this close (metres) to a district but in no district (a sliver between two
    # digitised boundaries, a point on the river bank) is routed to the nearest district.
    boundary_tolerance_m: float = 25.0
    max_body_bytes: int = 64 * 1024
    # Photos: where their files go, how large one may be, how many in one upload.
    media_dir: Path = PROJECT_ROOT / ".data" / "media"
    max_photo_bytes: int = 10 * 1024 * 1024
    max_photos_per_upload: int = 5
    # Connections per server process. No overflow: a connection opened past the pool is
    # closed again when returned, so a burst would cost a new PostgreSQL backend per
    # request; instead requests wait (up to db_pool_timeout s) for a pooled one.
    db_pool_size: int = 16
    db_max_overflow: int = 0
    db_pool_timeout: float = 10.0
    # Live streams: how often an open stream looks for new events, and how long it may stay
    # silent before it sends a keep-alive comment (proxies drop idle connections).
    stream_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # Housekeeping (every `housekeeping_seconds`, in one server process at a time): live
    # events and the answers kept for Idempotency-Keys are deleted after these many hours.
    # A device offline longer than the idempotency window could act twice on a resend.
    housekeeping_seconds: float = Field(default=600.0, gt=0)
    live_event_retention_hours: float = Field(default=24.0, gt=0)
    idempotency_retention_hours: float = Field(default=72.0, gt=0)
    # The SLA sweep: how often it looks for due steps, how many clocks one transaction takes,
    # and whether `dasan serve` runs it (each server process does; they share the work).
    sla_sweep_seconds: float = Field(default=15.0, gt=0)
    sla_sweep_batch: int = Field(default=5000, gt=0, le=100_000)
    # Loops of batches one sweep runs at once (each on its own connection): about the cores
    # the database has to spare.
    sla_sweep_lanes: int = Field(default=2, ge=1, le=16)
    sla_sweep_in_serve: bool = True
    # Where citizens and gateways reach this server: tracking links in texts, receipts.
    public_url: str = "http://127.0.0.1:8000"
    # Notifications (notifications/): the outbox's delivery worker runs in `dasan serve`
    # (every process; SKIP LOCKED shares the rows) and in `dasan worker`.
    outbox_in_serve: bool = True
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    outbox_batch: int = Field(default=200, gt=0, le=5000)
    outbox_concurrency: int = Field(default=64, ge=1, le=500)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_backoff_seconds: float = Field(default=10.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # Non-urgent citizen texts written in these local hours wait for their end ("" = none).
    quiet_hours: str = "21:00-08:00"
    templates_dir: Path = PROJECT_ROOT / "notifications" / "templates"
    # SMS: "file" (the local default: texts appended to sms_file, nothing sent), "kannel"
    # (Kannel's smsbox at sms_gateway_url), or "http" (any HTTP gateway: sms_http_options
    # holds the fields of notifications.sms.HttpGatewayConfig, as JSON).
    sms_gateway: Literal["file", "kannel", "http"] = "file"
    sms_file: Path = PROJECT_ROOT / ".data" / "sms.jsonl"
    sms_gateway_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    sms_gateway_username: str = ""
    sms_gateway_password: str = ""
    sms_sender: str = "120"
    sms_http_options: dict[str, Any] = Field(default_factory=dict)
    # A shared secret the gateway's callbacks (receipts, inbound texts) carry as `token`.
    sms_callback_token: str = ""
    # Push: a Firebase service-account JSON file (none: pushes are skipped with a reason),
    # the project (default: the file's), and another send URL than Google's (tests, relays;
    # "{project_id}" is filled in).
    fcm_credentials: Path | None = None
    fcm_project_id: str = ""
    fcm_endpoint: str = ""
    # Accounts (dispatch_server/accounts). Production mode: no demo users are seeded.
    production: bool = False
    demo_password: str = "demo-password"
    access_token_minutes: float = Field(default=60.0, gt=0, le=24 * 60)
    refresh_token_days: float = Field(default=14.0, gt=0, le=90)
    # argon2id cost (RFC 9106's second recommendation by default: 3 passes over 64 MiB).
    password_time_cost: int = Field(default=3, ge=1, le=20)
    password_memory_kib: int = Field(default=65536, ge=8, le=4 * 1024 * 1024)
    password_parallelism: int = Field(default=4, ge=1, le=16)
    # Sign-in throttling: failures allowed before waits start, per account and per address
    # (an office behind one address has many users), the longest wait, and how long a
    # quiet spell clears the count.
    signin_free_failures_account: int = Field(default=3, ge=0)
    signin_free_failures_address: int = Field(default=20, ge=0)
    signin_max_wait_seconds: float = Field(default=900.0, gt=0)
    signin_window_minutes: float = Field(default=15.0, gt=0)
    # The consoles' map: a tile URL template (e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png)
    # under the district outlines; none by default, so the maps work with no network.
    map_tile_url: str = ""
    map_tile_attribution: str = ""
    # Console sessions (an HttpOnly cookie, CSRF token on writes): how long one lasts, and
    # whether its cookies are Secure (None: when the request came over https).
    console_session_hours: float = Field(default=12.0, gt=0, le=24 * 7)
    cookie_secure: bool | None = None
    # Clients whose X-Forwarded-For / X-Forwarded-Proto uvicorn believes (the reverse proxy):
    # comma list of addresses or networks, "*" for any. Rate limits and sign-in throttling
    # count by the client address this gives.
    forwarded_allow_ips: str = "127.0.0.1"
    # Who may scrape GET /metrics: a comma list of client addresses, "*" for any; to the
    # rest it is a 404.
    metrics_allow_ips: str = "127.0.0.1,::1"
    # `dasan worker` serves its own metrics (the sweeps it ran) on this port (0: none), at
    # this address; it serves nothing else, so the address is the only gate.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # Rate limits, per minute, shared by every server process (in the database): reads
    # anyone may make (the tracking page, its JSON), per client address; and the default of
    # a new Open311 API key.
    public_reads_per_minute: int = Field(default=60, ge=1, le=100_000)
    open311_requests_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    # Open311 GeoReport v2 (/open311/v2): the jurisdiction_id clients may send (another is a
    # 404), and what discovery tells them: whom to ask, and how to get a key.
    open311_jurisdiction_id: str = Field(default="seoul.go.kr", min_length=1, max_length=100)
    open311_contact: str = "다산콜센터 120 (+82-2-120), open311@seoul.go.kr"
    open311_key_service: str = (
        "Ask the city's call centre for an api_key (dasan open311 keys create NAME)"
    )
    # Deferred creation (dispatch_server/open311/queue.py): a checked POST given as a point
    # and without a photo may be queued (stored at once, answered with a `token`) and made a
    # case a moment later. "busy": when this process is handling `open311_defer_above`
    # other posts as it arrives; "always"; "never" (every post answers with its id).
    open311_defer: Literal["busy", "always", "never"] = "busy"
    open311_defer_above: int = Field(default=1, ge=0, le=1000)
    # How often each server process looks for queued posts it was not told of (another
    # process's, or a crashed one's once its lease of `open311_queue_lease_seconds` ended).
    open311_queue_seconds: float = Field(default=2.0, gt=0, le=3600)
    open311_queue_lease_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # Queued posts a process makes cases of at once while it has no post to answer (while
    # it has, one at a time: answering comes first).
    open311_queue_concurrency: int = Field(default=4, ge=1, le=16)
    # Personal data (dispatch_server/privacy): a reporter's contact data is erased this many
    # days after the case is done, photos after `photo_retention_days`; the job runs daily
    # at `retention_run_at` (city time), `retention_batch` cases per transaction.
    contact_retention_days: float = Field(default=90.0, gt=0)
    photo_retention_days: float = Field(default=365.0, gt=0)
    retention_run_at: str = Field(default="03:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    retention_batch: int = Field(default=1000, gt=0, le=50_000)

    # A simulation's server reads the time from this file (dispatch_server.clock.FileClock:
    # `dasan simulate` writes it); unset, the real clock. Refused in production.
    clock_file: Path | None = None

    @property
    def database_name(self) -> str:
        """The name of the database the URL points at."""
        return make_url(self.database_url).database or ""


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
