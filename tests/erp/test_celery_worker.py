"""A task goes through the real Redis broker to a real worker process and back."""

import pytest

from erp.models import WorkerHeartbeat
from erp.tasks import worker_heartbeat
from tests.worker import running_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_heartbeat_task_runs_in_a_worker_and_writes_to_the_database():
    # Given a worker process consuming a private queue from Redis
    with running_worker() as queue:
        # When the heartbeat task is sent through the broker
        result = worker_heartbeat.apply_async(queue=queue).get(timeout=30)

    # Then the worker answered through the result backend, and wrote its row
    assert result["hostname"] == f"{queue}@localhost"
    heartbeat = WorkerHeartbeat.objects.get(hostname=result["hostname"])
    assert heartbeat.last_seen_at.isoformat() == result["last_seen_at"]
