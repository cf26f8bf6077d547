"""The shared vocabulary every source is mapped to (Billingo v3's enums, which BillX's
values translate into); the source's own value is kept beside it in a ``*_raw`` column."""

PAYMENT_STATUSES = ("expired", "none", "outstanding", "paid", "partially_paid")
