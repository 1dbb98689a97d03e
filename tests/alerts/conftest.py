"""The alert actor's tests: real Redis and PostgreSQL (`storage_urls`) and Ray come from tests/conftest.py. The
channels' secrets are set here, at import, before any test starts Ray, so actor processes inherit them like real
ones."""

from __future__ import annotations

import os

os.environ.setdefault("DTO_WEBHOOK_SECRET", "e2e-hook-secret")
os.environ.setdefault("DTO_SMTP_PASSWORD", "smtp-pass")
