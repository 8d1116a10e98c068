"""moto's server, as `moto_server` starts it, less one cost that SQS does not have.

moto 5.2.5's SendMessage reads one flag of its queue (ContentBasedDeduplication) through
`Queue.attributes`, which builds every attribute, counting the queue's messages three times
(visible, in flight, delayed). Each message sent thus walks the whole queue: with the hundreds
of delayed retries a failing receiver leaves on the slow lane, the local stack spent most of
its one core on these counts (py-spy on the fairness bench, 2026-12-06), and every request
queued behind them. Here the counts are skipped while the sending thread builds that flag's
dictionary; every other caller (GetQueueAttributes included) still gets exact counts.

The patch is applied only to the moto version it was written for; any other version runs as
moto ships it, with a note on stderr.
"""

import sys
import threading

PATCHED_FOR = "5.2.5"


def patch_send_message() -> bool:
    import moto
    from moto.sqs import models

    if getattr(moto, "__version__", None) != PATCHED_FOR:
        return False
    queue, backend = models.Queue, models.SQSBackend
    counts = (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    )
    if not all(isinstance(getattr(queue, name, None), property) for name in counts):
        return False
    sending = threading.local()

    def skipped_while_sending(original):
        def count(self):
            if getattr(sending, "active", False):
                return 0
            return original(self)

        return property(count)

    for name in counts:
        setattr(queue, name, skipped_while_sending(getattr(queue, name).fget))

    original_send = backend.send_message

    def send_message(self, *args, **kwargs):
        before = getattr(sending, "active", False)
        sending.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            sending.active = before

    backend.send_message = send_message
    return True


if __name__ == "__main__":
    if not patch_send_message():
        print(
            f"moto_server.py: this moto is not the {PATCHED_FOR} the patch was written for;"
            " running it unpatched",
            file=sys.stderr,
        )
    from moto.server import main

    sys.exit(main())
