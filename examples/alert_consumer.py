"""A platform-side consumer of the detector's alerts, in a few lines of aiokafka (see docs/alerts/README.md).

    python examples/alert_consumer.py localhost:9092 alerts my-platform

Records are CloudEvents in binary mode: attributes in ``ce_*`` headers, the JSON payload as the value. Delivery is
at least once, so the consumer drops any ``ce_id`` it has already handled, and commits only after handling.
"""

import asyncio
import json
import sys
from collections import OrderedDict
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

SEEN_MAX = 100_000  # ids remembered for deduplication; redeliveries come soon after the original


def handle(event_type: str, alert: dict) -> None:
    """Act on one alert; dispatch on the versioned type and ignore types (and fields) this code does not know."""
    if event_type.endswith(".flagged.v1"):
        print(f"{alert['severity']:>8} {alert['scheme']} {alert['accounts']} {alert['score']} {alert['case_url']}")
    elif event_type.endswith(".case.decided.v1"):
        print(f"{alert['decision']:>8} {alert['case_id']} by {alert['reviewer']} under {alert['policy']}")


async def consume(bootstrap: str, topic: str, group: str, on_alert: Callable[[str, dict], None] = handle) -> None:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    seen: OrderedDict[str, None] = OrderedDict()
    await consumer.start()
    try:
        async for record in consumer:
            headers = {name: value.decode() for name, value in record.headers}
            event_id, event_type = headers["ce_id"], headers["ce_type"]
            if event_id not in seen:
                on_alert(event_type, json.loads(record.value))
                seen[event_id] = None
                if len(seen) > SEEN_MAX:
                    seen.popitem(last=False)
            await consumer.commit()
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(consume(*sys.argv[1:4]))
