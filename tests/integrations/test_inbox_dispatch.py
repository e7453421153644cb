"""New events reach the workers in batches: one broker message per flush, not per webhook; a
broker that refuses the message is logged, not raised (the events stay stored for the sweep)."""

from erp.services import inbox_dispatch


def test_events_stored_meanwhile_go_to_the_workers_in_one_batch_task(monkeypatch):
    sent = []
    monkeypatch.setattr(
        inbox_dispatch.current_app,
        "send_task",
        lambda name, args, **options: sent.append((name, args, options.get("queue"))),
    )
    monkeypatch.setattr(inbox_dispatch, "FLUSH_SECONDS", 60)  # flushed by hand below

    for event_id in (11, 12, 13):
        inbox_dispatch.processing_queue(event_id)
    timer = inbox_dispatch._timer
    timer.cancel()

    assert inbox_dispatch.processing_flush() == 3
    assert sent == [("erp.tasks.inbox_process_batch", [[11, 12, 13]], None)]
    assert inbox_dispatch._pending == []
    assert inbox_dispatch._timer is None


def test_a_broker_that_refuses_the_batch_is_logged_not_raised(monkeypatch):
    def refuse(*args, **options):
        raise ConnectionError("broker down")

    monkeypatch.setattr(inbox_dispatch.current_app, "send_task", refuse)
    monkeypatch.setattr(inbox_dispatch, "FLUSH_SECONDS", 60)
    inbox_dispatch.processing_queue(21)
    inbox_dispatch._timer.cancel()

    assert inbox_dispatch.processing_flush() == 0
    assert inbox_dispatch._pending == []
